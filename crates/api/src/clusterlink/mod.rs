//! The clusterlink API (`kosmos.io/v1alpha1`): Cluster, ClusterNode and NodeConfig.
//!
//! These kinds are wire-compatible with Kosmos: the JSON field names, defaults
//! and meanings are Kosmos's, so a Cluster written for Kosmos, or a NodeConfig
//! written by Kosmos's network manager, deserializes here and means the same.
//! Kosmos's unmerged IPsec work (elastic IPs, xfrm policies and states, the
//! anti-masquerade ipset) is added the same additive way, with one deliberate
//! difference: no key material ever sits in a NodeConfig. All three kinds are
//! cluster-scoped and live in the host cluster.

mod cluster;
mod cluster_node;
mod node_config;

pub use cluster::{
    Cluster, ClusterLinkOptions, ClusterLinkStatus, ClusterSpec, ClusterStatus, ClusterTreeOptions,
    ClusterTreeStatus, IpFamily, LeafModel, LeafNodeItem, LeafNodeSelector, NetworkType, NicNodeNames,
    PskSecretRef, VxlanCidrs,
};
pub use cluster_node::{ClusterNode, ClusterNodeSpec, ClusterNodeStatus, ROLE_GATEWAY};
pub use node_config::{
    Arp, Device, EntryError, EntryKind, Fdb, IpsetAvoidMasq, Iptables, NodeConfig, NodeConfigSpec,
    NodeConfigStatus, Route, XfrmDirection, XfrmPolicy, XfrmState,
};
