//! `ipFamily: all`: every device, route, neighbour and MASQUERADE rule exists
//! for IPv6 too, on the `-6` devices; a cluster that joins IPv4 only gets none
//! of the IPv6 ones.

use super::fixtures::*;
use drmysql_api::clusterlink::{Cluster, ClusterNode, IpFamily};

fn dual(
    name: &str,
    mode: drmysql_api::clusterlink::NetworkType,
    pods: &[&str],
    services: &[&str],
) -> Cluster {
    let mut cluster = cluster(name, mode, pods, services);
    options(&mut cluster).ip_family = IpFamily::All;
    cluster
}

fn with_ip6(mut node: ClusterNode, ip6: &str) -> ClusterNode {
    node.spec.ip6 = ip6.to_owned();
    node
}

#[test]
fn dual_stack_gateway_clusters_get_ipv6_devices_routes_and_rules() {
    let clusters = [
        dual(
            "a",
            GATEWAY,
            &["10.1.0.0/16", "fd01::/48"],
            &["10.11.0.0/16", "fd11::/108"],
        ),
        dual(
            "b",
            GATEWAY,
            &["10.2.0.0/16", "fd02::/48"],
            &["10.22.0.0/16", "fd22::/108"],
        ),
    ];
    let nodes = [
        with_ip6(gateway("a", "gw", "10.0.0.1"), "fd00::a:1"),
        with_ip6(node("a", "n2", "10.0.0.2"), "fd00::a:2"),
        with_ip6(gateway("b", "gw", "10.0.1.1"), "fd00::b:1"),
        with_ip6(node("b", "n2", "10.0.1.2"), "fd00::b:2"),
    ];
    let desired = run(&clusters, &nodes);
    assert!(desired.excluded.is_empty(), "{:?}", desired.excluded);

    let devices: Vec<_> = spec(&desired, "a-gw")
        .devices
        .iter()
        .map(|d| (d.name.as_str(), d.addr.as_str(), d.id, d.port))
        .collect();
    assert_eq!(
        devices,
        [
            ("vx-bridge", "220.0.0.1/8", 54, 4876),
            ("vx-bridge-6", "9470::a:1/16", 64, 4866),
            ("vx-local", "210.0.0.1/8", 55, 4877),
            ("vx-local-6", "9480::a:1/16", 65, 4867),
        ]
    );
    assert_eq!(device_names(&desired, "a-n2"), ["vx-local", "vx-local-6"]);

    let cases = [
        (
            "a-gw",
            routes(&[
                ("10.2.0.0/16", "220.0.1.1", "vx-bridge"),
                ("10.22.0.0/16", "220.0.1.1", "vx-bridge"),
                ("fd02::/48", "9470::b:1", "vx-bridge-6"),
                ("fd22::/108", "9470::b:1", "vx-bridge-6"),
            ]),
        ),
        (
            "a-n2",
            routes(&[
                ("10.2.0.0/16", "210.0.0.1", "vx-local"),
                ("10.22.0.0/16", "210.0.0.1", "vx-local"),
                ("fd02::/48", "9480::a:1", "vx-local-6"),
                ("fd22::/108", "9480::a:1", "vx-local-6"),
            ]),
        ),
    ];
    for (node, expected) in cases {
        assert_eq!(spec(&desired, node).routes, expected, "{node}");
    }

    let mut masquerade = rules(&desired, "a-gw");
    masquerade.sort();
    let mut expected: Vec<(String, String)> = [
        "-s 210.0.0.0/8 -o vx-bridge -j MASQUERADE",
        "-s 220.0.0.0/8 -j MASQUERADE",
        "-s 9480::/16 -o vx-bridge-6 -j MASQUERADE",
        "-s 9470::/16 -j MASQUERADE",
    ]
    .iter()
    .map(|rule| ("POSTROUTING".to_owned(), (*rule).to_owned()))
    .collect();
    expected.sort();
    assert_eq!(masquerade, expected);

    let a_n2 = spec(&desired, "a-n2");
    assert!(
        a_n2.fdbs
            .iter()
            .any(|f| f.ip == "fd00::a:1" && f.dev == "vx-local-6")
    );
    assert!(
        a_n2.arps
            .iter()
            .any(|a| a.ip == "9480::a:1" && a.dev == "vx-local-6")
    );
    let a_gw = spec(&desired, "a-gw");
    assert!(
        a_gw.arps
            .iter()
            .any(|a| a.ip == "9470::b:1" && a.dev == "vx-bridge-6")
    );
    assert!(
        a_gw.arps
            .iter()
            .any(|a| a.ip == "9480::a:2" && a.dev == "vx-local-6"),
        "return path"
    );
}

#[test]
fn an_ipv4_only_cluster_gets_no_ipv6_from_a_dual_stack_peer() {
    let clusters = [
        cluster("a", P2P, &["10.1.0.0/16"], &[]),
        dual("b", P2P, &["10.2.0.0/16", "fd02::/48"], &[]),
    ];
    let nodes = [
        with_pods(node("a", "n1", "10.0.0.1"), &["10.1.1.0/24", "fd01:0:0:1::/64"]),
        with_pods(
            with_ip6(node("b", "n1", "10.0.1.1"), "fd00::b:1"),
            &["10.2.1.0/24", "fd02:0:0:1::/64"],
        ),
    ];
    let desired = run(&clusters, &nodes);
    assert_eq!(device_names(&desired, "a-n1"), ["vx-bridge"]);
    assert_eq!(device_names(&desired, "b-n1"), ["vx-bridge", "vx-bridge-6"]);
    assert_eq!(
        spec(&desired, "a-n1").routes,
        routes(&[("10.2.1.0/24", "220.0.1.1", "vx-bridge")])
    );
    // a's IPv6 pod CIDR is filtered out by a's own ipFamily.
    assert_eq!(
        spec(&desired, "b-n1").routes,
        routes(&[("10.1.1.0/24", "220.0.0.1", "vx-bridge")])
    );
    assert!(spec(&desired, "b-n1").fdbs.iter().all(|f| f.dev == "vx-bridge"));
}

#[test]
fn an_ipv6_only_cluster_needs_no_ipv4_address() {
    let mut a = cluster("a", P2P, &["fd01::/48"], &[]);
    options(&mut a).ip_family = IpFamily::Ipv6;
    let mut b = cluster("b", P2P, &["fd02::/48"], &[]);
    options(&mut b).ip_family = IpFamily::Ipv6;
    let nodes = [
        with_pods(with_ip6(node("a", "n1", ""), "fd00::a:1"), &["fd01:0:0:1::/64"]),
        with_pods(with_ip6(node("b", "n1", ""), "fd00::b:1"), &["fd02:0:0:1::/64"]),
    ];
    let desired = run(&[a, b], &nodes);
    assert!(desired.excluded.is_empty(), "{:?}", desired.excluded);
    assert_eq!(device_names(&desired, "a-n1"), ["vx-bridge-6"]);
    assert_eq!(
        spec(&desired, "a-n1").routes,
        routes(&[("fd02:0:0:1::/64", "9470::b:1", "vx-bridge-6")])
    );
}
