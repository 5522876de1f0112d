//! Per-member-cluster discovery and gateway election: the member-side half of
//! clusterlink, in the place of Kosmos's `clusterlink-controller-manager` and
//! `clusterlink-elector`.
//!
//! The network manager in the host cluster can only compute NodeConfigs from
//! what the host knows, and the host knows nothing of a member's nodes, CNI or
//! Service range until someone who can see the member writes it there. This
//! module is that someone. It runs in each member cluster, reads the member's
//! API server, and writes to the host's:
//!
//! - [`nodes`]: one ClusterNode per real Node, with its pod CIDRs and readiness;
//! - [`cidrs`] and [`status`]: the cluster's pod and Service CIDRs in
//!   `Cluster.status.clusterLinkStatus`;
//! - [`ippools`]: on Calico, disabled IPPools for every remote CIDR, so that
//!   Calico does not masquerade pod traffic to other clusters;
//! - [`elector`]: one gateway node per cluster, chosen by the holder of a Lease.
//!
//! Every concern is a pure function from what was read to what should be,
//! tested with plain unit tests, wrapped in a thin reader and writer; [`mod@run`]
//! strings them into level-triggered loops.

pub mod cidrs;
pub mod elector;
mod error;
pub mod ippools;
mod lease;
pub mod nodes;
pub mod run;
pub mod status;

pub use error::DiscoveryError;
pub use run::{DiscoveryConfig, run};

/// Field manager of everything discovery writes (ClusterNode names, pod CIDRs
/// and readiness, Cluster status, Calico IPPools). It is not the agent's, so
/// server-side apply never takes the agent's fields (IP, interface, elastic IP)
/// away from it.
pub const DISCOVERY_FIELD_MANAGER: &str = "drmysql-discovery";

/// Field manager of the gateway role the elector sets and removes.
pub const ELECTOR_FIELD_MANAGER: &str = "drmysql-elector";
