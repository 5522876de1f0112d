//! The JSON of a computed NodeConfig uses Kosmos's field names, so Kosmos's
//! agent (and anything reading Kosmos NodeConfigs) reads ours.

use super::fixtures::*;
use crate::ipsec;
use crate::manager::compute;
use drmysql_api::clusterlink::{Device, NodeConfig, NodeConfigSpec};
use serde_json::{Value, json};

#[test]
fn node_config_json_uses_kosmos_field_names() {
    let mut a = cluster("a", GATEWAY, &["10.1.0.0/16"], &["10.11.0.0/16"]);
    options(&mut a).cni = "flannel".to_owned();
    let b = cluster("b", GATEWAY, &["10.2.0.0/16"], &["10.22.0.0/16"]);
    let nodes = [
        with_eip(gateway("a", "gw", "10.0.0.1"), "203.0.113.1"),
        node("a", "n2", "10.0.0.2"),
        with_eip(gateway("b", "gw", "172.16.0.1"), "198.51.100.1"),
    ];
    let desired = run(&[a, b], &nodes);
    let config = NodeConfig::new("a-gw", spec(&desired, "a-gw").clone());
    let value = serde_json::to_value(&config).expect("serializes");
    let spec = &value["spec"];

    let keys = |item: &Value| -> Vec<String> {
        let mut keys: Vec<String> = item.as_object().expect("an object").keys().cloned().collect();
        keys.sort();
        keys
    };
    let cases: [(&str, &[&str]); 6] = [
        (
            "devices",
            &["addr", "bindDev", "id", "mac", "name", "port", "type"],
        ),
        ("iptables", &["chain", "rule", "table"]),
        ("fdbs", &["dev", "ip", "mac"]),
        ("arps", &["dev", "ip", "mac"]),
        (
            "xfrmpolicies",
            &["dir", "leftip", "leftnet", "reqid", "rightip", "rightnet"],
        ),
        ("xfrmstates", &["leftip", "peer", "reqid", "rightip", "spi"]),
    ];
    for (list, expected) in cases {
        let first = &spec[list][0];
        assert_eq!(keys(first), expected, "{list}: {first}");
    }
    assert_eq!(keys(&spec["ipsetsavoidmasq"][0]), ["cidr", "name"]);
    assert_eq!(value["apiVersion"], "kosmos.io/v1alpha1");
    assert_eq!(value["kind"], "NodeConfig");
    // a-gw sends b's CIDRs through ESP: no routes, and no PSK field anywhere.
    assert!(spec.get("routes").is_none(), "{spec}");
    assert!(!value.to_string().contains("PSK"));
}

#[test]
fn a_small_p2p_pair_matches_the_golden_json() {
    let clusters = [
        cluster("a", P2P, &["10.1.0.0/16"], &[]),
        cluster("b", P2P, &["10.2.0.0/16"], &[]),
    ];
    let nodes = [
        with_pods(node("a", "n1", "10.0.0.1"), &["10.1.1.0/24"]),
        with_pods(node("b", "n1", "10.0.1.1"), &["10.2.1.0/24"]),
    ];
    // MACs as Kosmos wrote them, so the golden text does not depend on hashing.
    let previous = |name: &str, mac: &str| {
        NodeConfig::new(
            name,
            NodeConfigSpec {
                devices: vec![Device {
                    name: "vx-bridge".to_owned(),
                    mac: mac.to_owned(),
                    ..Device::default()
                }],
                ..NodeConfigSpec::default()
            },
        )
    };
    let desired = compute(
        &clusters,
        &nodes,
        &[
            previous("a-n1", "92:1c:5e:00:aa:01"),
            previous("b-n1", "92:1c:5e:00:bb:01"),
        ],
    );
    let golden = json!({
        "devices": [{
            "type": "vxlan", "name": "vx-bridge", "addr": "220.0.0.1/8",
            "mac": "92:1c:5e:00:aa:01", "bindDev": "eth0", "id": 54, "port": 4876
        }],
        "routes": [{"cidr": "10.2.1.0/24", "gw": "220.0.1.1", "dev": "vx-bridge"}],
        "fdbs": [
            {"ip": "10.0.1.1", "mac": "00:00:00:00:00:00", "dev": "vx-bridge"},
            {"ip": "10.0.1.1", "mac": "92:1c:5e:00:bb:01", "dev": "vx-bridge"}
        ],
        "arps": [{"ip": "220.0.1.1", "mac": "92:1c:5e:00:bb:01", "dev": "vx-bridge"}]
    });
    let got = serde_json::to_value(spec(&desired, "a-n1")).expect("serializes");
    assert_eq!(got, golden);
    // The reqid used elsewhere is drmysql's own, not Kosmos's 336.
    assert_ne!(ipsec::REQID, 336);
}
