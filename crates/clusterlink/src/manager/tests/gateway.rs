//! Two gateway-mode clusters: internal nodes reach other clusters through
//! their gateway over `vx-local`; gateways talk over `vx-bridge`.

use super::fixtures::*;
use crate::manager::Desired;
use drmysql_api::clusterlink::{Cluster, ClusterNode};

pub(super) fn inputs() -> (Vec<Cluster>, Vec<ClusterNode>) {
    let clusters = vec![
        cluster("a", GATEWAY, &["10.1.0.0/16"], &["10.11.0.0/16"]),
        cluster("b", GATEWAY, &["10.2.0.0/16"], &["10.22.0.0/16"]),
    ];
    let nodes = vec![
        gateway("a", "gw", "10.0.0.1"),
        node("a", "n2", "10.0.0.2"),
        gateway("b", "gw", "10.0.1.1"),
        node("b", "n2", "10.0.1.2"),
    ];
    (clusters, nodes)
}

pub(super) fn desired() -> Desired {
    let (clusters, nodes) = inputs();
    run(&clusters, &nodes)
}

#[test]
fn gateways_get_both_devices_internal_nodes_only_vx_local() {
    let desired = desired();
    type Devices<'a> = &'a [(&'a str, &'a str, i32, i32)];
    let cases: [(&str, Devices); 3] = [
        (
            "a-gw",
            &[
                ("vx-bridge", "220.0.0.1/8", 54, 4876),
                ("vx-local", "210.0.0.1/8", 55, 4877),
            ],
        ),
        ("a-n2", &[("vx-local", "210.0.0.2/8", 55, 4877)]),
        ("b-n2", &[("vx-local", "210.0.1.2/8", 55, 4877)]),
    ];
    for (node, expected) in cases {
        let got: Vec<_> = spec(&desired, node)
            .devices
            .iter()
            .map(|d| (d.name.as_str(), d.addr.as_str(), d.id, d.port))
            .collect();
        assert_eq!(got, expected, "{node}");
    }
}

#[test]
fn internal_nodes_route_via_their_gateways_vx_local_and_gateways_via_vx_bridge() {
    let desired = desired();
    let cases = [
        (
            "a-gw",
            routes(&[
                ("10.2.0.0/16", "220.0.1.1", "vx-bridge"),
                ("10.22.0.0/16", "220.0.1.1", "vx-bridge"),
            ]),
        ),
        (
            "a-n2",
            routes(&[
                ("10.2.0.0/16", "210.0.0.1", "vx-local"),
                ("10.22.0.0/16", "210.0.0.1", "vx-local"),
            ]),
        ),
        (
            "b-gw",
            routes(&[
                ("10.1.0.0/16", "220.0.0.1", "vx-bridge"),
                ("10.11.0.0/16", "220.0.0.1", "vx-bridge"),
            ]),
        ),
        (
            "b-n2",
            routes(&[
                ("10.1.0.0/16", "210.0.1.1", "vx-local"),
                ("10.11.0.0/16", "210.0.1.1", "vx-local"),
            ]),
        ),
    ];
    for (node, expected) in cases {
        assert_eq!(spec(&desired, node).routes, expected, "{node}");
    }
}

#[test]
fn gateway_has_the_return_path_to_its_internal_nodes_and_they_to_it() {
    let desired = desired();
    let local = |node: &str, ip: &str, dev_ip: &str| {
        neighbour(ip, dev_ip, &mac_of(&desired, node, "vx-local"), "vx-local")
    };
    let bridge = |node: &str, ip: &str, dev_ip: &str| {
        neighbour(ip, dev_ip, &mac_of(&desired, node, "vx-bridge"), "vx-bridge")
    };
    // Kosmos issue #29: the gateway learns its internal nodes' vx-local.
    assert_neighbours(
        &desired,
        "a-gw",
        &[
            local("a-n2", "10.0.0.2", "210.0.0.2"),
            bridge("b-gw", "10.0.1.1", "220.0.1.1"),
        ],
    );
    assert_neighbours(&desired, "a-n2", &[local("a-gw", "10.0.0.1", "210.0.0.1")]);
    assert_neighbours(
        &desired,
        "b-gw",
        &[
            local("b-n2", "10.0.1.2", "210.0.1.2"),
            bridge("a-gw", "10.0.0.1", "220.0.0.1"),
        ],
    );
}

#[test]
fn masquerade_rules_sit_only_on_gateway_cluster_gateways() {
    let desired = desired();
    let masquerade = vec![
        (
            "POSTROUTING".to_owned(),
            "-s 210.0.0.0/8 -o vx-bridge -j MASQUERADE".to_owned(),
        ),
        (
            "POSTROUTING".to_owned(),
            "-s 220.0.0.0/8 -j MASQUERADE".to_owned(),
        ),
    ];
    let cases = [
        ("a-gw", masquerade.clone()),
        ("b-gw", masquerade),
        ("a-n2", Vec::new()),
        ("b-n2", Vec::new()),
    ];
    for (node, expected) in cases {
        assert_eq!(rules(&desired, node), expected, "{node}");
    }
}

#[test]
fn a_gateway_cluster_without_gateway_gets_nothing_and_a_warning() {
    let (clusters, mut nodes) = inputs();
    nodes.retain(|node| node.spec.cluster_name != "b" || !node.is_gateway());
    let desired = run(&clusters, &nodes);
    assert!(spec(&desired, "b-n2").routes.is_empty());
    assert!(
        spec(&desired, "a-gw").routes.is_empty(),
        "nothing leads to b without its gateway"
    );
    assert!(spec(&desired, "a-n2").routes.is_empty());
    assert!(
        desired
            .warnings
            .iter()
            .any(|w| w.contains("\"b\"") && w.contains("gateway role")),
        "{:?}",
        desired.warnings
    );
}
