//! Non-Calico clusters keep pod source IPs with an ipset of every other
//! cluster's pod CIDRs (global map applied); Calico clusters get none.

use super::fixtures::*;
use crate::manager::AVOID_MASQ_IPSET;
use drmysql_api::clusterlink::IpsetAvoidMasq;

fn entries(cidrs: &[&str]) -> Vec<IpsetAvoidMasq> {
    let mut entries: Vec<_> = cidrs
        .iter()
        .map(|cidr| IpsetAvoidMasq {
            cidr: (*cidr).to_owned(),
            name: "drmysql-avoid-masq".to_owned(),
        })
        .collect();
    entries.sort();
    entries
}

#[test]
fn every_node_of_a_non_calico_cluster_gets_the_other_clusters_pod_cidrs() {
    assert_eq!(AVOID_MASQ_IPSET, "drmysql-avoid-masq");
    let mut a = cluster("a", GATEWAY, &["10.1.0.0/16"], &["10.11.0.0/16"]);
    options(&mut a).cni = "flannel".to_owned();
    let b = cluster("b", P2P, &["10.2.0.0/16"], &["10.22.0.0/16"]);
    let mut c = cluster("c", GATEWAY, &["10.1.0.0/16"], &[]);
    options(&mut c).cni = "Cilium".to_owned();
    options(&mut c)
        .global_cidrs_map
        .insert("10.1.0.0/16".to_owned(), "10.201.0.0/16".to_owned());
    let mut d = cluster("d", GATEWAY, &["10.4.0.0/16"], &[]);
    options(&mut d).cni = "globalrouter".to_owned();
    let nodes = [
        gateway("a", "gw", "10.0.0.1"),
        node("a", "n2", "10.0.0.2"),
        // p2p: the node's own pod CIDR is what others route; the cluster's too.
        with_pods(gateway("b", "n1", "10.0.1.1"), &["10.2.1.0/24"]),
        gateway("c", "gw", "10.0.2.1"),
        gateway("d", "gw", "10.0.3.1"),
    ];
    let desired = run(&[a, b, c, d], &nodes);

    let for_a = entries(&["10.2.0.0/16", "10.2.1.0/24", "10.201.0.0/16", "10.4.0.0/16"]);
    let cases = [
        ("a-gw", for_a.clone()),
        ("a-n2", for_a),
        ("b-n1", Vec::new()),
        (
            "c-gw",
            entries(&["10.1.0.0/16", "10.2.0.0/16", "10.2.1.0/24", "10.4.0.0/16"]),
        ),
        (
            "d-gw",
            entries(&["10.1.0.0/16", "10.2.0.0/16", "10.2.1.0/24", "10.201.0.0/16"]),
        ),
    ];
    for (node, expected) in cases {
        assert_eq!(spec(&desired, node).ipsets_avoid_masq, expected, "{node}");
    }
}

#[test]
fn an_empty_cni_means_the_calico_default() {
    let mut a = cluster("a", P2P, &["10.1.0.0/16"], &[]);
    options(&mut a).cni = String::new();
    let b = cluster("b", P2P, &["10.2.0.0/16"], &[]);
    let nodes = [node("a", "n1", "10.0.0.1"), node("b", "n1", "10.0.1.1")];
    let desired = run(&[a, b], &nodes);
    assert!(
        desired
            .configs
            .values()
            .all(|spec| spec.ipsets_avoid_masq.is_empty())
    );
}
