//! `NodeConfig`: the complete desired network state of one node.
//!
//! The network manager computes it from every Cluster and ClusterNode; the agent
//! on that node applies it to the kernel and reports back in `status`. Its name
//! is the ClusterNode's. The item types and their JSON names are Kosmos's; the
//! xfrm items follow Kosmos's IPsec pull request except that a state carries no
//! key: the agent derives each pair's key from a Secret and the two node names.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Desired network state of one node.
#[allow(
    clippy::duplicated_attributes,
    reason = "every printcolumn(...) repeats type_ = ..., which the lint mistakes for a duplicate"
)]
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "kosmos.io",
    version = "v1alpha1",
    kind = "NodeConfig",
    plural = "nodeconfigs",
    singular = "nodeconfig",
    status = "NodeConfigStatus",
    derive = "PartialEq",
    doc = "NodeConfig is the desired clusterlink network state of one node: VXLAN devices, routes, FDB and ARP entries, iptables rules and IPsec policies (Kosmos-compatible).",
    printcolumn(name = "APPLIED", type_ = "integer", json_path = ".status.applied"),
    printcolumn(name = "FAILED", type_ = "integer", json_path = ".status.failed"),
    printcolumn(name = "SYNCED", type_ = "date", json_path = ".status.lastSyncTime")
)]
pub struct NodeConfigSpec {
    /// VXLAN devices (`vx-bridge`, `vx-local` and their IPv6 twins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    /// Routes, installed in table 200 with the onlink flag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// iptables rules, installed in the agent's own chains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iptables: Vec<Iptables>,
    /// Bridge forwarding entries of the VXLAN devices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fdbs: Vec<Fdb>,
    /// Permanent neighbour entries of the VXLAN devices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arps: Vec<Arp>,
    /// IPsec policies selecting the pod traffic that goes through ESP.
    #[serde(default, rename = "xfrmpolicies", skip_serializing_if = "Vec::is_empty")]
    pub xfrm_policies: Vec<XfrmPolicy>,
    /// IPsec security associations, without keys.
    #[serde(default, rename = "xfrmstates", skip_serializing_if = "Vec::is_empty")]
    pub xfrm_states: Vec<XfrmState>,
    /// Remote CIDRs whose traffic must leave without masquerade.
    #[serde(default, rename = "ipsetsavoidmasq", skip_serializing_if = "Vec::is_empty")]
    pub ipsets_avoid_masq: Vec<IpsetAvoidMasq>,
}

/// A VXLAN device.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Device type; always `vxlan`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Device name, e.g. `vx-bridge`.
    pub name: String,
    /// Address with prefix length, e.g. `220.168.1.10/8`.
    pub addr: String,
    /// MAC address, stable across recomputations.
    pub mac: String,
    /// Underlay interface the device binds to.
    pub bind_dev: String,
    /// VXLAN network identifier.
    pub id: i32,
    /// UDP destination port.
    pub port: i32,
}

/// A route in table 200: `ip route add <cidr> via <gw> dev <dev> onlink table 200`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// Destination CIDR.
    pub cidr: String,
    /// Next hop (a remote VXLAN device address).
    pub gw: String,
    /// Outgoing device.
    pub dev: String,
}

/// An iptables rule in the agent's chain for `chain`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Iptables {
    /// Table, e.g. `nat`.
    pub table: String,
    /// Logical chain, `PREROUTING`, `POSTROUTING` or `OUTPUT` (drmysql's addition,
    /// for host-network traffic); the rule goes into the agent's own chain hooked
    /// there.
    pub chain: String,
    /// Rule arguments, space-separated, e.g. `-s 210.0.0.0/8 -j MASQUERADE`.
    pub rule: String,
}

/// A bridge forwarding entry: `bridge fdb append <mac> dev <dev> dst <ip>`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fdb {
    /// Remote underlay IP.
    pub ip: String,
    /// Remote device MAC (all zeroes for the flood entry).
    pub mac: String,
    /// Local VXLAN device.
    pub dev: String,
}

/// A permanent neighbour entry: `ip neigh replace <ip> lladdr <mac> dev <dev>`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arp {
    /// Remote VXLAN device address.
    pub ip: String,
    /// Remote VXLAN device MAC.
    pub mac: String,
    /// Local VXLAN device.
    pub dev: String,
}

/// An IPsec policy:
/// `ip xfrm policy add src <leftnet> dst <rightnet> dir <dir> tmpl src <leftip> dst <rightip> proto esp reqid <reqid> mode tunnel`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct XfrmPolicy {
    /// Tunnel source address.
    #[serde(rename = "leftip")]
    pub left_ip: String,
    /// Selector source CIDR.
    #[serde(rename = "leftnet")]
    pub left_net: String,
    /// Tunnel destination address.
    #[serde(rename = "rightip")]
    pub right_ip: String,
    /// Selector destination CIDR.
    #[serde(rename = "rightnet")]
    pub right_net: String,
    /// Request id tying the policy to its states; drmysql uses only its own.
    #[serde(rename = "reqid")]
    pub req_id: i32,
    /// Kernel direction number: 0 in, 1 out, 2 fwd.
    pub dir: i32,
}

impl XfrmPolicy {
    /// The policy's direction, when `dir` is a valid kernel direction.
    pub fn direction(&self) -> Option<XfrmDirection> {
        XfrmDirection::from_kernel(self.dir)
    }
}

/// Direction of an IPsec policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum XfrmDirection {
    /// Inbound, to this host (`XFRM_POLICY_IN`, 0).
    In,
    /// Outbound (`XFRM_POLICY_OUT`, 1).
    Out,
    /// Inbound, forwarded to a pod (`XFRM_POLICY_FWD`, 2).
    Fwd,
}

impl XfrmDirection {
    /// The direction for a kernel direction number.
    pub fn from_kernel(dir: i32) -> Option<Self> {
        match dir {
            0 => Some(Self::In),
            1 => Some(Self::Out),
            2 => Some(Self::Fwd),
            _ => None,
        }
    }

    /// The kernel direction number.
    pub fn kernel(self) -> i32 {
        match self {
            Self::In => 0,
            Self::Out => 1,
            Self::Fwd => 2,
        }
    }
}

/// An IPsec security association in tunnel mode with `rfc4106(gcm(aes))` and a
/// 128-bit ICV. It carries no key: the agent derives the key for this direction
/// from the IPsec pre-shared-key Secret and the names of the two nodes.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct XfrmState {
    /// Outer source address.
    #[serde(rename = "leftip")]
    pub left_ip: String,
    /// Outer destination address.
    #[serde(rename = "rightip")]
    pub right_ip: String,
    /// Request id, the same as the matching policies'.
    #[serde(rename = "reqid")]
    pub req_id: i32,
    /// Security parameter index, distinct per direction.
    pub spi: u32,
    /// ClusterNode name of the other end, an input of the key derivation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub peer: String,
}

/// A remote CIDR whose traffic leaves without masquerade (ipset `name`, `hash:net`).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpsetAvoidMasq {
    /// Remote CIDR.
    pub cidr: String,
    /// ipset name.
    pub name: String,
}

/// What the agent applied.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeConfigStatus {
    /// When the applied state last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change_time: Option<Time>,
    /// When the agent last compared the kernel with the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// The `metadata.generation` the agent last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Entries in place in the kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<i32>,
    /// Entries the agent could not apply; the rest were applied all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<i32>,
    /// Why each failed entry failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<EntryError>,
}

/// One entry of a NodeConfig the agent could not apply.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct EntryError {
    /// Which list the entry is in.
    pub kind: EntryKind,
    /// The entry, as a short human-readable description.
    pub entry: String,
    /// Why it was not applied.
    pub message: String,
}

/// The lists of a NodeConfig.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    /// `spec.devices`.
    Device,
    /// `spec.routes`.
    Route,
    /// `spec.iptables`.
    Iptables,
    /// `spec.fdbs`.
    Fdb,
    /// `spec.arps`.
    Arp,
    /// `spec.xfrmpolicies`.
    XfrmPolicy,
    /// `spec.xfrmstates`.
    XfrmState,
    /// `spec.ipsetsavoidmasq`.
    IpsetAvoidMasq,
}
