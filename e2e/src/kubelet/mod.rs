//! The pod runtime of the sandbox's simulated kubelet: a Pod bound to a
//! simulated node runs as real processes in a network namespace of its own,
//! with an address from the node's pod CIDR, so that the controller, the
//! clusterlink tunnel and the scenarios meet real servers.
//!
//! - The `mysqld` container becomes a real `mariadbd` (also for `mysql`
//!   images: MySQL 8 cannot be installed here) with the my.cnf from the Pod's
//!   ConfigMap volume, its data directory in the claim's directory, and root
//!   credentials from the Secret ([`mysqld`]).
//! - The `sidecar` container becomes a real `drmysql sidecar` with the Pod's
//!   env and args, reading its labels from the materialised downwardAPI
//!   volume ([`launch`], [`volumes`]).
//! - Readiness, startup and liveness come from the probes the Pod defines,
//!   run from the node's namespace ([`probe`]); statuses, readiness and
//!   `status.podIP` are reported as the kubelet reports them ([`status`]).
//! - A crashed or `kill -9`ed container is restarted with the kubelet's
//!   back-off ([`restart`]); stopping the Pod ends all of its processes.
//!
//! The deciding parts ([`env`](mod@env), [`fieldpath`], [`volumes`], [`launch`],
//! [`probe`], [`restart`], [`status`], [`netns`]'s addressing) are pure and
//! unit-tested; [`runtime`], [`process`], [`netns`]'s namespace setup and
//! [`mysqld`]'s initialisation are the thin layer over the machine, tested
//! for real (root, `ip`, `mariadbd` and `mariadb-install-db` required). This
//! module talks to no API server: whoever plays the kubelet hands it the Pod
//! and the objects it refers to and writes its status back.

pub mod binary;
pub mod command;
pub mod env;
pub mod error;
pub mod events;
pub mod fieldpath;
pub mod launch;
pub mod mysqld;
pub mod netns;
pub mod objects;
pub mod probe;
pub mod process;
pub mod restart;
pub mod runtime;
pub mod status;
pub mod volumes;

pub use binary::{drmysql_binary, drmysql_binary_rebuilt};
pub use error::KubeletError;
pub use events::{EventType, KubeletEvent};
pub use netns::{Ipv4Cidr, PodNetwork};
pub use objects::PodObjects;
pub use restart::RestartBackoff;
pub use runtime::{PodPlacement, PodRuntime, RuntimeConfig};

#[cfg(test)]
mod tests;
