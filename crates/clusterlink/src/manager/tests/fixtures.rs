//! Builders for Clusters and ClusterNodes, and lookups into a computed result.

use crate::manager::{Desired, compute};
use drmysql_api::clusterlink::{
    Arp, Cluster, ClusterLinkOptions, ClusterLinkStatus, ClusterNode, ClusterNodeSpec, ClusterSpec,
    ClusterStatus, Device, Fdb, IpFamily, NetworkType, NodeConfig, NodeConfigSpec, Route,
};

pub(super) const P2P: NetworkType = NetworkType::P2p;
pub(super) const GATEWAY: NetworkType = NetworkType::Gateway;
pub(super) const ZERO_MAC: &str = "00:00:00:00:00:00";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

/// An IPv4-only cluster with Kosmos's default ranges and the given status.
pub(super) fn cluster(name: &str, mode: NetworkType, pods: &[&str], services: &[&str]) -> Cluster {
    let mut cluster = Cluster::new(
        name,
        ClusterSpec {
            cluster_link_options: Some(ClusterLinkOptions {
                network_type: mode,
                ip_family: IpFamily::Ipv4,
                ..ClusterLinkOptions::default()
            }),
            ..ClusterSpec::default()
        },
    );
    cluster.status = Some(ClusterStatus {
        cluster_link_status: ClusterLinkStatus {
            pod_cidrs: strings(pods),
            service_cidrs: strings(services),
        },
        ..ClusterStatus::default()
    });
    cluster
}

/// The link options of a fixture cluster.
pub(super) fn options(cluster: &mut Cluster) -> &mut ClusterLinkOptions {
    cluster
        .spec
        .cluster_link_options
        .as_mut()
        .expect("fixture clusters have link options")
}

/// A non-gateway node `<cluster>-<node>` on `eth0`.
pub(super) fn node(cluster: &str, node: &str, ip: &str) -> ClusterNode {
    ClusterNode::new(
        &ClusterNode::name_for(cluster, node),
        ClusterNodeSpec {
            cluster_name: cluster.to_owned(),
            node_name: node.to_owned(),
            ip: ip.to_owned(),
            interface_name: "eth0".to_owned(),
            ..ClusterNodeSpec::default()
        },
    )
}

/// A gateway node.
pub(super) fn gateway(cluster: &str, node_name: &str, ip: &str) -> ClusterNode {
    let mut gateway = node(cluster, node_name, ip);
    gateway.spec.roles = vec!["gateway".to_owned()];
    gateway
}

/// The node with pod CIDRs (p2p mode).
pub(super) fn with_pods(mut node: ClusterNode, pods: &[&str]) -> ClusterNode {
    node.spec.pod_cidrs = strings(pods);
    node
}

/// The node with an elastic IP in `spec.elasticip`.
pub(super) fn with_eip(mut node: ClusterNode, eip: &str) -> ClusterNode {
    node.spec.elastic_ip = eip.to_owned();
    node
}

/// Computes without previous NodeConfigs.
pub(super) fn run(clusters: &[Cluster], nodes: &[ClusterNode]) -> Desired {
    compute(clusters, nodes, &[])
}

/// The computed configs as the NodeConfigs they would be stored as.
pub(super) fn as_previous(desired: &Desired) -> Vec<NodeConfig> {
    desired
        .configs
        .iter()
        .map(|(name, spec)| NodeConfig::new(name, spec.clone()))
        .collect()
}

pub(super) fn spec<'a>(desired: &'a Desired, node: &str) -> &'a NodeConfigSpec {
    desired
        .configs
        .get(node)
        .unwrap_or_else(|| panic!("no NodeConfig for {node}; have {:?}", desired.configs.keys()))
}

pub(super) fn device<'a>(desired: &'a Desired, node: &str, name: &str) -> Option<&'a Device> {
    spec(desired, node)
        .devices
        .iter()
        .find(|device| device.name == name)
}

pub(super) fn mac_of(desired: &Desired, node: &str, name: &str) -> String {
    device(desired, node, name)
        .unwrap_or_else(|| panic!("{node} has no {name}"))
        .mac
        .clone()
}

pub(super) fn device_names<'a>(desired: &'a Desired, node: &str) -> Vec<&'a str> {
    spec(desired, node)
        .devices
        .iter()
        .map(|device| device.name.as_str())
        .collect()
}

pub(super) fn route(cidr: &str, gw: &str, dev: &str) -> Route {
    Route {
        cidr: cidr.to_owned(),
        gw: gw.to_owned(),
        dev: dev.to_owned(),
    }
}

/// Routes, sorted as compute sorts them.
pub(super) fn routes(items: &[(&str, &str, &str)]) -> Vec<Route> {
    let mut routes: Vec<Route> = items.iter().map(|(c, g, d)| route(c, g, d)).collect();
    routes.sort();
    routes
}

/// The (chain, rule) pairs of a node's iptables entries, all of table `nat`.
pub(super) fn rules(desired: &Desired, node: &str) -> Vec<(String, String)> {
    spec(desired, node)
        .iptables
        .iter()
        .map(|entry| {
            assert_eq!(entry.table, "nat", "{node}: {entry:?}");
            (entry.chain.clone(), entry.rule.clone())
        })
        .collect()
}

/// The three neighbour entries for one peer device, as Kosmos writes them.
pub(super) fn neighbour(peer_ip: &str, device_ip: &str, mac: &str, dev: &str) -> (Vec<Fdb>, Arp) {
    let fdb = |mac: &str| Fdb {
        ip: peer_ip.to_owned(),
        mac: mac.to_owned(),
        dev: dev.to_owned(),
    };
    (
        vec![fdb(ZERO_MAC), fdb(mac)],
        Arp {
            ip: device_ip.to_owned(),
            mac: mac.to_owned(),
            dev: dev.to_owned(),
        },
    )
}

/// Asserts that a node's FDB and ARP entries are exactly those for `peers`.
pub(super) fn assert_neighbours(desired: &Desired, node: &str, peers: &[(Vec<Fdb>, Arp)]) {
    let mut fdbs: Vec<Fdb> = peers.iter().flat_map(|(fdbs, _)| fdbs.clone()).collect();
    let mut arps: Vec<Arp> = peers.iter().map(|(_, arp)| arp.clone()).collect();
    fdbs.sort();
    arps.sort();
    assert_eq!(spec(desired, node).fdbs, fdbs, "{node} fdbs");
    assert_eq!(spec(desired, node).arps, arps, "{node} arps");
}
