//! IPsec key and SPI derivation for the ESP tunnels between elastic IPs.
//!
//! Two nodes whose pod networks are joined over the internet talk ESP in tunnel
//! mode with `rfc4106(gcm(aes))`. Each direction of a pair is one security
//! association (SA), and this module names and keys them.
//!
//! **Why every direction has its own key.** AES-GCM in ESP (the kernel's
//! `seqiv` template) builds each packet's nonce from the 4-byte salt and the
//! SA's sequence number. Both SAs of a pair start counting at 1, so two SAs that
//! share key and salt encrypt different packets under the same nonce, and a
//! single nonce reuse lets an observer forge GCM tags and XOR plaintexts.
//! Kosmos's IPsec pull request (#278, never merged) used one key and one SPI for
//! both directions, derived from a default pre-shared key that its installer
//! fills in for everyone. Here each direction gets its own 16-byte key and salt
//! from HKDF-SHA256 over a pre-shared key held only in a Secret.
//!
//! **Why the SPI comes from the node names only.** The SPI travels in clear in
//! every ESP header; it only tells the receiver which SA to use, so it is no
//! secret. Deriving it from the two ClusterNode names lets the network manager,
//! which never sees the pre-shared key, write it into the NodeConfig, and lets
//! the agent recognise its own SAs when it reads the kernel's state back.
//!
//! **Why [`REQID`] is not Kosmos's 336.** The agent owns, and so may delete,
//! exactly the xfrm policies and states with its request id. A value of its own
//! keeps it from touching an SA that a Kosmos agent, or anything else on the
//! node, installed.

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use std::fmt;

/// The xfrm request id of every policy and state drmysql installs: `0x6472_6d79`,
/// the ASCII bytes `drmy` (1 685 220 729), a positive `i32` far from Kosmos's
/// `336`. The agent treats exactly the entries with this id as its own.
pub const REQID: i32 = 0x6472_6d79;

/// Domain-separation prefix of the SPI hash; the `v1` changes with the scheme.
const SPI_DOMAIN: &[u8] = b"drmysql-ipsec-spi/v1\0";

/// HKDF salt of the key derivation; the `v1` changes with the scheme.
const KEY_DOMAIN: &[u8] = b"drmysql-ipsec/v1";

/// SPIs below this are not used: 1 to 255 are reserved by IANA (RFC 4303), and
/// staying clear of the low range avoids hand-made SAs.
const MIN_SPI: u32 = 0x0000_1000;

/// Length of an `rfc4106(gcm(aes))` key: a 16-byte AES-128 key and a 4-byte salt.
const ESP_KEY_LEN: usize = 20;

/// The SPI of the SA that carries traffic from `from_node` to `to_node`
/// (ClusterNode names).
///
/// It is the first four bytes (big-endian) of
/// SHA-256(`"drmysql-ipsec-spi/v1\0" + from + "\0" + to`), with the lowest bit
/// replaced by whether `from` sorts before `to`, so that the two directions of a
/// pair of distinct names never share an SPI, and lifted into
/// `0x0000_1000..=0xffff_ffff`.
pub fn spi(from_node: &str, to_node: &str) -> u32 {
    let digest = Sha256::new()
        .chain_update(SPI_DOMAIN)
        .chain_update(from_node.as_bytes())
        .chain_update(b"\0")
        .chain_update(to_node.as_bytes())
        .finalize();
    let mut first = [0_u8; 4];
    first.copy_from_slice(&digest[..4]);
    let direction_bit = u32::from(from_node < to_node);
    let value = (u32::from_be_bytes(first) & !1) | direction_bit;
    if value < MIN_SPI { value | MIN_SPI } else { value }
}

/// Which way an SA of this node carries traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From this node to the peer.
    Outbound,
    /// From the peer to this node.
    Inbound,
}

/// The direction of the SA with `spi` between this node (`own`) and `peer`, or
/// `None` when the SPI belongs to neither direction of the pair.
pub fn classify(own: &str, peer: &str, spi_value: u32) -> Option<Direction> {
    if spi_value == spi(own, peer) {
        Some(Direction::Outbound)
    } else if spi_value == spi(peer, own) {
        Some(Direction::Inbound)
    } else {
        None
    }
}

/// The key material of one SA: a 16-byte AES-128 key followed by the 4-byte
/// RFC 4106 salt, the layout `ip xfrm state ... aead 'rfc4106(gcm(aes))'`
/// expects.
///
/// It has no `Display` and no `Serialize`, and `Debug` prints
/// `EspKey(<redacted>)`, so it cannot end up in a log line, an Event or a CR by
/// accident. The bytes are overwritten when it is dropped (best effort: the
/// compiler may have copied them before).
#[derive(Clone)]
pub struct EspKey([u8; ESP_KEY_LEN]);

impl EspKey {
    /// The 20 key bytes, for handing to netlink.
    pub fn as_bytes(&self) -> &[u8; ESP_KEY_LEN] {
        &self.0
    }

    /// The key as `ip xfrm` takes it: `0x` and 40 lowercase hex digits.
    pub fn to_xfrm_hex(&self) -> String {
        let mut hex = String::with_capacity(2 + 2 * ESP_KEY_LEN);
        hex.push_str("0x");
        for byte in self.0 {
            hex.push(nibble(byte >> 4));
            hex.push(nibble(byte & 0x0f));
        }
        hex
    }
}

fn nibble(value: u8) -> char {
    char::from_digit(u32::from(value), 16).unwrap_or('0')
}

impl fmt::Debug for EspKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EspKey(<redacted>)")
    }
}

impl PartialEq for EspKey {
    /// Compares without an early exit, so timing does not reveal a common prefix.
    fn eq(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0_u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }
}

impl Eq for EspKey {}

impl Drop for EspKey {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
}

/// The key of the SA from `from_node` to `to_node`, from the pre-shared key.
///
/// HKDF-SHA256 with the pre-shared key as input key material, salt
/// `drmysql-ipsec/v1`, and as info the pair's names in sorted order, then the
/// direction: `min \0 max \0 from \0 to`. Both ends compute the same key for a
/// direction; the two directions get different keys and salts.
pub fn derive_key(psk: &[u8], from_node: &str, to_node: &str) -> EspKey {
    let (low, high) = if from_node <= to_node {
        (from_node, to_node)
    } else {
        (to_node, from_node)
    };
    let info = [low, high, from_node, to_node].join("\0");
    let mut okm = [0_u8; ESP_KEY_LEN];
    hkdf_sha256(psk, KEY_DOMAIN, info.as_bytes(), &mut okm);
    let key = EspKey(okm);
    okm.fill(0);
    std::hint::black_box(&okm);
    key
}

/// HKDF-SHA256 (RFC 5869) extract-and-expand into `okm`.
fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], okm: &mut [u8]) {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, okm)
        .expect("drmysql expands at most 42 bytes, far below HKDF-SHA256's limit of 8160");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager;
    use drmysql_api::clusterlink::{
        Cluster, ClusterLinkOptions, ClusterLinkStatus, ClusterNode, ClusterNodeSpec, ClusterSpec,
        ClusterStatus, IpFamily, NetworkType,
    };

    const PSK: &[u8] = b"a pre-shared key from a Secret";

    #[test]
    fn both_ends_derive_the_same_key_for_a_direction() {
        // What node a computes for its outbound SA is what node b computes for
        // its inbound SA from a: both call derive_key(psk, sender, receiver).
        let at_a_outbound = derive_key(PSK, "a-node1", "b-node1");
        let at_b_inbound = derive_key(PSK, "a-node1", "b-node1");
        assert_eq!(at_a_outbound, at_b_inbound);
        assert_eq!(at_a_outbound.to_xfrm_hex(), at_b_inbound.to_xfrm_hex());
    }

    #[test]
    fn the_two_directions_differ_in_key_salt_and_spi() {
        let forward = derive_key(PSK, "a-node1", "b-node1");
        let backward = derive_key(PSK, "b-node1", "a-node1");
        assert_ne!(forward, backward);
        assert_ne!(
            forward.as_bytes()[16..],
            backward.as_bytes()[16..],
            "salts must differ"
        );
        assert_ne!(spi("a-node1", "b-node1"), spi("b-node1", "a-node1"));
    }

    #[test]
    fn different_psks_give_different_keys() {
        let one = derive_key(b"psk one", "a", "b");
        let other = derive_key(b"psk two", "a", "b");
        assert_ne!(one, other);
    }

    #[test]
    fn spis_avoid_the_reserved_range_and_differ_per_direction() {
        for i in 0..2000 {
            let from = format!("cluster-a-node{i}");
            let to = format!("cluster-b-node{}", i * 7 % 13);
            let there = spi(&from, &to);
            let back = spi(&to, &from);
            assert!(
                there >= MIN_SPI && back >= MIN_SPI,
                "{from} {to}: {there:#x} {back:#x}"
            );
            assert_ne!(there, back, "{from} {to}");
        }
        assert!(spi("", "") >= MIN_SPI);
    }

    #[test]
    fn spi_is_a_pure_function_of_the_names() {
        assert_eq!(spi("a", "b"), spi("a", "b"));
        assert_ne!(spi("a", "b"), spi("a", "c"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(spi("ab", "c"), spi("a", "bc"));
    }

    #[test]
    fn classify_tells_the_directions_apart() {
        let cases = [
            (spi("a", "b"), Some(Direction::Outbound)),
            (spi("b", "a"), Some(Direction::Inbound)),
            (spi("a", "c"), None),
            (1, None),
        ];
        for (value, expected) in cases {
            assert_eq!(classify("a", "b", value), expected, "spi {value:#x}");
        }
    }

    #[test]
    fn debug_redacts_the_key() {
        let key = derive_key(PSK, "a", "b");
        let printed = format!("{key:?} {key:#?}");
        assert_eq!(format!("{key:?}"), "EspKey(<redacted>)");
        let hex = key.to_xfrm_hex();
        assert!(!printed.contains(&hex[2..12]));
    }

    #[test]
    fn xfrm_hex_is_0x_and_40_lowercase_digits() {
        let hex = derive_key(PSK, "a", "b").to_xfrm_hex();
        assert!(hex.starts_with("0x"));
        assert_eq!(hex.len(), 42);
        assert!(
            hex[2..]
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
    }

    #[test]
    fn hkdf_wiring_matches_rfc_5869_test_case_1() {
        let ikm = [0x0b_u8; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let mut okm = [0_u8; 42];
        hkdf_sha256(&ikm, &salt, &info, &mut okm);
        let expected = "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865";
        let got: String = okm.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn derive_key_uses_the_documented_salt_and_info() {
        let mut okm = [0_u8; ESP_KEY_LEN];
        hkdf_sha256(PSK, b"drmysql-ipsec/v1", b"a\0b\0b\0a", &mut okm);
        assert_eq!(derive_key(PSK, "b", "a").as_bytes(), &okm);
    }

    fn eip_cluster(name: &str, pod_cidr: &str) -> Cluster {
        let mut cluster = Cluster::new(
            name,
            ClusterSpec {
                cluster_link_options: Some(ClusterLinkOptions {
                    network_type: NetworkType::Gateway,
                    ip_family: IpFamily::Ipv4,
                    ..ClusterLinkOptions::default()
                }),
                ..ClusterSpec::default()
            },
        );
        cluster.status = Some(ClusterStatus {
            cluster_link_status: ClusterLinkStatus {
                pod_cidrs: vec![pod_cidr.to_owned()],
                service_cidrs: Vec::new(),
            },
            ..ClusterStatus::default()
        });
        cluster
    }

    fn eip_gateway(cluster: &str, ip: &str, eip: &str) -> ClusterNode {
        ClusterNode::new(
            &ClusterNode::name_for(cluster, "gw"),
            ClusterNodeSpec {
                cluster_name: cluster.to_owned(),
                node_name: "gw".to_owned(),
                ip: ip.to_owned(),
                elastic_ip: eip.to_owned(),
                roles: vec!["gateway".to_owned()],
                interface_name: "eth0".to_owned(),
                ..ClusterNodeSpec::default()
            },
        )
    }

    #[test]
    fn no_key_bytes_appear_in_a_computed_node_config() {
        let clusters = [eip_cluster("a", "10.1.0.0/16"), eip_cluster("b", "10.2.0.0/16")];
        let nodes = [
            eip_gateway("a", "192.168.0.10", "203.0.113.10"),
            eip_gateway("b", "172.16.0.20", "198.51.100.20"),
        ];
        let desired = manager::compute(&clusters, &nodes, &[]);
        for (own, peer) in [("a-gw", "b-gw"), ("b-gw", "a-gw")] {
            let spec = desired.configs.get(own).expect("a config for every gateway");
            assert!(!spec.xfrm_states.is_empty(), "{own} must have xfrm states");
            let json = serde_json::to_string(spec).expect("a NodeConfig spec serializes");
            let lower = json.to_ascii_lowercase();
            for key in [derive_key(PSK, own, peer), derive_key(PSK, peer, own)] {
                let hex = key.to_xfrm_hex();
                assert!(!lower.contains(&hex[2..]), "{own}: key hex in {json}");
                let bytes = serde_json::to_string(&key.as_bytes().to_vec()).expect("bytes serialize");
                assert!(
                    !json.contains(bytes.trim_matches(['[', ']'])),
                    "{own}: key bytes in {json}"
                );
            }
            assert!(
                !json.contains("PSK"),
                "{own}: Kosmos's PSK field must not appear: {json}"
            );
            assert!(!json.contains("pre-shared"), "{own}: {json}");
        }
    }
}
