//! Nodes joining and leaving, and the gateway role moving: configs appear and
//! disappear, and the others change only where the topology says they must.

use super::fixtures::*;
use super::{gateway as gw_fixture, p2p as p2p_fixture};
use crate::manager::compute;
use drmysql_api::clusterlink::Route;

#[test]
fn an_internal_node_joining_changes_only_its_gateway_and_leaving_restores_all() {
    let (clusters, mut nodes) = gw_fixture::inputs();
    let before = run(&clusters, &nodes);

    nodes.push(node("a", "n3", "10.0.0.3"));
    let joined = compute(&clusters, &nodes, &as_previous(&before));
    assert!(joined.configs.contains_key("a-n3"));
    assert_eq!(
        spec(&joined, "a-n3").routes,
        routes(&[
            ("10.2.0.0/16", "210.0.0.1", "vx-local"),
            ("10.22.0.0/16", "210.0.0.1", "vx-local")
        ])
    );
    for unchanged in ["a-n2", "b-gw", "b-n2"] {
        assert_eq!(spec(&joined, unchanged), spec(&before, unchanged), "{unchanged}");
    }
    // The gateway gains exactly the return path to a-n3.
    let before_gw = spec(&before, "a-gw");
    let joined_gw = spec(&joined, "a-gw");
    assert_eq!(joined_gw.devices, before_gw.devices);
    assert_eq!(joined_gw.routes, before_gw.routes);
    assert_eq!(joined_gw.iptables, before_gw.iptables);
    let added: Vec<_> = joined_gw
        .fdbs
        .iter()
        .filter(|f| !before_gw.fdbs.contains(f))
        .collect();
    assert_eq!(added.len(), 2, "{added:?}");
    assert!(
        added
            .iter()
            .all(|fdb| fdb.ip == "10.0.0.3" && fdb.dev == "vx-local")
    );
    assert_eq!(joined_gw.arps.len(), before_gw.arps.len() + 1);

    nodes.retain(|node| node.spec.node_name != "n3");
    let left = compute(&clusters, &nodes, &as_previous(&joined));
    assert_eq!(left.configs, before.configs);
}

#[test]
fn a_p2p_endpoint_joining_adds_a_route_on_every_remote_node() {
    let (clusters, mut nodes) = p2p_fixture::inputs();
    let before = run(&clusters, &nodes);
    nodes.push(with_pods(node("b", "n3", "10.0.1.3"), &["10.2.3.0/24"]));
    let joined = compute(&clusters, &nodes, &as_previous(&before));

    let new_route = Route {
        cidr: "10.2.3.0/24".to_owned(),
        gw: "220.0.1.3".to_owned(),
        dev: "vx-bridge".to_owned(),
    };
    for remote in ["a-n1", "a-n2"] {
        let added: Vec<_> = spec(&joined, remote)
            .routes
            .iter()
            .filter(|r| !spec(&before, remote).routes.contains(r))
            .collect();
        assert_eq!(added, [&new_route], "{remote}");
    }
    for same_cluster in ["b-n1", "b-n2"] {
        assert_eq!(
            spec(&joined, same_cluster).routes,
            spec(&before, same_cluster).routes
        );
        assert_eq!(
            spec(&joined, same_cluster).arps.len(),
            4,
            "{same_cluster} learns b-n3"
        );
    }
    assert_eq!(joined.configs.len(), 5);
}

#[test]
fn moving_the_gateway_role_moves_devices_routes_and_rules() {
    let (clusters, mut nodes) = gw_fixture::inputs();
    let before = run(&clusters, &nodes);
    for node in nodes.iter_mut().filter(|node| node.spec.cluster_name == "a") {
        node.spec.roles = if node.spec.node_name == "n2" {
            vec!["Gateway".to_owned()]
        } else {
            Vec::new()
        };
    }
    let after = compute(&clusters, &nodes, &as_previous(&before));

    assert_eq!(device_names(&after, "a-n2"), ["vx-bridge", "vx-local"]);
    assert_eq!(device_names(&after, "a-gw"), ["vx-local"]);
    // vx-local keeps its MACs across the move.
    for node in ["a-gw", "a-n2"] {
        assert_eq!(
            mac_of(&after, node, "vx-local"),
            mac_of(&before, node, "vx-local"),
            "{node}"
        );
    }
    let cases = [
        (
            "a-gw",
            routes(&[
                ("10.2.0.0/16", "210.0.0.2", "vx-local"),
                ("10.22.0.0/16", "210.0.0.2", "vx-local"),
            ]),
        ),
        (
            "a-n2",
            routes(&[
                ("10.2.0.0/16", "220.0.1.1", "vx-bridge"),
                ("10.22.0.0/16", "220.0.1.1", "vx-bridge"),
            ]),
        ),
        (
            "b-gw",
            routes(&[
                ("10.1.0.0/16", "220.0.0.2", "vx-bridge"),
                ("10.11.0.0/16", "220.0.0.2", "vx-bridge"),
            ]),
        ),
    ];
    for (node, expected) in cases {
        assert_eq!(spec(&after, node).routes, expected, "{node}");
    }
    assert!(rules(&after, "a-gw").is_empty());
    assert_eq!(rules(&after, "a-n2").len(), 2);
    // Cluster b's internal node is untouched.
    assert_eq!(spec(&after, "b-n2"), spec(&before, "b-n2"));
}

#[test]
fn a_second_gateway_role_in_a_cluster_is_demoted_with_a_warning() {
    let (clusters, mut nodes) = gw_fixture::inputs();
    let single = run(&clusters, &nodes);
    for node in nodes.iter_mut().filter(|node| node.spec.cluster_name == "a") {
        node.spec.roles = vec!["gateway".to_owned()];
    }
    let double = run(&clusters, &nodes);
    assert_eq!(
        double.configs, single.configs,
        "a-gw, first by name, stays the gateway"
    );
    assert!(
        double
            .warnings
            .iter()
            .any(|w| w.contains("a-n2") && w.contains("a-gw")),
        "{:?}",
        double.warnings
    );
}
