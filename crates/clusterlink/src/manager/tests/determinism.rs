//! `compute` is a pure function of its inputs as sets: any order of the input
//! lists gives the same output, and no input, however malformed, panics.

use super::fixtures::*;
use crate::manager::{Desired, compute};
use drmysql_api::clusterlink::{
    Cluster, ClusterLinkOptions, ClusterNode, ClusterNodeSpec, ClusterSpec, IpFamily, NetworkType, NodeConfig,
};
use proptest::prelude::*;

/// Every feature at once: p2p, gateway, dual stack, global map, elastic IPs,
/// a non-Calico CNI.
fn rich_inputs() -> (Vec<Cluster>, Vec<ClusterNode>) {
    let mut a = cluster("a", P2P, &["10.1.0.0/16", "fd01::/48"], &["10.11.0.0/16"]);
    options(&mut a).ip_family = IpFamily::All;
    options(&mut a)
        .node_elastic_ip_map
        .insert("n1".to_owned(), "203.0.113.1".to_owned());
    let mut b = cluster("b", GATEWAY, &["10.2.0.0/16"], &["10.22.0.0/16"]);
    options(&mut b).cni = "flannel".to_owned();
    let mut c = cluster("c", GATEWAY, &["10.2.0.0/16"], &["10.33.0.0/16"]);
    options(&mut c)
        .global_cidrs_map
        .insert("10.2.0.0/16".to_owned(), "10.202.0.0/16".to_owned());
    let dual = |mut node: ClusterNode, ip6: &str| {
        node.spec.ip6 = ip6.to_owned();
        node
    };
    let nodes = vec![
        dual(
            with_pods(
                gateway("a", "n1", "10.0.0.1"),
                &["10.1.1.0/24", "fd01:0:0:1::/64"],
            ),
            "fd00::a:1",
        ),
        dual(
            with_pods(node("a", "n2", "10.0.0.2"), &["10.1.2.0/24"]),
            "fd00::a:2",
        ),
        with_eip(gateway("b", "gw", "172.16.0.1"), "198.51.100.1"),
        node("b", "n2", "172.16.0.2"),
        node("b", "n3", "172.16.0.3"),
        gateway("c", "gw", "192.168.0.1"),
        node("c", "n2", "192.168.0.2"),
    ];
    (clusters_of([a, b, c]), nodes)
}

fn clusters_of<const N: usize>(clusters: [Cluster; N]) -> Vec<Cluster> {
    clusters.into_iter().collect()
}

fn rich_with_previous() -> (Vec<Cluster>, Vec<ClusterNode>, Vec<NodeConfig>) {
    let (clusters, nodes) = rich_inputs();
    let mut previous = as_previous(&run(&clusters, &nodes));
    // A Kosmos-written MAC to keep, and a config for a node that has left.
    if let Some(first) = previous.first_mut()
        && let Some(device) = first.spec.devices.first_mut()
    {
        device.mac = "92:1c:5e:00:aa:01".to_owned();
    }
    previous.push(NodeConfig::new("gone-n9", Default::default()));
    (clusters, nodes, previous)
}

#[test]
fn reversed_inputs_give_identical_output() {
    let (clusters, nodes, previous) = rich_with_previous();
    let forward = compute(&clusters, &nodes, &previous);
    let mut reversed = (clusters.clone(), nodes.clone(), previous.clone());
    reversed.0.reverse();
    reversed.1.reverse();
    reversed.2.reverse();
    let backward = compute(&reversed.0, &reversed.1, &reversed.2);
    assert_eq!(forward, backward);
    assert!(!forward.configs.contains_key("gone-n9"));
    assert_eq!(forward.configs.len(), 7);
    let json = |desired: &Desired| serde_json::to_string(&desired.configs).expect("serializes");
    assert_eq!(json(&forward), json(&backward));
}

proptest! {
    #[test]
    fn shuffled_inputs_give_identical_output(
        clusters in Just(rich_with_previous().0).prop_shuffle(),
        nodes in Just(rich_with_previous().1).prop_shuffle(),
        previous in Just(rich_with_previous().2).prop_shuffle(),
    ) {
        let (base_clusters, base_nodes, base_previous) = rich_with_previous();
        let expected = compute(&base_clusters, &base_nodes, &base_previous);
        prop_assert_eq!(compute(&clusters, &nodes, &previous), expected);
    }

    #[test]
    fn arbitrary_inputs_never_panic_and_are_order_independent(
        (clusters, shuffled_clusters) in shuffled(proptest::collection::vec(any_cluster(), 0..4)),
        (nodes, shuffled_nodes) in shuffled(proptest::collection::vec(any_node(), 0..7)),
    ) {
        let desired = compute(&clusters, &nodes, &[]);
        for name in desired.configs.keys() {
            prop_assert!(nodes.iter().any(|node| node.metadata.name.as_deref() == Some(name.as_str())));
        }
        let again = compute(&shuffled_clusters, &shuffled_nodes, &[]);
        prop_assert_eq!(desired, again);
    }
}

fn shuffled<T: Clone + std::fmt::Debug>(
    items: impl Strategy<Value = Vec<T>>,
) -> impl Strategy<Value = (Vec<T>, Vec<T>)> {
    items.prop_flat_map(|items| (Just(items.clone()), Just(items).prop_shuffle()))
}

/// Well-formed, edge-case and arbitrary strings for every address field.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("10.0.0.1".to_owned()),
        Just("10.0.0.2".to_owned()),
        Just("fd00::1".to_owned()),
        Just("203.0.113.7".to_owned()),
        Just("10.1.0.0/16".to_owned()),
        Just("10.1.0.0/24".to_owned()),
        Just("fd01::/48".to_owned()),
        Just("0.0.0.0/0".to_owned()),
        Just("::/0".to_owned()),
        Just("255.255.255.255/32".to_owned()),
        "[0-9a-f.:/]{0,20}",
        "\\PC{0,12}",
    ]
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(text(), 0..3)
}

fn any_cluster() -> impl Strategy<Value = Cluster> {
    (
        prop_oneof![Just("a"), Just("b"), Just("c")],
        any::<bool>(),
        prop_oneof![Just(IpFamily::All), Just(IpFamily::Ipv4), Just(IpFamily::Ipv6)],
        (texts(), texts(), texts()),
        proptest::collection::btree_map(text(), text(), 0..2),
        (text(), text(), text(), text()),
        prop_oneof![Just("calico"), Just("flannel"), Just("")],
    )
        .prop_map(
            |(name, p2p, family, (pods, services, manual), map, (l4, l6, b4, b6), cni)| {
                let mut cluster = Cluster::new(
                    name,
                    ClusterSpec {
                        cluster_link_options: Some(ClusterLinkOptions {
                            network_type: if p2p {
                                NetworkType::P2p
                            } else {
                                NetworkType::Gateway
                            },
                            ip_family: family,
                            cni: cni.to_owned(),
                            global_cidrs_map: map,
                            cluster_pod_cidrs: manual,
                            ..ClusterLinkOptions::default()
                        }),
                        ..ClusterSpec::default()
                    },
                );
                let link = options(&mut cluster);
                if !l4.is_empty() {
                    link.local_cidrs.ip = l4;
                }
                link.local_cidrs.ip6 = l6;
                if !b4.is_empty() {
                    link.bridge_cidrs.ip = b4;
                }
                link.bridge_cidrs.ip6 = b6;
                let mut status = drmysql_api::clusterlink::ClusterStatus::default();
                status.cluster_link_status.pod_cidrs = pods;
                status.cluster_link_status.service_cidrs = services;
                cluster.status = Some(status);
                cluster
            },
        )
}

fn any_node() -> impl Strategy<Value = ClusterNode> {
    (
        prop_oneof![Just("a"), Just("b"), Just("c"), Just("x")],
        prop_oneof![Just("n1"), Just("n2"), Just("n3"), Just("n4")],
        (text(), text(), text()),
        texts(),
        any::<bool>(),
        prop_oneof![Just("eth0"), Just("")],
    )
        .prop_map(|(cluster, node, (ip, ip6, eip), pods, gateway, interface)| {
            ClusterNode::new(
                &ClusterNode::name_for(cluster, node),
                ClusterNodeSpec {
                    cluster_name: cluster.to_owned(),
                    node_name: node.to_owned(),
                    pod_cidrs: pods,
                    ip,
                    elastic_ip: eip,
                    ip6,
                    roles: if gateway {
                        vec!["gateway".to_owned()]
                    } else {
                        Vec::new()
                    },
                    interface_name: interface.to_owned(),
                },
            )
        })
}
