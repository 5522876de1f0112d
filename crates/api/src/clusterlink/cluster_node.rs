//! `ClusterNode`: one real node of a joined cluster, as the network manager sees it.
//!
//! Kosmos names it `<cluster>-<node>` and labels it `kosmos.io/cluster`; its
//! controller fills the names, the agent fills the interface and addresses, and
//! the elector marks one gateway per gateway-mode cluster.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The role that makes a node its cluster's gateway.
pub const ROLE_GATEWAY: &str = "gateway";

/// A real node of a joined cluster.
#[allow(
    clippy::duplicated_attributes,
    reason = "every printcolumn(...) repeats type_ = ..., which the lint mistakes for a duplicate"
)]
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "kosmos.io",
    version = "v1alpha1",
    kind = "ClusterNode",
    plural = "clusternodes",
    singular = "clusternode",
    status = "ClusterNodeStatus",
    derive = "PartialEq",
    doc = "ClusterNode is one real node of a cluster joined by clusterlink (Kosmos-compatible).",
    printcolumn(name = "ROLES", type_ = "string", json_path = ".spec.roles"),
    printcolumn(name = "INTERFACE", type_ = "string", json_path = ".spec.interfaceName"),
    printcolumn(name = "IP", type_ = "string", json_path = ".spec.ip")
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNodeSpec {
    /// Name of the node's Cluster.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_name: String,
    /// Name of the node in its cluster.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// Pod CIDRs of this node (used in p2p mode).
    #[serde(default, rename = "podCIDRs", skip_serializing_if = "Vec::is_empty")]
    pub pod_cidrs: Vec<String>,
    /// Underlay (internal) IPv4 address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Elastic (public) IPv4 address, when the node has one.
    #[serde(default, rename = "elasticip", skip_serializing_if = "String::is_empty")]
    pub elastic_ip: String,
    /// Underlay IPv6 address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip6: String,
    /// Roles; `gateway` (compared case-insensitively) marks the cluster's gateway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Underlay interface the VXLAN devices bind to.
    #[serde(default)]
    pub interface_name: String,
}

/// Observed state of a node.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNodeStatus {
    /// `Ready` or `NotReady`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_status: String,
}

impl ClusterNode {
    /// Whether the node is its cluster's gateway.
    pub fn is_gateway(&self) -> bool {
        self.spec
            .roles
            .iter()
            .any(|role| role.eq_ignore_ascii_case(ROLE_GATEWAY))
    }

    /// Kosmos's name for the ClusterNode of `node` in `cluster`.
    pub fn name_for(cluster: &str, node: &str) -> String {
        format!("{cluster}-{node}")
    }
}
