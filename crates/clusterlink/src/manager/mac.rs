//! MAC addresses of the VXLAN devices.
//!
//! A device's MAC is in every peer's FDB and ARP entries, so it must not change
//! while the device lives. Kosmos draws a random MAC and keeps it by reading it
//! back from the existing NodeConfig. The reuse stays (it keeps MACs that Kosmos
//! wrote), but a missing or invalid MAC is derived from the names instead of
//! drawn, which keeps [`super::compute`] a pure function: SHA-256 of
//! `<nodeconfig name>/<device name>`, the first six bytes, made locally
//! administered and unicast as Kosmos makes its random ones.

use sha2::{Digest, Sha256};

/// The MAC for `device` on `node`: `previous` when it is a valid unicast MAC,
/// else the derived one. Always lowercase and colon-separated.
pub(super) fn device_mac(node: &str, device: &str, previous: Option<&str>) -> String {
    previous
        .and_then(parse_unicast)
        .unwrap_or_else(|| derive(node, device))
        .map(|byte| format!("{byte:02x}"))
        .join(":")
}

/// The deterministic MAC for `device` on `node`.
fn derive(node: &str, device: &str) -> [u8; 6] {
    let digest = Sha256::digest(format!("{node}/{device}").as_bytes());
    let mut mac = [0_u8; 6];
    mac.copy_from_slice(&digest[..6]);
    mac[0] = (mac[0] | 0x02) & 0xfe;
    mac
}

/// Parses `aa:bb:cc:dd:ee:ff` (either case); rejects multicast and all-zero
/// addresses, which cannot name a device.
fn parse_unicast(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0_u8; 6];
    let mut parts = text.trim().split(':');
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    if parts.next().is_some() || mac[0] & 0x01 != 0 || mac == [0; 6] {
        return None;
    }
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_macs_are_stable_locally_administered_unicast() {
        let mac = device_mac("a-node1", "vx-bridge", None);
        assert_eq!(mac, device_mac("a-node1", "vx-bridge", None));
        assert_ne!(mac, device_mac("a-node1", "vx-local", None));
        assert_ne!(mac, device_mac("a-node2", "vx-bridge", None));
        let first = u8::from_str_radix(&mac[..2], 16).expect("hex");
        assert_eq!(first & 0x03, 0x02, "{mac}");
    }

    #[test]
    fn derivation_is_sha256_of_node_slash_device() {
        let digest = Sha256::digest(b"n/d");
        let expected: Vec<String> = digest[..6]
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{:02x}", if i == 0 { (b | 0x02) & 0xfe } else { *b }))
            .collect();
        assert_eq!(device_mac("n", "d", None), expected.join(":"));
    }

    #[test]
    fn previous_macs_are_reused_when_valid() {
        let derived = device_mac("n", "vx-bridge", None);
        let cases = [
            (Some("0A:1b:2c:3d:4e:5f"), "0a:1b:2c:3d:4e:5f".to_owned()),
            (Some("02:00:00:00:00:01"), "02:00:00:00:00:01".to_owned()),
            (Some(""), derived.clone()),
            (Some("01:00:5e:00:00:01"), derived.clone()),
            (Some("00:00:00:00:00:00"), derived.clone()),
            (Some("02:00:00:00:00"), derived.clone()),
            (Some("02:00:00:00:00:01:02"), derived.clone()),
            (Some("02:00:00:00:00:zz"), derived.clone()),
            (Some("2:0:0:0:0:1"), derived.clone()),
            (None, derived.clone()),
        ];
        for (previous, expected) in cases {
            assert_eq!(device_mac("n", "vx-bridge", previous), expected, "{previous:?}");
        }
    }
}
