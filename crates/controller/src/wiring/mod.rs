//! Replication wiring: the designated primary writable and alone, every
//! replica replicating from it, semi-sync per mode. [`plan`] decides (pure);
//! [`execute`] says it to the servers through `drmysql-mysql`.

pub mod execute;
pub mod plan;

pub use plan::{Action, Endpoint, Finding, Observed, Plan, plan};
