//! IPsec between elastic IPs: policies for every pair of CIDRs, exactly two
//! states per pair of nodes, and no `vx-bridge` route for what ESP carries.

use super::fixtures::*;
use crate::ipsec::{self, Direction, REQID};
use crate::manager::Desired;
use drmysql_api::clusterlink::{Cluster, ClusterNode, XfrmPolicy, XfrmState};

const A_EIP: &str = "203.0.113.1";
const B_EIP: &str = "198.51.100.1";

fn inputs() -> (Vec<Cluster>, Vec<ClusterNode>) {
    let clusters = vec![
        cluster("a", GATEWAY, &["10.1.0.0/16", "10.5.0.0/16"], &["10.11.0.0/16"]),
        cluster("b", GATEWAY, &["10.2.0.0/16"], &["10.22.0.0/16"]),
    ];
    let nodes = vec![
        with_eip(gateway("a", "gw", "10.0.0.1"), A_EIP),
        node("a", "n2", "10.0.0.2"),
        with_eip(gateway("b", "gw", "172.16.0.1"), B_EIP),
        node("b", "n2", "172.16.0.2"),
    ];
    (clusters, nodes)
}

fn policy(left_ip: &str, left_net: &str, right_ip: &str, right_net: &str, dir: i32) -> XfrmPolicy {
    XfrmPolicy {
        left_ip: left_ip.to_owned(),
        left_net: left_net.to_owned(),
        right_ip: right_ip.to_owned(),
        right_net: right_net.to_owned(),
        req_id: REQID,
        dir,
    }
}

fn state(left_ip: &str, right_ip: &str, spi: u32, peer: &str) -> XfrmState {
    XfrmState {
        left_ip: left_ip.to_owned(),
        right_ip: right_ip.to_owned(),
        req_id: REQID,
        spi,
        peer: peer.to_owned(),
    }
}

/// out, in and fwd for every (local, remote) pair, written out by hand.
fn policies(local_ip: &str, local: &[&str], remote_ip: &str, remote: &[&str]) -> Vec<XfrmPolicy> {
    let mut all = Vec::new();
    for ncidr in local {
        for cidr in remote {
            all.push(policy(local_ip, ncidr, remote_ip, cidr, 1));
            all.push(policy(remote_ip, cidr, local_ip, ncidr, 0));
            all.push(policy(remote_ip, cidr, local_ip, ncidr, 2));
        }
    }
    all.sort();
    all
}

fn desired() -> Desired {
    let (clusters, nodes) = inputs();
    run(&clusters, &nodes)
}

#[test]
fn gateways_with_elastic_ips_get_policies_for_every_cidr_pair() {
    let desired = desired();
    let cases = [
        (
            "a-gw",
            policies(
                "10.0.0.1",
                &["10.1.0.0/16", "10.5.0.0/16"],
                B_EIP,
                &["10.2.0.0/16", "10.22.0.0/16"],
            ),
        ),
        (
            "b-gw",
            policies(
                "172.16.0.1",
                &["10.2.0.0/16"],
                A_EIP,
                &["10.1.0.0/16", "10.11.0.0/16", "10.5.0.0/16"],
            ),
        ),
    ];
    for (node, expected) in cases {
        assert_eq!(spec(&desired, node).xfrm_policies, expected, "{node}");
    }
}

#[test]
fn each_pair_has_exactly_two_states_one_per_direction() {
    let desired = desired();
    let mut a_states = vec![
        state("10.0.0.1", B_EIP, ipsec::spi("a-gw", "b-gw"), "b-gw"),
        state(B_EIP, "10.0.0.1", ipsec::spi("b-gw", "a-gw"), "b-gw"),
    ];
    a_states.sort();
    let mut b_states = vec![
        state("172.16.0.1", A_EIP, ipsec::spi("b-gw", "a-gw"), "a-gw"),
        state(A_EIP, "172.16.0.1", ipsec::spi("a-gw", "b-gw"), "a-gw"),
    ];
    b_states.sort();
    assert_eq!(spec(&desired, "a-gw").xfrm_states, a_states);
    assert_eq!(spec(&desired, "b-gw").xfrm_states, b_states);
    for (own, peer) in [("a-gw", "b-gw"), ("b-gw", "a-gw")] {
        let directions: Vec<_> = spec(&desired, own)
            .xfrm_states
            .iter()
            .map(|state| ipsec::classify(own, peer, state.spi))
            .collect();
        assert!(directions.contains(&Some(Direction::Outbound)), "{own}");
        assert!(directions.contains(&Some(Direction::Inbound)), "{own}");
    }
}

#[test]
fn esp_covered_cidrs_get_no_vx_bridge_route_but_internal_nodes_still_use_vx_local() {
    let desired = desired();
    assert!(
        spec(&desired, "a-gw").routes.is_empty(),
        "{:?}",
        spec(&desired, "a-gw").routes
    );
    assert!(spec(&desired, "b-gw").routes.is_empty());
    assert_eq!(
        spec(&desired, "a-n2").routes,
        routes(&[
            ("10.2.0.0/16", "210.0.0.1", "vx-local"),
            ("10.22.0.0/16", "210.0.0.1", "vx-local")
        ])
    );
    for node in ["a-n2", "b-n2"] {
        assert!(spec(&desired, node).xfrm_policies.is_empty() && spec(&desired, node).xfrm_states.is_empty());
    }
}

#[test]
fn only_one_side_with_an_elastic_ip_stays_plain_vxlan() {
    let (clusters, mut nodes) = inputs();
    for node in nodes.iter_mut().filter(|node| node.spec.cluster_name == "b") {
        node.spec.elastic_ip.clear();
    }
    let desired = run(&clusters, &nodes);
    for (node, spec) in &desired.configs {
        assert!(
            spec.xfrm_policies.is_empty() && spec.xfrm_states.is_empty(),
            "{node}"
        );
    }
    assert_eq!(
        spec(&desired, "a-gw").routes,
        routes(&[
            ("10.2.0.0/16", "220.16.0.1", "vx-bridge"),
            ("10.22.0.0/16", "220.16.0.1", "vx-bridge")
        ])
    );
}

#[test]
fn p2p_nodes_pair_up_by_elastic_ip_from_the_cluster_map_or_the_node() {
    let mut a = cluster("a", P2P, &["10.1.0.0/16"], &[]);
    options(&mut a)
        .node_elastic_ip_map
        .insert("n1".to_owned(), A_EIP.to_owned());
    let b = cluster("b", P2P, &["10.2.0.0/16"], &[]);
    let nodes = [
        with_pods(node("a", "n1", "10.0.0.1"), &["10.1.1.0/24"]),
        with_pods(node("a", "n2", "10.0.0.2"), &["10.1.2.0/24"]),
        with_pods(with_eip(node("b", "n1", "172.16.0.1"), B_EIP), &["10.2.1.0/24"]),
        with_pods(node("b", "n2", "172.16.0.2"), &["10.2.2.0/24"]),
    ];
    let desired = run(&[a, b], &nodes);

    let a_n1 = spec(&desired, "a-n1");
    assert_eq!(
        a_n1.xfrm_policies,
        policies("10.0.0.1", &["10.1.1.0/24"], B_EIP, &["10.2.1.0/24"])
    );
    assert_eq!(a_n1.xfrm_states.len(), 2);
    assert!(a_n1.xfrm_states.iter().all(|state| state.peer == "b-n1"));
    assert_eq!(a_n1.routes, routes(&[("10.2.2.0/24", "220.16.0.2", "vx-bridge")]));

    // a-n2 has no elastic IP: plain VXLAN both ways.
    assert_eq!(
        spec(&desired, "a-n2").routes,
        routes(&[
            ("10.2.1.0/24", "220.16.0.1", "vx-bridge"),
            ("10.2.2.0/24", "220.16.0.2", "vx-bridge")
        ])
    );
    assert!(spec(&desired, "a-n2").xfrm_states.is_empty());
    let b_n1 = spec(&desired, "b-n1");
    assert_eq!(b_n1.routes, routes(&[("10.1.2.0/24", "220.0.0.2", "vx-bridge")]));
    assert_eq!(
        b_n1.xfrm_policies,
        policies("172.16.0.1", &["10.2.1.0/24"], A_EIP, &["10.1.1.0/24"])
    );
}
