//! `Cluster`: one member (or the host) cluster joined by clusterlink.
//!
//! Field names, defaults and meanings follow Kosmos's `cluster_types.go`,
//! including the elastic-IP fields of its IPsec pull request. Kosmos's member
//! controller writes `status` with a plain update, so the status subresource is
//! deliberately not enabled on this kind (see `crate::crds`).

use k8s_openapi::{ByteString, api::core::v1::Taint, apimachinery::pkg::apis::meta::v1::LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A cluster whose pod network clusterlink joins to the others.
#[allow(
    clippy::duplicated_attributes,
    reason = "every printcolumn(...) repeats type_ = ..., which the lint mistakes for a duplicate"
)]
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "kosmos.io",
    version = "v1alpha1",
    kind = "Cluster",
    plural = "clusters",
    singular = "cluster",
    status = "ClusterStatus",
    derive = "PartialEq",
    doc = "Cluster is a Kubernetes cluster whose pod network clusterlink joins to the other clusters' (Kosmos-compatible).",
    printcolumn(
        name = "NETWORK_TYPE",
        type_ = "string",
        json_path = ".spec.clusterLinkOptions.networkType"
    ),
    printcolumn(
        name = "IP_FAMILY",
        type_ = "string",
        json_path = ".spec.clusterLinkOptions.ipFamily"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Kubeconfig of the cluster (base64 in JSON), used to install into it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "base64_bytes_schema")]
    pub kubeconfig: Option<ByteString>,

    /// Namespace clusterlink's components run in inside the cluster.
    #[serde(default = "default_namespace")]
    pub namespace: String,

    /// Registry the cluster pulls clusterlink images from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_repository: String,

    /// Network options; clusterlink ignores a cluster without them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_link_options: Option<ClusterLinkOptions>,

    /// Virtual-node options of Kosmos clustertree, kept for compatibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_tree_options: Option<ClusterTreeOptions>,
}

/// `[]byte` in Go: a base64 string in JSON.
fn base64_bytes_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "format": "byte" })
}

fn default_namespace() -> String {
    "kosmos-system".to_owned()
}

/// How the cluster's pod network is joined.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterLinkOptions {
    /// Whether clusterlink joins this cluster at all.
    #[serde(default = "default_true")]
    pub enable: bool,

    /// The cluster's CNI: `calico`, `flannel`, `cilium`; anything else is treated as
    /// calico.
    #[serde(default = "default_cni")]
    pub cni: String,

    /// `p2p`: every node gets `vx-bridge` and talks to remote nodes directly.
    /// `gateway`: one gateway node per cluster carries `vx-bridge`, and the other
    /// nodes reach it over `vx-local`.
    #[serde(default)]
    pub network_type: NetworkType,

    /// Address families to join: `all`, `ipv4` or `ipv6`.
    #[serde(default, rename = "ipFamily")]
    pub ip_family: IpFamily,

    /// Unused by Kosmos and by drmysql; kept for compatibility.
    #[serde(default, rename = "useIPPool", skip_serializing_if = "std::ops::Not::not")]
    pub use_ip_pool: bool,

    /// Address ranges of the `vx-local` devices (gateway mode).
    #[serde(default = "default_local_cidrs", rename = "localCIDRs")]
    pub local_cidrs: VxlanCidrs,

    /// Address ranges of the `vx-bridge` devices.
    #[serde(default = "default_bridge_cidrs", rename = "bridgeCIDRs")]
    pub bridge_cidrs: VxlanCidrs,

    /// Per-node network interface overrides.
    #[serde(default, rename = "nicNodeNames", skip_serializing_if = "Vec::is_empty")]
    pub nic_node_names: Vec<NicNodeNames>,

    /// Underlay interface of every other node; `*` means auto-detect.
    #[serde(default = "default_nic_name", rename = "defaultNICName")]
    pub default_nic_name: String,

    /// Remapping of a real CIDR (key) to the global CIDR other clusters see (value),
    /// for clusters whose pod CIDRs overlap (NETMAP).
    #[serde(
        default,
        rename = "globalCIDRsMap",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub global_cidrs_map: BTreeMap<String, String>,

    /// How the agent finds the underlay interface, e.g. `can-reach=10.0.0.1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub autodetection_method: String,

    /// Elastic (public) IP of each node, by node name, for clusters that reach each
    /// other only over the internet. A pair of nodes that both have one is joined by
    /// IPsec (ESP tunnel mode) between the elastic IPs instead of plain VXLAN.
    #[serde(
        default,
        rename = "nodeElasticIPMap",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub node_elastic_ip_map: BTreeMap<String, String>,

    /// Pod CIDRs of the cluster, given by hand for CNIs clusterlink cannot read them
    /// from.
    #[serde(default, rename = "clusterpodCIDRs", skip_serializing_if = "Vec::is_empty")]
    pub cluster_pod_cidrs: Vec<String>,

    /// Whether the agent reaches the host API server through an external address.
    #[serde(
        default,
        rename = "useexternalapiserver",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub use_external_apiserver: bool,

    /// The Secret in the host cluster holding the IPsec pre-shared key from which
    /// every agent of this cluster derives its per-pair ESP keys (drmysql's
    /// addition; the agent's `--ipsec-psk-secret` flag takes precedence).
    #[serde(
        default,
        rename = "ipsecPSKSecretRef",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipsec_psk_secret_ref: Option<PskSecretRef>,
}

/// A key of a Secret in the host cluster.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct PskSecretRef {
    /// Namespace of the Secret.
    pub namespace: String,
    /// Name of the Secret.
    pub name: String,
    /// Data key holding the PSK.
    #[serde(default = "default_psk_key")]
    pub key: String,
}

fn default_psk_key() -> String {
    "psk".to_owned()
}

impl Default for ClusterLinkOptions {
    fn default() -> Self {
        Self {
            enable: true,
            cni: default_cni(),
            network_type: NetworkType::default(),
            ip_family: IpFamily::default(),
            use_ip_pool: false,
            local_cidrs: default_local_cidrs(),
            bridge_cidrs: default_bridge_cidrs(),
            nic_node_names: Vec::new(),
            default_nic_name: default_nic_name(),
            global_cidrs_map: BTreeMap::new(),
            autodetection_method: String::new(),
            node_elastic_ip_map: BTreeMap::new(),
            cluster_pod_cidrs: Vec::new(),
            use_external_apiserver: false,
            ipsec_psk_secret_ref: None,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_cni() -> String {
    "calico".to_owned()
}

fn default_nic_name() -> String {
    "*".to_owned()
}

// Kosmos's CRD defaults (its in-code constants swap the two IPv6 ranges; any
// pair works as long as every cluster agrees, and the CRD default is what an
// omitted field becomes).
fn default_local_cidrs() -> VxlanCidrs {
    VxlanCidrs {
        ip: "210.0.0.0/8".to_owned(),
        ip6: "9480::/16".to_owned(),
    }
}

fn default_bridge_cidrs() -> VxlanCidrs {
    VxlanCidrs {
        ip: "220.0.0.0/8".to_owned(),
        ip6: "9470::/16".to_owned(),
    }
}

/// How a cluster's nodes reach other clusters.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NetworkType {
    /// Every node has `vx-bridge`.
    #[default]
    P2p,
    /// One gateway node per cluster has `vx-bridge`; the others use `vx-local`.
    Gateway,
}

/// Address families clusterlink joins.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    /// IPv4 and IPv6.
    #[default]
    All,
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
}

impl IpFamily {
    /// Whether IPv4 is joined.
    pub fn has_ipv4(self) -> bool {
        matches!(self, Self::All | Self::Ipv4)
    }

    /// Whether IPv6 is joined.
    pub fn has_ipv6(self) -> bool {
        matches!(self, Self::All | Self::Ipv6)
    }
}

/// An IPv4 and an IPv6 range.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct VxlanCidrs {
    /// IPv4 CIDR.
    pub ip: String,
    /// IPv6 CIDR.
    pub ip6: String,
}

/// Nodes whose underlay interface is not the default one.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NicNodeNames {
    /// Interface to use on these nodes.
    pub interface_name: String,
    /// Node names.
    pub node_name: Vec<String>,
}

/// Kosmos clustertree options (virtual nodes); drmysql reads none of them.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterTreeOptions {
    /// Whether clustertree exposes this cluster as virtual nodes.
    #[serde(default = "default_true")]
    pub enable: bool,
    /// How member nodes map to virtual nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaf_models: Vec<LeafModel>,
}

/// One virtual ("leaf") node of a member cluster.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LeafModel {
    /// Name of the virtual node.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub leaf_node_name: String,
    /// Labels of the virtual node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Taints of the virtual node; Kosmos's NoSchedule taint when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    /// Member nodes the virtual node stands for.
    #[serde(default)]
    pub node_selector: LeafNodeSelector,
}

/// Member nodes behind a virtual node.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LeafNodeSelector {
    /// One member node by name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// Member nodes by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
}

/// Observed network facts of a cluster.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// Pod and Service CIDRs, as read from the cluster's CNI and API server.
    #[serde(default)]
    pub cluster_link_status: ClusterLinkStatus,
    /// Virtual nodes clustertree created.
    #[serde(default)]
    pub cluster_tree_status: ClusterTreeStatus,
}

/// Pod and Service CIDRs of a cluster.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterLinkStatus {
    /// Pod CIDRs.
    #[serde(default, rename = "podCIDRs", skip_serializing_if = "Vec::is_empty")]
    pub pod_cidrs: Vec<String>,
    /// Service CIDRs.
    #[serde(default, rename = "serviceCIDRs", skip_serializing_if = "Vec::is_empty")]
    pub service_cidrs: Vec<String>,
}

/// Virtual nodes of a cluster.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterTreeStatus {
    /// The virtual nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaf_node_items: Vec<LeafNodeItem>,
}

/// One virtual node.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LeafNodeItem {
    /// Its name.
    pub leaf_node_name: String,
}

impl Cluster {
    /// The link options when the cluster takes part in clusterlink.
    pub fn enabled_link_options(&self) -> Option<&ClusterLinkOptions> {
        self.spec
            .cluster_link_options
            .as_ref()
            .filter(|options| options.enable)
    }
}
