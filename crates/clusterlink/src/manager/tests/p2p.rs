//! Two p2p clusters: every node has `vx-bridge` and routes straight to the
//! remote node that owns a pod CIDR; service CIDRs go to the remote gateway.

use super::fixtures::*;
use crate::manager::Desired;
use drmysql_api::clusterlink::{Cluster, ClusterNode};

pub(super) fn inputs() -> (Vec<Cluster>, Vec<ClusterNode>) {
    let clusters = vec![
        cluster("a", P2P, &["10.1.0.0/16"], &["10.11.0.0/16"]),
        cluster("b", P2P, &["10.2.0.0/16"], &["10.22.0.0/16"]),
    ];
    let nodes = vec![
        with_pods(gateway("a", "n1", "10.0.0.1"), &["10.1.1.0/24"]),
        with_pods(node("a", "n2", "10.0.0.2"), &["10.1.2.0/24"]),
        with_pods(gateway("b", "n1", "10.0.1.1"), &["10.2.1.0/24"]),
        with_pods(node("b", "n2", "10.0.1.2"), &["10.2.2.0/24"]),
    ];
    (clusters, nodes)
}

fn desired() -> Desired {
    let (clusters, nodes) = inputs();
    run(&clusters, &nodes)
}

#[test]
fn every_node_gets_vx_bridge_and_only_vx_bridge() {
    let desired = desired();
    let cases = [
        ("a-n1", "220.0.0.1/8"),
        ("a-n2", "220.0.0.2/8"),
        ("b-n1", "220.0.1.1/8"),
        ("b-n2", "220.0.1.2/8"),
    ];
    for (node, addr) in cases {
        assert_eq!(device_names(&desired, node), ["vx-bridge"], "{node}");
        let dev = device(&desired, node, "vx-bridge").expect("vx-bridge");
        assert_eq!(dev.addr, addr, "{node}");
        assert_eq!(
            (dev.type_.as_str(), dev.id, dev.port),
            ("vxlan", 54, 4876),
            "{node}"
        );
        assert_eq!(dev.bind_dev, "eth0", "{node}");
    }
    assert!(desired.excluded.is_empty(), "{:?}", desired.excluded);
    assert!(desired.warnings.is_empty(), "{:?}", desired.warnings);
}

#[test]
fn routes_go_straight_to_the_node_owning_the_pod_cidr() {
    let desired = desired();
    let to_b = [
        ("10.2.1.0/24", "220.0.1.1", "vx-bridge"),
        ("10.2.2.0/24", "220.0.1.2", "vx-bridge"),
        ("10.22.0.0/16", "220.0.1.1", "vx-bridge"),
    ];
    let to_a = [
        ("10.1.1.0/24", "220.0.0.1", "vx-bridge"),
        ("10.1.2.0/24", "220.0.0.2", "vx-bridge"),
        ("10.11.0.0/16", "220.0.0.1", "vx-bridge"),
    ];
    let cases = [("a-n1", &to_b), ("a-n2", &to_b), ("b-n1", &to_a), ("b-n2", &to_a)];
    for (node, expected) in cases {
        assert_eq!(spec(&desired, node).routes, routes(expected.as_slice()), "{node}");
    }
}

#[test]
fn vx_bridge_neighbours_are_a_full_mesh_across_and_within_clusters() {
    let desired = desired();
    let peer = |name: &str, ip: &str, dev_ip: &str| {
        neighbour(ip, dev_ip, &mac_of(&desired, name, "vx-bridge"), "vx-bridge")
    };
    let all = [
        ("a-n1", "10.0.0.1", "220.0.0.1"),
        ("a-n2", "10.0.0.2", "220.0.0.2"),
        ("b-n1", "10.0.1.1", "220.0.1.1"),
        ("b-n2", "10.0.1.2", "220.0.1.2"),
    ];
    for (node, _, _) in all {
        let peers: Vec<_> = all
            .iter()
            .filter(|(other, _, _)| *other != node)
            .map(|(other, ip, dev_ip)| peer(other, ip, dev_ip))
            .collect();
        assert_neighbours(&desired, node, &peers);
    }
}

#[test]
fn p2p_clusters_get_no_iptables_xfrm_or_ipsets() {
    let desired = desired();
    for (node, spec) in &desired.configs {
        assert!(spec.iptables.is_empty(), "{node}: {:?}", spec.iptables);
        assert!(
            spec.xfrm_policies.is_empty() && spec.xfrm_states.is_empty(),
            "{node}"
        );
        assert!(spec.ipsets_avoid_masq.is_empty(), "{node}");
    }
}
