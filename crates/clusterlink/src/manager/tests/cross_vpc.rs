//! Across VPCs: every `vx-bridge` node DNATs the internal IP of each remote
//! `vx-bridge` node that has an elastic IP to that elastic IP, in `OUTPUT`.

use super::fixtures::*;

fn dnat(internal: &str, elastic: &str) -> (String, String) {
    (
        "OUTPUT".to_owned(),
        format!("-d {internal}/32 -j DNAT --to-destination {elastic}"),
    )
}

#[test]
fn vx_bridge_nodes_dnat_remote_internal_ips_to_their_elastic_ips() {
    let mut a = cluster("a", P2P, &["10.1.0.0/16"], &[]);
    options(&mut a)
        .node_elastic_ip_map
        .insert("n1".to_owned(), "203.0.113.1".to_owned());
    let b = cluster("b", GATEWAY, &["10.2.0.0/16"], &[]);
    let c = cluster("c", GATEWAY, &["10.3.0.0/16"], &[]);
    let nodes = [
        with_pods(node("a", "n1", "10.0.0.1"), &["10.1.1.0/24"]),
        with_pods(node("a", "n2", "10.0.0.2"), &["10.1.2.0/24"]),
        with_eip(gateway("b", "gw", "172.16.0.1"), "198.51.100.1"),
        // An internal node's elastic IP is no use to others: it has no vx-bridge.
        with_eip(node("b", "n2", "172.16.0.2"), "198.51.100.2"),
        // c's gateway has no elastic IP: nobody DNATs to it.
        gateway("c", "gw", "192.168.0.1"),
    ];
    let desired = run(&[a, b, c], &nodes);

    let cases = [
        ("a-n1", vec![dnat("172.16.0.1", "198.51.100.1")]),
        ("a-n2", vec![dnat("172.16.0.1", "198.51.100.1")]),
        ("b-n2", vec![]),
        (
            "c-gw",
            vec![
                dnat("10.0.0.1", "203.0.113.1"),
                dnat("172.16.0.1", "198.51.100.1"),
            ],
        ),
    ];
    for (node, expected) in cases {
        let mut got: Vec<_> = rules(&desired, node)
            .into_iter()
            .filter(|(chain, _)| chain == "OUTPUT")
            .collect();
        got.sort();
        assert_eq!(got, expected, "{node}");
    }
    let b_gw: Vec<_> = rules(&desired, "b-gw")
        .into_iter()
        .filter(|(chain, _)| chain == "OUTPUT")
        .collect();
    assert_eq!(
        b_gw,
        [dnat("10.0.0.1", "203.0.113.1")],
        "not its own cluster's nodes"
    );
}
