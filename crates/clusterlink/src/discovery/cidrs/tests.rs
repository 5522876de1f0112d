//! The CIDR parsers, table-driven: every source, its malformed forms, and the
//! normalisation that makes two readings comparable.

use serde_json::json;

use super::*;

fn object(value: serde_json::Value) -> DynamicObject {
    serde_json::from_value(value).expect("a valid object")
}

fn pool(name: &str, spec: serde_json::Value) -> DynamicObject {
    object(
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": {"name": name}, "spec": spec}),
    )
}

fn affinity(name: &str, spec: serde_json::Value) -> DynamicObject {
    object(
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity", "metadata": {"name": name}, "spec": spec}),
    )
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

#[test]
fn normalise_clears_host_bits_sorts_dedups_and_skips_garbage() {
    let cases: &[(&[&str], &[&str])] = &[
        (&[], &[]),
        (&["10.244.1.7/16"], &["10.244.0.0/16"]),
        (
            &["10.2.0.0/16", "10.1.0.0/16", "10.2.3.4/16"],
            &["10.1.0.0/16", "10.2.0.0/16"],
        ),
        (&[" 10.1.0.0/16 ", "", "  "], &["10.1.0.0/16"]),
        (&["not-a-cidr", "10.1.0.0/33", "10.1.0.0/16"], &["10.1.0.0/16"]),
        (&["fd00:10:244::1/64"], &["fd00:10:244::/64"]),
        (&["10.0.0.1"], &["10.0.0.1/32"]),
        (&["fd00::/48", "10.96.0.0/12"], &["10.96.0.0/12", "fd00::/48"]),
    ];
    for (input, expected) in cases {
        assert_eq!(
            normalise(input.iter().copied(), "test"),
            strings(expected),
            "input {input:?}"
        );
    }
}

#[test]
fn overlap_is_containment_either_way_and_never_across_families() {
    let net = |text: &str| parse_cidr(text).expect("cidr");
    let cases = [
        ("10.0.0.0/8", "10.1.0.0/16", true),
        ("10.1.0.0/16", "10.0.0.0/8", true),
        ("10.1.0.0/16", "10.1.0.0/16", true),
        ("10.1.0.0/16", "10.2.0.0/16", false),
        ("10.1.0.0/16", "fd00::/8", false),
        ("fd00::/8", "fd00:1::/64", true),
    ];
    for (a, b, expected) in cases {
        assert_eq!(overlaps(&net(a), &net(b)), expected, "{a} vs {b}");
    }
}

#[test]
fn calico_pod_cidrs_skip_disabled_and_clusterlink_pools() {
    let pools = [
        pool(
            "default-ipv4-ippool",
            json!({"cidr": "10.244.0.0/16", "natOutgoing": true}),
        ),
        pool("default-ipv6-ippool", json!({"cidr": "fd00:10:244::/64"})),
        pool("extra", json!({"cidr": "10.245.0.0/16", "disabled": false})),
        pool("retired", json!({"cidr": "10.99.0.0/16", "disabled": true})),
        pool(
            "clusterlink-b-pod-10-2-0-0-16",
            json!({"cidr": "10.2.0.0/16", "disabled": true}),
        ),
        pool("clusterlinkish", json!({"cidr": "10.3.0.0/16"})),
        pool("no-cidr", json!({"natOutgoing": true})),
        pool("garbage", json!({"cidr": "ten.dot/16"})),
        pool("duplicate", json!({"cidr": "10.244.0.0/16"})),
    ];
    assert_eq!(
        calico_pod_cidrs(&pools),
        strings(&["10.244.0.0/16", "10.245.0.0/16", "fd00:10:244::/64"])
    );
    assert_eq!(calico_pod_cidrs(&[]), Vec::<String>::new());
}

#[test]
fn block_affinities_group_cidrs_by_node() {
    let affinities = [
        affinity(
            "n1-10-244-1-0-26",
            json!({"node": "n1", "cidr": "10.244.1.0/26", "state": "confirmed", "deleted": "false"}),
        ),
        affinity(
            "n1-10-244-1-64-26",
            json!({"node": "n1", "cidr": "10.244.1.64/26", "state": "confirmed"}),
        ),
        affinity(
            "n2-10-244-2-0-26",
            json!({"node": "n2", "cidr": "10.244.2.0/26", "state": "pending"}),
        ),
        affinity(
            "n2-gone",
            json!({"node": "n2", "cidr": "10.244.9.0/26", "deleted": "true"}),
        ),
        affinity(
            "n3-gone",
            json!({"node": "n3", "cidr": "10.244.3.0/26", "deleted": true}),
        ),
        affinity("no-node", json!({"cidr": "10.244.4.0/26"})),
        affinity("no-cidr", json!({"node": "n4"})),
        affinity("bad-cidr", json!({"node": "n5", "cidr": "nope"})),
        object(
            json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity", "metadata": {"name": "no-spec"}}),
        ),
    ];
    let by_node = block_affinity_cidrs(&affinities);
    assert_eq!(
        by_node,
        BTreeMap::from([
            ("n1".to_owned(), strings(&["10.244.1.0/26", "10.244.1.64/26"])),
            ("n2".to_owned(), strings(&["10.244.2.0/26"])),
            ("n5".to_owned(), Vec::new()),
        ])
    );
}

#[test]
fn flannel_net_conf_parsing() {
    let cases: &[(&str, Result<&[&str], &str>)] = &[
        (
            r#"{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}"#,
            Ok(&["10.244.0.0/16"]),
        ),
        (
            r#"{"Network": "10.244.0.0/16", "IPv6Network": "fd00:10:244::/56", "EnableIPv6": true}"#,
            Ok(&["10.244.0.0/16", "fd00:10:244::/56"]),
        ),
        (
            r#"{"IPv6Network": "fd00::/56", "EnableIPv4": false}"#,
            Ok(&["fd00::/56"]),
        ),
        (r#"{"Network": "10.244.1.1/16"}"#, Ok(&["10.244.0.0/16"])),
        (r#"{"Network": "garbage"}"#, Ok(&[])),
        (r#"{"Backend": {"Type": "vxlan"}}"#, Err("neither")),
        (r#"{"Network": 42}"#, Err("neither")),
        (r#"{"Network": "10.244.0.0/16""#, Err("not JSON")),
        ("", Err("not JSON")),
        ("[]", Err("neither")),
    ];
    for (input, expected) in cases {
        match (flannel_pod_cidrs(input), expected) {
            (Ok(found), Ok(expected)) => assert_eq!(found, strings(expected), "{input}"),
            (Err(message), Err(fragment)) => {
                assert!(message.contains(fragment), "{input}: {message}")
            }
            (found, expected) => panic!("{input}: got {found:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn cilium_cluster_pool_ranges() {
    let data = BTreeMap::from([
        (
            "cluster-pool-ipv4-cidr".to_owned(),
            "10.0.0.0/8 10.128.0.0/9".to_owned(),
        ),
        ("cluster-pool-ipv6-cidr".to_owned(), "fd02::/104".to_owned()),
        ("ipam".to_owned(), "cluster-pool".to_owned()),
    ]);
    assert_eq!(
        cilium_pod_cidrs(&data),
        strings(&["10.0.0.0/8", "10.128.0.0/9", "fd02::/104"])
    );
    assert_eq!(cilium_pod_cidrs(&BTreeMap::new()), Vec::<String>::new());
}

fn node(name: &str, spec: serde_json::Value) -> Node {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).expect("node")
}

#[test]
fn node_pod_cidrs_prefer_the_list_over_the_single_field() {
    let cases = [
        (
            json!({"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24", "fd00:1::/64"]}),
            vec!["10.244.1.0/24", "fd00:1::/64"],
        ),
        (json!({"podCIDR": "10.244.2.0/24"}), vec!["10.244.2.0/24"]),
        (
            json!({"podCIDR": "10.244.3.0/24", "podCIDRs": []}),
            vec!["10.244.3.0/24"],
        ),
        (json!({}), vec![]),
        (json!({"podCIDRs": ["junk"]}), vec![]),
    ];
    for (spec, expected) in cases {
        assert_eq!(
            node_pod_cidrs(&node("n", spec.clone())),
            strings(&expected),
            "{spec}"
        );
    }
    let no_spec: Node = serde_json::from_value(json!({"metadata": {"name": "bare"}})).expect("node");
    assert_eq!(node_pod_cidrs(&no_spec), Vec::<String>::new());
    let nodes = [
        node("a", json!({"podCIDRs": ["10.244.2.0/24"]})),
        node("b", json!({"podCIDRs": ["10.244.1.0/24"]})),
        node("c", json!({"podCIDRs": ["10.244.1.0/24"]})),
    ];
    assert_eq!(
        all_nodes_pod_cidrs(&nodes),
        strings(&["10.244.1.0/24", "10.244.2.0/24"])
    );
}

#[test]
fn service_range_argument_parsing() {
    let cases: &[(&[&str], Option<&[&str]>)] = &[
        (
            &["kube-apiserver", "--service-cluster-ip-range=10.96.0.0/12"],
            Some(&["10.96.0.0/12"]),
        ),
        (
            &[
                "kube-apiserver",
                "--service-cluster-ip-range=10.96.0.0/12,fd00:10:96::/112",
            ],
            Some(&["10.96.0.0/12", "fd00:10:96::/112"]),
        ),
        (
            &["--service-cluster-ip-range=fd00:10:96::/112,10.96.0.0/12"],
            Some(&["10.96.0.0/12", "fd00:10:96::/112"]),
        ),
        (
            &["--service-cluster-ip-range", "10.43.0.0/16"],
            Some(&["10.43.0.0/16"]),
        ),
        (
            &["--service-cluster-ip-range=10.96.0.1/12"],
            Some(&["10.96.0.0/12"]),
        ),
        (
            &["--service-cluster-ip-range=10.96.0.0/12,,junk"],
            Some(&["10.96.0.0/12"]),
        ),
        (&["--service-cluster-ip-range="], Some(&[])),
        (&["--service-cluster-ip-range"], None),
        (&["--service-cluster-ip-ranges=10.0.0.0/8"], None),
        (
            &["--service-node-port-range=30000-32767", "--secure-port=6443"],
            None,
        ),
        (&[], None),
    ];
    for (args, expected) in cases {
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        assert_eq!(service_cidrs_from_args(&args), expected.map(strings), "{args:?}");
    }
}

fn apiserver(name: &str, command: &[&str], args: &[&str]) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"component": "kube-apiserver"}},
        "spec": {"containers": [
            {"name": "sidecar", "image": "x"},
            {"name": "kube-apiserver", "image": "k", "command": command, "args": args}
        ]}
    }))
    .expect("pod")
}

#[test]
fn service_cidrs_come_from_the_first_apiserver_that_states_them() {
    let kubeadm = apiserver(
        "kube-apiserver-cp2",
        &["kube-apiserver", "--service-cluster-ip-range=10.96.0.0/12"],
        &[],
    );
    let in_args = apiserver(
        "kube-apiserver-cp1",
        &["kube-apiserver"],
        &["--service-cluster-ip-range=10.100.0.0/16,fd00::/108"],
    );
    let silent = apiserver("kube-apiserver-cp0", &["kube-apiserver"], &[]);
    assert_eq!(
        apiserver_service_cidrs(&kubeadm),
        Some(strings(&["10.96.0.0/12"]))
    );
    assert_eq!(apiserver_service_cidrs(&silent), None);
    assert_eq!(
        cluster_service_cidrs(&[kubeadm.clone(), silent.clone(), in_args]),
        Some(strings(&["10.100.0.0/16", "fd00::/108"])),
        "cp1 comes first by name; cp0 states nothing"
    );
    assert_eq!(cluster_service_cidrs(&[silent]), None);
    assert_eq!(cluster_service_cidrs(&[]), None);
}
