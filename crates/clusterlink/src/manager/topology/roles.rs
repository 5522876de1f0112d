//! One gateway per cluster.
//!
//! Kosmos takes the first gateway-role node it meets and, if the elector ever
//! left two, gives the second a `vx-bridge` route without a `vx-bridge`
//! device. Here the first by name is the gateway and any other is treated as a
//! non-gateway node, with a warning. A cluster that cannot reach others as
//! configured (gateway mode without a gateway) is warned about too.

use super::cluster::ClusterView;
use super::node::{NodeView, Role};

/// Keeps one gateway per cluster; `nodes` are in name order.
pub(super) fn assign(clusters: &[ClusterView], nodes: &mut [NodeView<'_>], warnings: &mut Vec<String>) {
    for cluster in clusters {
        let mut members = nodes
            .iter_mut()
            .filter(|node| node.cluster.name == cluster.name)
            .peekable();
        if members.peek().is_none() {
            continue;
        }
        let mut gateway: Option<String> = None;
        for node in members.filter(|node| node.role == Role::Gateway) {
            let Some(first) = &gateway else {
                gateway = Some(node.name.clone());
                continue;
            };
            warnings.push(format!(
                "ClusterNode {:?} has the gateway role, but so has {first:?} of the same Cluster {:?}; \
                 only {first:?} is used as the gateway",
                node.name, cluster.name
            ));
            node.role = if cluster.p2p {
                Role::Endpoint
            } else {
                Role::Internal
            };
        }
        if gateway.is_some() {
            continue;
        }
        if cluster.is_gateway_mode() {
            warnings.push(format!(
                "Cluster {:?} is in gateway mode, but none of its ClusterNodes has the gateway role; \
                 it gets no routes to other clusters, nor they to it",
                cluster.name
            ));
        } else if !cluster.service_cidrs.is_empty() {
            warnings.push(format!(
                "Cluster {:?} has no ClusterNode with the gateway role; other clusters get no routes \
                 to its service CIDRs",
                cluster.name
            ));
        }
    }
}
