//! `globalCIDRsMap`: a cluster whose pod CIDR overlaps another's is shown
//! under a global CIDR, with NETMAP in and SNAT out on its `vx-bridge` nodes.

use super::fixtures::*;

#[test]
fn an_overlapping_cluster_is_reached_through_its_global_cidr() {
    let a = cluster("a", GATEWAY, &["10.1.0.0/16"], &["10.11.0.0/16"]);
    let mut b = cluster("b", GATEWAY, &["10.1.0.0/16"], &["10.22.0.0/16"]);
    // Written un-normalised on purpose: host bits set.
    options(&mut b)
        .global_cidrs_map
        .insert("10.1.2.3/16".to_owned(), "10.201.0.0/16".to_owned());
    let nodes = [
        gateway("a", "gw", "10.0.0.1"),
        node("a", "n2", "10.0.0.2"),
        gateway("b", "gw", "10.0.1.1"),
        node("b", "n2", "10.0.1.2"),
    ];
    let desired = run(&[a, b], &nodes);
    assert!(desired.warnings.is_empty(), "{:?}", desired.warnings);

    let cases = [
        (
            "a-gw",
            routes(&[
                ("10.201.0.0/16", "220.0.1.1", "vx-bridge"),
                ("10.22.0.0/16", "220.0.1.1", "vx-bridge"),
            ]),
        ),
        (
            "a-n2",
            routes(&[
                ("10.201.0.0/16", "210.0.0.1", "vx-local"),
                ("10.22.0.0/16", "210.0.0.1", "vx-local"),
            ]),
        ),
        // a's pod CIDR overlaps b's own (real) one, so b routes only a's services.
        ("b-gw", routes(&[("10.11.0.0/16", "220.0.0.1", "vx-bridge")])),
    ];
    for (node, expected) in cases {
        assert_eq!(spec(&desired, node).routes, expected, "{node}");
    }

    let mut got = rules(&desired, "b-gw");
    got.retain(|(_, rule)| !rule.contains("MASQUERADE"));
    got.sort();
    assert_eq!(
        got,
        [
            (
                "POSTROUTING".to_owned(),
                "-s 10.1.0.0/16 -o vx-bridge -j SNAT --to-source 10.201.0.0".to_owned()
            ),
            (
                "PREROUTING".to_owned(),
                "-d 10.201.0.0/16 -i vx-bridge -j NETMAP --to 10.1.0.0/16".to_owned()
            ),
        ]
    );
    // Only vx-bridge nodes of the mapped cluster carry the NAT rules.
    assert!(rules(&desired, "b-n2").is_empty());
    assert!(
        rules(&desired, "a-gw")
            .iter()
            .all(|(_, rule)| rule.contains("MASQUERADE"))
    );
}

#[test]
fn a_global_map_entry_that_does_not_parse_is_skipped_with_a_warning() {
    let a = cluster("a", P2P, &["10.1.0.0/16"], &[]);
    let mut b = cluster("b", P2P, &["10.2.0.0/16"], &[]);
    let map = &mut options(&mut b).global_cidrs_map;
    map.insert("10.2.0.0/16".to_owned(), "not-a-cidr".to_owned());
    map.insert("10.3.0.0/16".to_owned(), "fd00::/16".to_owned());
    let nodes = [
        with_pods(node("a", "n1", "10.0.0.1"), &["10.1.1.0/24"]),
        with_pods(node("b", "n1", "10.0.1.1"), &["10.2.1.0/24"]),
    ];
    let desired = run(&[a, b], &nodes);
    assert_eq!(
        spec(&desired, "a-n1").routes,
        routes(&[("10.2.1.0/24", "220.0.1.1", "vx-bridge")])
    );
    assert!(rules(&desired, "b-n1").is_empty());
    assert_eq!(desired.warnings.len(), 2, "{:?}", desired.warnings);
    assert!(desired.warnings.iter().all(|w| w.contains("globalCIDRsMap")));
}
