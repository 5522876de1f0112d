//! A p2p cluster with a gateway-mode one, and three clusters with an overlap.

use super::fixtures::*;

#[test]
fn p2p_endpoints_and_a_gateway_cluster_reach_each_other() {
    let clusters = [
        cluster("a", P2P, &["10.1.0.0/16"], &["10.11.0.0/16"]),
        cluster("b", GATEWAY, &["10.2.0.0/16"], &["10.22.0.0/16"]),
    ];
    let nodes = [
        with_pods(gateway("a", "n1", "10.0.0.1"), &["10.1.1.0/24"]),
        with_pods(node("a", "n2", "10.0.0.2"), &["10.1.2.0/24"]),
        gateway("b", "gw", "10.0.1.1"),
        node("b", "n2", "10.0.1.2"),
    ];
    let desired = run(&clusters, &nodes);

    let to_b = routes(&[
        ("10.2.0.0/16", "220.0.1.1", "vx-bridge"),
        ("10.22.0.0/16", "220.0.1.1", "vx-bridge"),
    ]);
    let cases = [
        ("a-n1", to_b.clone()),
        ("a-n2", to_b),
        (
            "b-gw",
            routes(&[
                ("10.1.1.0/24", "220.0.0.1", "vx-bridge"),
                ("10.1.2.0/24", "220.0.0.2", "vx-bridge"),
                ("10.11.0.0/16", "220.0.0.1", "vx-bridge"),
            ]),
        ),
        (
            "b-n2",
            routes(&[
                ("10.1.1.0/24", "210.0.1.1", "vx-local"),
                ("10.1.2.0/24", "210.0.1.1", "vx-local"),
                ("10.11.0.0/16", "210.0.1.1", "vx-local"),
            ]),
        ),
    ];
    for (node, expected) in cases {
        assert_eq!(spec(&desired, node).routes, expected, "{node}");
    }

    let device_cases: [(&str, &[&str]); 4] = [
        ("a-n1", &["vx-bridge"]),
        ("a-n2", &["vx-bridge"]),
        ("b-gw", &["vx-bridge", "vx-local"]),
        ("b-n2", &["vx-local"]),
    ];
    for (node, expected) in device_cases {
        assert_eq!(device_names(&desired, node), expected, "{node}");
    }

    // The p2p cluster's gateway has no MASQUERADE; the gateway cluster's has.
    assert!(rules(&desired, "a-n1").is_empty());
    assert_eq!(rules(&desired, "b-gw").len(), 2);
    // b-n2 is internal: no vx-bridge neighbours, only its gateway's vx-local.
    assert!(
        spec(&desired, "b-n2")
            .fdbs
            .iter()
            .all(|fdb| fdb.dev == "vx-local")
    );
    assert_eq!(spec(&desired, "a-n2").arps.len(), 2, "a-n1 and b-gw on vx-bridge");
}

#[test]
fn three_clusters_skip_routes_that_overlap_the_receivers_own_cidrs() {
    let clusters = [
        cluster("a", P2P, &["10.1.0.0/16"], &["10.11.0.0/16"]),
        // b's service range overlaps c's pod range.
        cluster("b", GATEWAY, &["10.2.0.0/16"], &["10.3.128.0/17"]),
        cluster("c", GATEWAY, &["10.3.0.0/16"], &["10.33.0.0/16"]),
    ];
    let nodes = [
        with_pods(gateway("a", "n1", "10.0.0.1"), &["10.1.1.0/24"]),
        gateway("b", "gw", "10.0.1.1"),
        node("b", "n2", "10.0.1.2"),
        gateway("c", "gw", "10.0.2.1"),
        node("c", "n2", "10.0.2.2"),
    ];
    let desired = run(&clusters, &nodes);

    let cases = [
        (
            "a-n1",
            routes(&[
                ("10.2.0.0/16", "220.0.1.1", "vx-bridge"),
                ("10.3.128.0/17", "220.0.1.1", "vx-bridge"),
                ("10.3.0.0/16", "220.0.2.1", "vx-bridge"),
                ("10.33.0.0/16", "220.0.2.1", "vx-bridge"),
            ]),
        ),
        (
            // No route to c's pods: they overlap b's own service range.
            "b-gw",
            routes(&[
                ("10.1.1.0/24", "220.0.0.1", "vx-bridge"),
                ("10.11.0.0/16", "220.0.0.1", "vx-bridge"),
                ("10.33.0.0/16", "220.0.2.1", "vx-bridge"),
            ]),
        ),
        (
            "b-n2",
            routes(&[
                ("10.1.1.0/24", "210.0.1.1", "vx-local"),
                ("10.11.0.0/16", "210.0.1.1", "vx-local"),
                ("10.33.0.0/16", "210.0.1.1", "vx-local"),
            ]),
        ),
        (
            // No route to b's services: they overlap c's own pod range.
            "c-gw",
            routes(&[
                ("10.1.1.0/24", "220.0.0.1", "vx-bridge"),
                ("10.11.0.0/16", "220.0.0.1", "vx-bridge"),
                ("10.2.0.0/16", "220.0.1.1", "vx-bridge"),
            ]),
        ),
        (
            "c-n2",
            routes(&[
                ("10.1.1.0/24", "210.0.2.1", "vx-local"),
                ("10.11.0.0/16", "210.0.2.1", "vx-local"),
                ("10.2.0.0/16", "210.0.2.1", "vx-local"),
            ]),
        ),
    ];
    for (node, expected) in cases {
        assert_eq!(spec(&desired, node).routes, expected, "{node}");
    }
    // The vx-bridge mesh spans a-n1, b-gw and c-gw.
    for node in ["a-n1", "b-gw", "c-gw"] {
        let bridge_arps = spec(&desired, node)
            .arps
            .iter()
            .filter(|arp| arp.dev == "vx-bridge")
            .count();
        assert_eq!(bridge_arps, 2, "{node}");
    }
}
