//! A valid ClusterNode, parsed once: its addresses, elastic IP, pod CIDRs and
//! its role in the link.

use super::cluster::ClusterView;
use crate::manager::net::{self, Family};
use drmysql_api::clusterlink::ClusterNode;
use ipnet::IpNet;
use kube::ResourceExt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a node is to the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::manager) enum Role {
    /// The cluster's gateway: has `vx-bridge` (and `vx-local` in gateway mode).
    Gateway,
    /// A non-gateway node of a p2p cluster: has `vx-bridge`.
    Endpoint,
    /// A non-gateway node of a gateway-mode cluster: has only `vx-local`.
    Internal,
}

/// A valid ClusterNode, parsed.
#[derive(Debug)]
pub(in crate::manager) struct NodeView<'c> {
    pub(in crate::manager) name: String,
    pub(in crate::manager) cluster: &'c ClusterView,
    pub(in crate::manager) role: Role,
    pub(in crate::manager) interface: String,
    ip: Option<Ipv4Addr>,
    ip6: Option<Ipv6Addr>,
    /// `spec.elasticip`, else the cluster's `nodeElasticIPMap[spec.nodeName]`.
    pub(in crate::manager) elastic_ip: Option<Ipv4Addr>,
    /// `spec.podCIDRs`, parsed only in p2p clusters, which route them.
    pub(super) pod_cidrs: Vec<IpNet>,
}

impl NodeView<'_> {
    /// The underlay address of a family the node's cluster joins.
    pub(in crate::manager) fn underlay(&self, family: Family) -> Option<IpAddr> {
        if !self.cluster.supports(family) {
            return None;
        }
        match family {
            Family::V4 => self.ip.map(IpAddr::V4),
            Family::V6 => self.ip6.map(IpAddr::V6),
        }
    }

    /// The underlay IPv4 address, when the cluster joins IPv4.
    pub(in crate::manager) fn ipv4(&self) -> Option<Ipv4Addr> {
        self.ip.filter(|_| self.cluster.supports(Family::V4))
    }

    /// Whether the node has `vx-bridge` (Kosmos's gateway and endpoint nodes).
    pub(in crate::manager) fn has_bridge(&self) -> bool {
        self.role != Role::Internal
    }

    /// The pod CIDRs other clusters route to this node when it is a target:
    /// its own in a p2p cluster, else its cluster's; exported.
    pub(in crate::manager) fn routed_pod_cidrs(&self) -> Vec<IpNet> {
        if self.cluster.p2p {
            self.cluster.exported(&self.pod_cidrs)
        } else {
            self.cluster.exported(&self.cluster.pod_cidrs)
        }
    }
}

/// Parses a node that passed the filter. A node with the gateway role starts
/// as `Gateway`; `super::roles` keeps one per cluster.
pub(super) fn node_view<'c>(
    node: &ClusterNode,
    cluster: &'c ClusterView,
    warnings: &mut Vec<String>,
) -> NodeView<'c> {
    let name = node.name_any();
    let spec = &node.spec;
    let pod_cidrs = if cluster.p2p {
        let what = format!("ClusterNode {name:?} spec.podCIDRs");
        net::parse_cidrs(&spec.pod_cidrs, &what, warnings)
    } else {
        Vec::new()
    };
    let role = match (node.is_gateway(), cluster.p2p) {
        (true, _) => Role::Gateway,
        (false, true) => Role::Endpoint,
        (false, false) => Role::Internal,
    };
    NodeView {
        elastic_ip: elastic_ip(node, &name, cluster, warnings),
        name,
        cluster,
        role,
        interface: spec.interface_name.clone(),
        ip: spec.ip.parse().ok(),
        ip6: spec.ip6.parse().ok(),
        pod_cidrs,
    }
}

/// The node's own elastic IP, else its cluster's entry for it; one that does
/// not parse is warned about and ignored.
fn elastic_ip(
    node: &ClusterNode,
    name: &str,
    cluster: &ClusterView,
    warnings: &mut Vec<String>,
) -> Option<Ipv4Addr> {
    let spec = &node.spec;
    let (text, field) = if spec.elastic_ip.is_empty() {
        let mapped = Some(&spec.node_name)
            .filter(|node_name| !node_name.is_empty())
            .and_then(|node_name| cluster.elastic_ips.get(node_name))?;
        let field = format!(
            "Cluster {:?} spec.clusterLinkOptions.nodeElasticIPMap[{:?}]",
            cluster.name, spec.node_name
        );
        (mapped.as_str(), field)
    } else {
        (
            spec.elastic_ip.as_str(),
            format!("ClusterNode {name:?} spec.elasticip"),
        )
    };
    if text.is_empty() {
        return None;
    }
    let parsed = text.trim().parse::<Ipv4Addr>().ok();
    if parsed.is_none() {
        warnings.push(format!(
            "{field}: {text:?} is not an IPv4 address; the node is treated as having no elastic IP"
        ));
    }
    parsed
}
