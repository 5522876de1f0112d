//! Wire compatibility with Kosmos's `kosmos.io/v1alpha1` kinds: objects as Kosmos
//! writes them (Go's JSON encoding, its IPsec pull request's fields included)
//! deserialize here, mean the same thing, are admitted by drmysql's CRDs, and
//! serialize back under Kosmos's field names. The one deliberate difference: a
//! `PSK` in an xfrm state is dropped, because keys never live in a NodeConfig.

use drmysql_api::clusterlink::{
    Cluster, ClusterNode, IpFamily, NetworkType, NodeConfig, XfrmDirection, XfrmState,
};
use drmysql_api::structural::{admit, version_schema};
use kube::CustomResourceExt;
use serde_json::{Value, json};

fn schema_of<K: CustomResourceExt>() -> Value {
    version_schema(&K::crd(), "v1alpha1").expect("schema")
}

fn admitted<K: CustomResourceExt>(object: &Value) -> Value {
    admit(&schema_of::<K>(), object, None).unwrap_or_else(|violations| {
        panic!(
            "refused: {:#?}",
            violations.iter().map(ToString::to_string).collect::<Vec<_>>()
        )
    })
}

/// A NodeConfig as Kosmos's network manager writes it for a p2p node, including
/// Go's `null` for the zero `metav1.Time` values in status.
fn kosmos_node_config() -> Value {
    json!({
        "apiVersion": "kosmos.io/v1alpha1",
        "kind": "NodeConfig",
        "metadata": {"name": "member-tencent-vm-0-10-rockylinux", "annotations": {"prev": "{}"}},
        "spec": {
            "devices": [{"type": "vxlan", "name": "vx-bridge", "addr": "220.0.0.10/8", "mac": "ba:d8:52:8f:1c:3e",
                         "bindDev": "eth0", "id": 54, "port": 4876}],
            "routes": [{"cidr": "100.64.0.0/10", "gw": "220.0.0.7", "dev": "vx-bridge"}],
            "iptables": [{"table": "nat", "chain": "POSTROUTING", "rule": "-s 220.0.0.0/8 -j MASQUERADE"}],
            "fdbs": [{"ip": "10.0.0.7", "mac": "00:00:00:00:00:00", "dev": "vx-bridge"},
                     {"ip": "10.0.0.7", "mac": "ce:41:0c:7a:55:01", "dev": "vx-bridge"}],
            "arps": [{"ip": "220.0.0.7", "mac": "ce:41:0c:7a:55:01", "dev": "vx-bridge"}],
            "xfrmpolicies": [{"leftip": "10.0.0.10", "leftnet": "100.128.0.0/10", "rightip": "124.220.61.33",
                              "rightnet": "100.64.0.0/10", "reqid": 336, "dir": 1}],
            "xfrmstates": [{"leftip": "10.0.0.10", "rightip": "124.220.61.33", "reqid": 336, "spi": 3456789012u32,
                            "PSK": "3d521d8fafbb1e648a2cc42acaba9d64ce0a1b14"}],
            "ipsetsavoidmasq": [{"cidr": "100.64.0.0/10", "name": "kosmosipset"}]
        },
        "status": {"lastChangeTime": null, "lastSyncTime": null}
    })
}

#[test]
fn a_kosmos_node_config_deserializes_and_means_the_same() {
    let written = kosmos_node_config();
    let node_config: NodeConfig =
        serde_json::from_value(written.clone()).expect("Kosmos NodeConfig deserializes");
    let spec = &node_config.spec;
    assert_eq!(spec.devices[0].name, "vx-bridge");
    assert_eq!(spec.devices[0].bind_dev, "eth0");
    assert_eq!((spec.devices[0].id, spec.devices[0].port), (54, 4876));
    assert_eq!(spec.routes[0].gw, "220.0.0.7");
    assert_eq!(spec.iptables[0].chain, "POSTROUTING");
    assert_eq!(spec.fdbs.len(), 2);
    assert_eq!(spec.arps[0].mac, "ce:41:0c:7a:55:01");
    assert_eq!(spec.xfrm_policies[0].direction(), Some(XfrmDirection::Out));
    assert_eq!(spec.xfrm_states[0].spi, 3_456_789_012);
    assert_eq!(spec.ipsets_avoid_masq[0].name, "kosmosipset");
    assert_eq!(
        node_config.status.as_ref().and_then(|s| s.last_sync_time.clone()),
        None
    );

    // Serialized back, every Kosmos field keeps its name and value, except the key.
    let mut expected = written["spec"].clone();
    expected["xfrmstates"][0]
        .as_object_mut()
        .expect("state")
        .remove("PSK");
    assert_eq!(
        serde_json::to_value(&node_config).expect("serializes")["spec"],
        expected
    );
}

#[test]
fn a_kosmos_node_config_is_admitted_once_its_key_is_pruned() {
    let mut written = kosmos_node_config();
    // An API server with drmysql's CRD prunes the unknown PSK field (with a warning)
    // unless the writer asked for strict validation; what is stored has no key.
    let strict = admit(&schema_of::<NodeConfig>(), &written, None);
    assert!(strict.is_err(), "PSK is not a field of drmysql's NodeConfig");
    written["spec"]["xfrmstates"][0]
        .as_object_mut()
        .expect("state")
        .remove("PSK");
    admitted::<NodeConfig>(&written);
}

#[test]
fn xfrm_states_carry_no_key_material() {
    let state = XfrmState {
        left_ip: "10.0.0.10".into(),
        right_ip: "124.220.61.33".into(),
        req_id: 336,
        spi: 7,
        peer: "host-vm-0-7-rockylinux".into(),
    };
    let json = serde_json::to_value(&state).expect("serializes");
    let keys: Vec<&String> = json.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["leftip", "peer", "reqid", "rightip", "spi"]);
}

#[test]
fn a_kosmos_cluster_with_elastic_ips_deserializes_and_is_admitted() {
    let written = json!({
        "apiVersion": "kosmos.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": "member-tencent"},
        "spec": {
            "kubeconfig": "YXBpVmVyc2lvbjogdjEK",
            "namespace": "kosmos-system",
            "imageRepository": "registry.example/kosmos",
            "clusterLinkOptions": {
                "enable": true, "cni": "calico", "networkType": "gateway", "ipFamily": "ipv4",
                "localCIDRs": {"ip": "210.0.0.0/8", "ip6": "9480::/16"},
                "bridgeCIDRs": {"ip": "220.0.0.0/8", "ip6": "9470::/16"},
                "defaultNICName": "eth0",
                "globalCIDRsMap": {"10.233.0.0/18": "10.100.0.0/18"},
                "autodetectionMethod": "can-reach=10.0.0.1",
                "nodeElasticIPMap": {"vm-0-10-rockylinux": "150.158.88.185"},
                "clusterpodCIDRs": ["100.128.0.0/10"],
                "useexternalapiserver": true
            },
            "clusterTreeOptions": {"enable": true}
        },
        "status": {"clusterLinkStatus": {"podCIDRs": ["100.128.0.0/10"], "serviceCIDRs": ["10.96.0.0/12"]},
                   "clusterTreeStatus": {}}
    });
    admitted::<Cluster>(&written);
    let cluster: Cluster = serde_json::from_value(written).expect("Kosmos Cluster deserializes");
    let options = cluster.enabled_link_options().expect("link enabled");
    assert_eq!(options.network_type, NetworkType::Gateway);
    assert_eq!(options.ip_family, IpFamily::Ipv4);
    assert!(options.ip_family.has_ipv4() && !options.ip_family.has_ipv6());
    assert_eq!(
        options.node_elastic_ip_map["vm-0-10-rockylinux"],
        "150.158.88.185"
    );
    assert_eq!(options.global_cidrs_map["10.233.0.0/18"], "10.100.0.0/18");
    assert_eq!(options.cluster_pod_cidrs, ["100.128.0.0/10"]);
    assert!(options.use_external_apiserver);
    assert_eq!(
        cluster.spec.kubeconfig.as_ref().map(|bytes| bytes.0.clone()),
        Some(b"apiVersion: v1\n".to_vec())
    );
    let status = cluster.status.expect("status");
    assert_eq!(status.cluster_link_status.service_cidrs, ["10.96.0.0/12"]);
}

#[test]
fn cluster_defaults_are_kosmos_defaults() {
    let defaulted = admitted::<Cluster>(&json!({
        "apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "host"},
        "spec": {"clusterLinkOptions": {}}
    }));
    let options = &defaulted["spec"]["clusterLinkOptions"];
    assert_eq!(defaulted["spec"]["namespace"], "kosmos-system");
    assert_eq!(options["enable"], true);
    assert_eq!(options["cni"], "calico");
    assert_eq!(options["networkType"], "p2p");
    assert_eq!(options["ipFamily"], "all");
    assert_eq!(options["defaultNICName"], "*");
    assert_eq!(
        options["localCIDRs"],
        json!({"ip": "210.0.0.0/8", "ip6": "9480::/16"})
    );
    assert_eq!(
        options["bridgeCIDRs"],
        json!({"ip": "220.0.0.0/8", "ip6": "9470::/16"})
    );

    let typed: Cluster = serde_json::from_value(json!({
        "apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "host"},
        "spec": {"clusterLinkOptions": {}}
    }))
    .expect("deserializes");
    let from_serde =
        serde_json::to_value(typed.spec.cluster_link_options.expect("options")).expect("serializes");
    assert_eq!(&from_serde, options, "serde defaults agree with the CRD defaults");
}

#[test]
fn a_disabled_cluster_has_no_link_options() {
    let cluster: Cluster = serde_json::from_value(json!({
        "apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "off"},
        "spec": {"clusterLinkOptions": {"enable": false}}
    }))
    .expect("deserializes");
    assert!(cluster.enabled_link_options().is_none());
}

#[test]
fn a_kosmos_cluster_node_deserializes_and_is_admitted() {
    let written = json!({
        "apiVersion": "kosmos.io/v1alpha1",
        "kind": "ClusterNode",
        "metadata": {"name": "member-tencent-vm-0-10-rockylinux", "labels": {"kosmos.io/cluster": "member-tencent"}},
        "spec": {"clusterName": "member-tencent", "nodeName": "vm-0-10-rockylinux", "podCIDRs": ["100.128.1.0/24"],
                 "ip": "10.0.0.10", "elasticip": "150.158.88.185", "roles": ["Gateway"], "interfaceName": "eth0"},
        "status": {"nodeStatus": "Ready"}
    });
    admitted::<ClusterNode>(&written);
    let node: ClusterNode = serde_json::from_value(written.clone()).expect("deserializes");
    assert!(
        node.is_gateway(),
        "roles compare case-insensitively, as in Kosmos"
    );
    assert_eq!(node.spec.elastic_ip, "150.158.88.185");
    assert_eq!(
        ClusterNode::name_for("member-tencent", "vm-0-10-rockylinux"),
        "member-tencent-vm-0-10-rockylinux"
    );
    assert_eq!(
        serde_json::to_value(&node).expect("serializes")["spec"],
        written["spec"]
    );

    // Kosmos always writes interfaceName, even empty, before the agent fills it.
    let fresh: ClusterNode = serde_json::from_value(json!({
        "apiVersion": "kosmos.io/v1alpha1", "kind": "ClusterNode", "metadata": {"name": "host-n1"},
        "spec": {"clusterName": "host", "nodeName": "n1", "interfaceName": ""}
    }))
    .expect("deserializes");
    assert!(!fresh.is_gateway());
    assert_eq!(
        serde_json::to_value(&fresh).expect("serializes")["spec"]["interfaceName"],
        ""
    );
}
