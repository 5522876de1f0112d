//! The address plan and the names of everything a topology creates, pure.
//!
//! - Underlay `id` (0..=255, unique on the machine while its root-side link
//!   `drm-ul<id>` exists): subnet `198.18.<id>.0/24`, from the range RFC 2544
//!   reserves for benchmarking, so it meets no real network. The root side of
//!   the underlay veth is `.1` (the API address); nodes get `.10` upwards.
//! - Pod networks exist only inside node and pod namespaces, so every sandbox
//!   may use the same ones: the n-th cluster added without an explicit pod
//!   network gets `10.<10·n>.0.0/16` (10.10, 10.20, …), and the k-th node of a
//!   cluster (from 1) the k-th /24 inside it (10.10.1.0/24, 10.10.2.0/24, …).
//! - Namespaces are `<prefix>-<pid>-<serial>-ul` (the underlay) and
//!   `<prefix>-<pid>-<serial>-<cluster>-<node>`; the pid tells
//!   [`super::Topology::remove_stale`] whose they are.

use std::net::Ipv4Addr;

use super::error::TopologyError;
use crate::kubelet::netns::Ipv4Cidr;

/// The root-namespace link names are `drm-ul<id>`.
pub const ROOT_LINK_PREFIX: &str = "drm-ul";

/// The highest underlay id.
pub const MAX_UNDERLAY_ID: u8 = u8::MAX;

/// The host part of the first node's underlay address.
pub const FIRST_NODE_HOST: u8 = 10;

/// The underlay's prefix length.
pub const UNDERLAY_PREFIX: u8 = 24;

/// The prefix length of a node's pod CIDR.
pub const NODE_POD_PREFIX: u8 = 24;

/// The longest prefix, cluster or node name accepted.
pub const MAX_NAME_LEN: usize = 63;

/// The root-namespace side of underlay `id`'s veth.
pub fn root_link(id: u8) -> String {
    format!("{ROOT_LINK_PREFIX}{id}")
}

/// Underlay `id`'s subnet, `198.18.<id>.0/24`.
pub fn underlay_cidr(id: u8) -> Ipv4Cidr {
    cidr(Ipv4Addr::new(198, 18, id, 0), UNDERLAY_PREFIX)
}

/// The address of the root namespace on underlay `id`, `198.18.<id>.1`.
pub fn api_address(id: u8) -> Ipv4Addr {
    underlay_cidr(id).gateway()
}

/// The underlay address of a node with host part `host`.
pub fn node_underlay_ip(id: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, id, host)
}

/// The lowest node address of underlay `id` not in `in_use`.
pub fn free_node_ip(id: u8, in_use: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    (FIRST_NODE_HOST..u8::MAX)
        .map(|host| node_underlay_ip(id, host))
        .find(|candidate| !in_use.contains(candidate))
}

/// The default pod network of the `index`-th cluster (from 0):
/// `10.<10·(index+1)>.0.0/16`, for the first 25 clusters.
pub fn default_pod_network(index: usize) -> Option<Ipv4Cidr> {
    let octet = u8::try_from(index.checked_add(1)?.checked_mul(10)?).ok()?;
    Some(cidr(Ipv4Addr::new(10, octet, 0, 0), 16))
}

/// The pod CIDR of node `number` (from 1) of a cluster with `pod_network`:
/// the `number`-th /24 inside it; `None` past its end or for a pod network
/// too small to hold two /24s.
pub fn node_pod_cidr(pod_network: Ipv4Cidr, number: usize) -> Option<Ipv4Cidr> {
    let (network, prefix) = cidr_parts(pod_network);
    let bits = NODE_POD_PREFIX.checked_sub(prefix).filter(|bits| *bits > 0)?;
    let number = u32::try_from(number).ok().filter(|n| *n >= 1 && *n < 1 << bits)?;
    let base = u32::from(network).checked_add(number << (32 - u32::from(NODE_POD_PREFIX)))?;
    Some(cidr(Ipv4Addr::from(base), NODE_POD_PREFIX))
}

/// The network address and prefix length of `cidr`, read from its display
/// form (`a.b.c.d/p`), which is all [`Ipv4Cidr`] exposes of them.
pub fn cidr_parts(cidr: Ipv4Cidr) -> (Ipv4Addr, u8) {
    let text = cidr.to_string();
    let parsed = text
        .split_once('/')
        .and_then(|(address, prefix)| Some((address.parse().ok()?, prefix.parse().ok()?)));
    parsed.unwrap_or((Ipv4Addr::UNSPECIFIED, 0))
}

/// Whether two prefixes share an address.
pub fn overlaps(a: Ipv4Cidr, b: Ipv4Cidr) -> bool {
    a.contains(cidr_parts(b).0) || b.contains(cidr_parts(a).0)
}

fn cidr(address: Ipv4Addr, prefix: u8) -> Ipv4Cidr {
    Ipv4Cidr::new(address, prefix.min(32)).expect("a prefix of at most 32 is valid")
}

/// Accepts a prefix, cluster or node name that can be part of a namespace
/// name: 1 to 63 of `A-Z a-z 0-9 . _ -`.
pub fn validate(what: &'static str, name: &str) -> Result<(), TopologyError> {
    let invalid = |why| TopologyError::InvalidName {
        what,
        name: name.to_owned(),
        why,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid("it is longer than 63 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(invalid("only letters, digits, '.', '_' and '-' are allowed"));
    }
    Ok(())
}

/// The common start of one topology's namespace names.
pub fn netns_base(prefix: &str, pid: u32, serial: u32) -> String {
    format!("{prefix}-{pid}-{serial}")
}

/// The underlay namespace of the topology named `base`.
pub fn underlay_netns(base: &str) -> String {
    format!("{base}-ul")
}

/// The namespace of node `node` of `cluster`.
pub fn node_netns(base: &str, cluster: &str, node: &str) -> String {
    format!("{base}-{cluster}-{node}")
}

/// The underlay-side port of the node at `underlay_ip`: `n<host part>`.
pub fn port_name(underlay_ip: Ipv4Addr) -> String {
    format!("n{}", underlay_ip.octets()[3])
}

/// The pid in a namespace name `<prefix>-<pid>-…`, if it is one of `prefix`'s.
pub fn owner_pid(prefix: &str, netns: &str) -> Option<u32> {
    let rest = netns.strip_prefix(prefix)?.strip_prefix('-')?;
    let (pid, _) = rest.split_once('-')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Ipv4Cidr {
        text.parse().expect("cidr")
    }

    #[test]
    fn the_underlay_is_a_benchmarking_slash_24_per_id() {
        assert_eq!(underlay_cidr(7).to_string(), "198.18.7.0/24");
        assert_eq!(api_address(7), Ipv4Addr::new(198, 18, 7, 1));
        assert_eq!(root_link(255), "drm-ul255");
        assert!(root_link(MAX_UNDERLAY_ID).len() <= 15, "a kernel link name");
        assert_eq!(free_node_ip(7, &[]), Some(Ipv4Addr::new(198, 18, 7, 10)));
        assert_eq!(
            free_node_ip(7, &[Ipv4Addr::new(198, 18, 7, 10)]),
            Some(Ipv4Addr::new(198, 18, 7, 11))
        );
        let all: Vec<Ipv4Addr> = (10..255).map(|host| node_underlay_ip(7, host)).collect();
        assert_eq!(free_node_ip(7, &all), None, "no broadcast address");
    }

    #[test]
    fn clusters_get_slash_16s_and_nodes_the_slash_24s_inside() {
        assert_eq!(default_pod_network(0), Some(parse("10.10.0.0/16")));
        assert_eq!(default_pod_network(1), Some(parse("10.20.0.0/16")));
        assert_eq!(default_pod_network(24), Some(parse("10.250.0.0/16")));
        assert_eq!(default_pod_network(25), None);
        let network = parse("10.20.0.0/16");
        assert_eq!(node_pod_cidr(network, 1), Some(parse("10.20.1.0/24")));
        assert_eq!(node_pod_cidr(network, 255), Some(parse("10.20.255.0/24")));
        assert_eq!(node_pod_cidr(network, 0), None);
        assert_eq!(node_pod_cidr(network, 256), None);
        assert_eq!(node_pod_cidr(parse("10.1.0.0/24"), 1), None, "no room for /24s");
        assert_eq!(node_pod_cidr(parse("10.1.0.0/22"), 3), Some(parse("10.1.3.0/24")));
    }

    #[test]
    fn overlapping_prefixes_are_recognised() {
        assert!(overlaps(parse("10.10.0.0/16"), parse("10.10.3.0/24")));
        assert!(overlaps(parse("10.10.3.0/24"), parse("10.0.0.0/8")));
        assert!(!overlaps(parse("10.10.0.0/16"), parse("10.20.0.0/16")));
        assert_eq!(
            cidr_parts(parse("10.10.0.0/16")),
            (Ipv4Addr::new(10, 10, 0, 0), 16)
        );
    }

    #[test]
    fn names_carry_the_pid_and_stay_within_limits() {
        let base = netns_base("drmysql-e2e", 4242, 3);
        assert_eq!(underlay_netns(&base), "drmysql-e2e-4242-3-ul");
        assert_eq!(
            node_netns(&base, "member", "node-1"),
            "drmysql-e2e-4242-3-member-node-1"
        );
        assert_eq!(
            owner_pid("drmysql-e2e", "drmysql-e2e-4242-3-member-node-1"),
            Some(4242)
        );
        assert_eq!(
            owner_pid("drmysql-e2e", "drmysql-e2e-x-4242-3-ul"),
            None,
            "another prefix"
        );
        assert_eq!(
            owner_pid("drmysql", "drmysql-e2e-4242-3-ul"),
            None,
            "another prefix"
        );
        assert_eq!(owner_pid("drmysql-e2e", "drmysql-e2e4242-3-ul"), None);
        assert_eq!(owner_pid("drmysql-e2e", "drmysql-e2e-4242"), None);
        assert_eq!(port_name(Ipv4Addr::new(198, 18, 7, 254)), "n254");
    }

    #[test]
    fn names_that_cannot_be_paths_or_are_too_long_are_refused() {
        assert!(validate("node", "kind-worker.2_a").is_ok());
        assert!(validate("node", "").is_err());
        assert!(validate("node", "a/b").is_err());
        assert!(validate("node", "a b").is_err());
        let long = "x".repeat(64);
        let error = validate("cluster", &long).expect_err("too long");
        assert!(error.to_string().contains("cluster"), "{error}");
    }
}
