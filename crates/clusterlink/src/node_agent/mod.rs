//! The `drmysql agent` process around [`crate::agent`]: it finds the node's
//! underlay, reports it on the ClusterNode, and keeps the node's NodeConfig
//! applied.

pub mod detect;
pub mod kernel;
pub mod metrics;
pub mod psk;
pub mod run;
pub mod status;
pub mod sync;
