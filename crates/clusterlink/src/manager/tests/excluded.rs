//! The input filter: what is left out names the field at fault, what is
//! unparsable inside a valid object is skipped with a warning, and nothing
//! panics or takes the valid objects down with it.

use super::fixtures::*;
use crate::manager::Excluded;
use drmysql_api::clusterlink::{Cluster, ClusterNode, ClusterSpec, IpFamily};

#[test]
fn invalid_objects_are_excluded_with_the_field_at_fault() {
    let mut disabled = cluster("off", P2P, &["10.9.0.0/16"], &[]);
    options(&mut disabled).enable = false;
    let mut dual = cluster("dual", P2P, &["10.8.0.0/16"], &[]);
    options(&mut dual).ip_family = IpFamily::All;
    let clusters = [
        cluster("a", P2P, &["10.1.0.0/16"], &[]),
        Cluster::new("bare", ClusterSpec::default()),
        disabled,
        dual,
    ];
    let mut no_interface = node("a", "noif", "10.0.0.9");
    no_interface.spec.interface_name.clear();
    let mut no_cluster = node("a", "nocluster", "10.0.0.8");
    no_cluster.spec.cluster_name.clear();
    let mut duplicate = node("a", "n1", "10.0.0.77");
    duplicate.spec.interface_name = "eth7".to_owned();
    let nodes = [
        node("a", "n1", "10.0.0.1"),
        duplicate,
        no_interface,
        no_cluster,
        node("ghost", "n1", "10.0.5.1"),
        node("off", "n1", "10.0.6.1"),
        node("a", "noip", ""),
        node("a", "badip", "10.0.0.300"),
        node("dual", "noip6", "10.0.7.1"),
        ClusterNode::new("", Default::default()),
    ];
    let desired = run(&clusters, &nodes);

    let expected: &[(&str, &str, &str)] = &[
        ("Cluster", "bare", "spec.clusterLinkOptions is missing"),
        ("Cluster", "off", "spec.clusterLinkOptions.enable is false"),
        ("ClusterNode", "", "metadata.name is empty"),
        (
            "ClusterNode",
            "a-badip",
            "spec.ip \"10.0.0.300\" is not an IPv4 address",
        ),
        ("ClusterNode", "a-n1", "metadata.name repeats"),
        ("ClusterNode", "a-nocluster", "spec.clusterName is empty"),
        ("ClusterNode", "a-noif", "spec.interfaceName is empty"),
        ("ClusterNode", "a-noip", "spec.ip is empty"),
        ("ClusterNode", "dual-noip6", "spec.ip6 is empty"),
        ("ClusterNode", "ghost-n1", "spec.clusterName \"ghost\""),
        ("ClusterNode", "off-n1", "spec.clusterName \"off\""),
    ];
    let got: Vec<&Excluded> = desired.excluded.iter().collect();
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (excluded, (kind, name, reason)) in got.iter().zip(expected) {
        assert_eq!(
            (excluded.kind, excluded.name.as_str()),
            (*kind, *name),
            "{excluded:?}"
        );
        assert!(
            excluded.reason.starts_with(reason),
            "{excluded:?} should start with {reason:?}"
        );
    }
    // The valid node is still computed, and the kept a-n1 is the same whatever
    // the input order (first by JSON: eth0 sorts before eth7).
    assert_eq!(desired.configs.keys().collect::<Vec<_>>(), ["a-n1"]);
    assert_eq!(
        device(&desired, "a-n1", "vx-bridge").expect("vx-bridge").bind_dev,
        "eth0"
    );
}

#[test]
fn unparsable_cidrs_and_addresses_are_skipped_with_warnings() {
    let mut a = cluster("a", GATEWAY, &["10.1.0.0/16", "garbage"], &["10.11.0.0/33"]);
    options(&mut a).bridge_cidrs.ip = "220.0.0.0".to_owned();
    let mut b = cluster("b", P2P, &["10.2.0.0/16"], &[]);
    options(&mut b)
        .node_elastic_ip_map
        .insert("n1".to_owned(), "eip?".to_owned());
    let nodes = [
        gateway("a", "gw", "10.0.0.1"),
        with_pods(node("b", "n1", "10.0.1.1"), &["10.2.1.0/24", "10.2.2.0"]),
    ];
    let desired = run(&[a, b], &nodes);
    assert!(desired.excluded.is_empty(), "{:?}", desired.excluded);

    let expected = [
        "\"garbage\" is not a CIDR",
        "serviceCIDRs: \"10.11.0.0/33\"",
        "bridgeCIDRs.ip: \"220.0.0.0\"",
        "nodeElasticIPMap[\"n1\"]: \"eip?\"",
        "spec.podCIDRs: \"10.2.2.0\"",
        // Without a vx-bridge address, a-gw cannot be a route target.
        "\"a-gw\" has no vx-bridge device",
    ];
    for fragment in expected {
        assert!(
            desired.warnings.iter().any(|w| w.contains(fragment)),
            "no warning containing {fragment:?} in {:#?}",
            desired.warnings
        );
    }
    assert_eq!(device_names(&desired, "a-gw"), ["vx-local"]);
    assert_eq!(device_names(&desired, "b-n1"), ["vx-bridge"]);
    assert!(spec(&desired, "b-n1").routes.is_empty());
}

#[test]
fn status_without_pod_cidrs_falls_back_to_the_manual_list() {
    let a = cluster("a", GATEWAY, &[], &[]);
    let mut b = cluster("b", GATEWAY, &[], &[]);
    options(&mut b).cluster_pod_cidrs = vec!["10.2.0.0/16".to_owned()];
    let nodes = [gateway("a", "gw", "10.0.0.1"), gateway("b", "gw", "10.0.1.1")];
    let desired = run(&[a, b], &nodes);
    assert_eq!(
        spec(&desired, "a-gw").routes,
        routes(&[("10.2.0.0/16", "220.0.1.1", "vx-bridge")])
    );
    assert!(spec(&desired, "b-gw").routes.is_empty());
}
