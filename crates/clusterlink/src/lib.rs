//! drmysql's clusterlink: joins the pod networks of several Kubernetes clusters
//! so that a replica's pod reaches its primary's pod IP directly.
//!
//! - [`manager`] is the network manager's pure core: every Cluster and
//!   ClusterNode in, the desired NodeConfig of every node out, following
//!   Kosmos's handler order and semantics.
//! - [`ipsec`] derives the per-pair ESP keys and SPIs, so that no key material
//!   ever sits in a NodeConfig.
//! - [`network_manager`] is the host-cluster process around it: it watches,
//!   debounces, recomputes and writes only the NodeConfigs that changed.
//! - [`agent`] applies one node's NodeConfig to the kernel, level-triggered,
//!   touching only what it owns.

pub mod agent;
pub mod discovery;
pub mod ipsec;
pub mod manager;
pub mod network_manager;
pub mod node_agent;
pub mod permissions;
pub mod trigger;

#[cfg(test)]
mod test_api;
