//! The validated inputs in the shape the handlers need (Kosmos's `Filter`):
//! every CIDR and address parsed once, every node's role decided once.
//!
//! Roles follow Kosmos. A cluster's gateway is the node with the `gateway`
//! role; in a gateway-mode cluster the other nodes are internal nodes that
//! reach other clusters through it over `vx-local`, and in a p2p cluster they
//! are endpoint nodes with their own `vx-bridge`.

mod cluster;
mod node;
mod roles;

pub(super) use cluster::{ClusterView, build_clusters};
pub(super) use node::{NodeView, Role};

use super::filter::Valid;
use drmysql_api::clusterlink::NodeConfig;
use ipnet::IpNet;
use kube::ResourceExt;
use std::collections::BTreeMap;

/// Every valid cluster and node, with the previous MACs.
pub(super) struct Topology<'c> {
    /// Every valid cluster, in name order.
    pub(super) clusters: &'c [ClusterView],
    /// Every valid node, in name order.
    pub(super) nodes: Vec<NodeView<'c>>,
    /// Per cluster: the CIDRs a route must not cover there (its pod and
    /// service CIDRs, and in p2p mode its nodes' pod CIDRs).
    own_cidrs: BTreeMap<String, Vec<IpNet>>,
    /// Per (node, device): the MAC in the previous NodeConfig.
    previous_macs: BTreeMap<(String, String), String>,
}

impl<'c> Topology<'c> {
    pub(super) fn new(
        clusters: &'c [ClusterView],
        valid: &Valid<'_>,
        previous: &[NodeConfig],
        warnings: &mut Vec<String>,
    ) -> Self {
        let mut nodes: Vec<NodeView<'c>> = valid
            .nodes
            .iter()
            .filter_map(|node| {
                let cluster = clusters.iter().find(|c| c.name == node.spec.cluster_name)?;
                Some(node::node_view(node, cluster, warnings))
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        roles::assign(clusters, &mut nodes, warnings);

        let own_cidrs = clusters
            .iter()
            .map(|cluster| {
                let mut own: Vec<IpNet> = cluster
                    .pod_cidrs
                    .iter()
                    .chain(&cluster.service_cidrs)
                    .copied()
                    .collect();
                if cluster.p2p {
                    for node in nodes.iter().filter(|n| n.cluster.name == cluster.name) {
                        own.extend(&node.pod_cidrs);
                    }
                }
                (cluster.name.clone(), own)
            })
            .collect();

        Self {
            clusters,
            nodes,
            own_cidrs,
            previous_macs: previous_macs(previous),
        }
    }

    /// The gateway of a cluster, if it has one.
    pub(super) fn gateway_of(&self, cluster: &str) -> Option<&NodeView<'c>> {
        self.nodes
            .iter()
            .find(|node| node.role == Role::Gateway && node.cluster.name == cluster)
    }

    /// Every cluster's gateway.
    pub(super) fn gateways(&self) -> impl Iterator<Item = &NodeView<'c>> {
        self.nodes.iter().filter(|node| node.role == Role::Gateway)
    }

    /// Every node with `vx-bridge`: gateways and endpoint nodes.
    pub(super) fn bridge_nodes(&self) -> impl Iterator<Item = &NodeView<'c>> {
        self.nodes.iter().filter(|node| node.has_bridge())
    }

    /// The nodes of other clusters than `cluster`.
    pub(super) fn nodes_except_cluster<'t>(
        &'t self,
        cluster: &'t str,
    ) -> impl Iterator<Item = &'t NodeView<'c>> {
        self.nodes.iter().filter(move |node| node.cluster.name != cluster)
    }

    /// The nodes of `cluster`.
    pub(super) fn nodes_of<'t>(&'t self, cluster: &'t str) -> impl Iterator<Item = &'t NodeView<'c>> {
        self.nodes.iter().filter(move |node| node.cluster.name == cluster)
    }

    /// The CIDRs of `cluster` that no route there may overlap.
    pub(super) fn own_cidrs(&self, cluster: &str) -> &[IpNet] {
        self.own_cidrs.get(cluster).map(Vec::as_slice).unwrap_or_default()
    }

    /// The MAC of `device` on `node` in the previous NodeConfigs.
    pub(super) fn previous_mac(&self, node: &str, device: &str) -> Option<&str> {
        self.previous_macs
            .get(&(node.to_owned(), device.to_owned()))
            .map(String::as_str)
    }
}

/// The MAC of every (node, device) in the previous NodeConfigs. Of repeated
/// names the first by device list wins, whatever the input order.
fn previous_macs(previous: &[NodeConfig]) -> BTreeMap<(String, String), String> {
    let mut configs: Vec<&NodeConfig> = previous.iter().collect();
    configs.sort_by(|a, b| (a.name_any(), &a.spec.devices).cmp(&(b.name_any(), &b.spec.devices)));
    let mut macs = BTreeMap::new();
    for config in configs {
        for device in &config.spec.devices {
            macs.entry((config.name_any(), device.name.clone()))
                .or_insert_with(|| device.mac.clone());
        }
    }
    macs
}
