//! MACs: reused from the previous NodeConfig when valid, else derived from
//! SHA-256 of `<nodeconfig name>/<device name>`.

use super::fixtures::*;
use super::p2p as p2p_fixture;
use crate::manager::compute;
use drmysql_api::clusterlink::{Device, NodeConfig, NodeConfigSpec};
use sha2::{Digest, Sha256};

fn derived(node: &str, device: &str) -> String {
    let digest = Sha256::digest(format!("{node}/{device}").as_bytes());
    let mut bytes = [0_u8; 6];
    bytes.copy_from_slice(&digest[..6]);
    bytes[0] = (bytes[0] | 0x02) & 0xfe;
    bytes.map(|b| format!("{b:02x}")).join(":")
}

fn previous_with(node: &str, device: &str, mac: &str) -> NodeConfig {
    NodeConfig::new(
        node,
        NodeConfigSpec {
            devices: vec![Device {
                type_: "vxlan".to_owned(),
                name: device.to_owned(),
                addr: "220.9.9.9/8".to_owned(),
                mac: mac.to_owned(),
                bind_dev: "eth9".to_owned(),
                id: 54,
                port: 4876,
            }],
            ..NodeConfigSpec::default()
        },
    )
}

#[test]
fn macs_come_from_the_previous_config_when_valid_else_from_the_names() {
    let (clusters, nodes) = p2p_fixture::inputs();
    let cases = [
        // A Kosmos-written MAC is kept (in canonical lowercase).
        (
            previous_with("b-n1", "vx-bridge", "92:1C:5E:00:AA:01"),
            "92:1c:5e:00:aa:01".to_owned(),
        ),
        // Garbage, multicast and empty MACs are replaced by the derived one.
        (
            previous_with("b-n1", "vx-bridge", "zz:1c:5e:00:aa:01"),
            derived("b-n1", "vx-bridge"),
        ),
        (
            previous_with("b-n1", "vx-bridge", "01:00:5e:00:00:01"),
            derived("b-n1", "vx-bridge"),
        ),
        (
            previous_with("b-n1", "vx-bridge", ""),
            derived("b-n1", "vx-bridge"),
        ),
        // Another device's or another node's MAC is not taken.
        (
            previous_with("b-n1", "vx-local", "92:1c:5e:00:aa:01"),
            derived("b-n1", "vx-bridge"),
        ),
        (
            previous_with("b-n2", "vx-bridge", "92:1c:5e:00:aa:01"),
            derived("b-n1", "vx-bridge"),
        ),
    ];
    for (previous, expected) in cases {
        let desired = compute(&clusters, &nodes, std::slice::from_ref(&previous));
        assert_eq!(mac_of(&desired, "b-n1", "vx-bridge"), expected, "{previous:?}");
        // Only the MAC is taken from the previous config; the rest is computed.
        let dev = device(&desired, "b-n1", "vx-bridge").expect("vx-bridge");
        assert_eq!(
            (dev.addr.as_str(), dev.bind_dev.as_str()),
            ("220.0.1.1/8", "eth0")
        );
        // Peers use the same MAC in their FDB and ARP entries.
        let arp = spec(&desired, "a-n1")
            .arps
            .iter()
            .find(|arp| arp.ip == "220.0.1.1")
            .expect("a-n1 knows b-n1");
        assert_eq!(arp.mac, expected);
        assert!(
            spec(&desired, "a-n1")
                .fdbs
                .iter()
                .any(|f| f.ip == "10.0.1.1" && f.mac == expected)
        );
    }
}

#[test]
fn derived_macs_are_stable_across_runs_and_distinct_per_device() {
    let (clusters, nodes) = p2p_fixture::inputs();
    let first = run(&clusters, &nodes);
    let second = run(&clusters, &nodes);
    let mut macs = Vec::new();
    for node in ["a-n1", "a-n2", "b-n1", "b-n2"] {
        let mac = mac_of(&first, node, "vx-bridge");
        assert_eq!(mac, derived(node, "vx-bridge"), "{node}");
        assert_eq!(mac, mac_of(&second, node, "vx-bridge"), "{node}");
        macs.push(mac);
    }
    macs.sort();
    macs.dedup();
    assert_eq!(macs.len(), 4);
}

#[test]
fn feeding_the_output_back_as_previous_changes_nothing() {
    let (clusters, nodes) = p2p_fixture::inputs();
    let first = run(&clusters, &nodes);
    let again = compute(&clusters, &nodes, &as_previous(&first));
    assert_eq!(again, first);
}
