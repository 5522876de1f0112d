//! Address arithmetic: CIDR parsing and normalisation, address families, and
//! the VXLAN device address Kosmos derives from a node's underlay IP.
//!
//! Every CIDR is parsed once, when the topology is built, and truncated to its
//! network address (`10.1.2.3/16` becomes `10.1.0.0/16`), so that two spellings
//! of one network compare equal and each entry is written in one canonical form.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Family {
    V4,
    V6,
}

impl Family {
    /// Both families, IPv4 first.
    pub(super) const ALL: [Family; 2] = [Family::V4, Family::V6];

    pub(super) fn of_net(net: &IpNet) -> Self {
        match net {
            IpNet::V4(_) => Self::V4,
            IpNet::V6(_) => Self::V6,
        }
    }
}

/// Parses a CIDR and truncates it to its network address.
pub(super) fn parse_cidr(text: &str) -> Option<IpNet> {
    text.trim().parse::<IpNet>().ok().map(|net| net.trunc())
}

/// Parses every CIDR of a list; each unparsable one becomes a warning that
/// names `what` (an object and field).
pub(super) fn parse_cidrs(texts: &[String], what: &str, warnings: &mut Vec<String>) -> Vec<IpNet> {
    let mut nets = Vec::with_capacity(texts.len());
    for text in texts {
        match parse_cidr(text) {
            Some(net) => nets.push(net),
            None => warnings.push(format!("{what}: {text:?} is not a CIDR; skipped")),
        }
    }
    nets.sort();
    nets.dedup();
    nets
}

/// Whether two networks share an address.
pub(super) fn intersects(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The address of a VXLAN device, as Kosmos's `GenerateVxlanIP`: the network
/// bits of `range` and the host bits of `underlay`, with `range`'s prefix
/// length. `100.10.10.1` in `210.0.0.0/8` gives `210.10.10.1/8`. `None` when
/// the families differ.
pub(super) fn vxlan_address(underlay: IpAddr, range: &IpNet) -> Option<IpNet> {
    let address = match (underlay, range) {
        (IpAddr::V4(ip), IpNet::V4(net)) => {
            let mask = u32::from(net.netmask());
            IpAddr::V4(Ipv4Addr::from(
                (u32::from(net.network()) & mask) | (u32::from(ip) & !mask),
            ))
        }
        (IpAddr::V6(ip), IpNet::V6(net)) => {
            let mask = u128::from(net.netmask());
            IpAddr::V6(Ipv6Addr::from(
                (u128::from(net.network()) & mask) | (u128::from(ip) & !mask),
            ))
        }
        _ => return None,
    };
    IpNet::new(address, range.prefix_len()).ok()
}

/// The address part of a device address such as `210.10.10.1/8`.
pub(super) fn device_ip(addr: &str) -> Option<IpAddr> {
    addr.parse::<IpNet>().ok().map(|net| net.addr())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().expect("test CIDR")
    }

    #[test]
    fn vxlan_address_keeps_the_host_bits_of_the_underlay_ip() {
        let cases = [
            ("100.10.10.1", "210.0.0.0/8", Some("210.10.10.1/8")),
            ("192.168.1.10", "220.0.0.0/8", Some("220.168.1.10/8")),
            ("192.168.1.10", "220.16.0.0/12", Some("220.24.1.10/12")),
            ("10.0.0.1", "210.0.0.0/32", Some("210.0.0.0/32")),
            ("10.0.0.1", "0.0.0.0/0", Some("10.0.0.1/0")),
            ("fd00::1:2", "9480::/16", Some("9480::1:2/16")),
            ("2001:db8:aa::5", "9470::/16", Some("9470:db8:aa::5/16")),
            ("10.0.0.1", "9480::/16", None),
            ("fd00::1", "210.0.0.0/8", None),
        ];
        for (underlay, range, expected) in cases {
            let underlay: IpAddr = underlay.parse().expect("test address");
            let got = vxlan_address(underlay, &net(range)).map(|net| net.to_string());
            assert_eq!(got.as_deref(), expected, "{underlay} in {range}");
        }
    }

    #[test]
    fn parse_cidr_normalises_and_rejects_garbage() {
        let cases = [
            ("10.1.2.3/16", Some("10.1.0.0/16")),
            (" 10.1.0.0/16 ", Some("10.1.0.0/16")),
            ("fd00:0:0:1::7/64", Some("fd00:0:0:1::/64")),
            ("10.1.0.0", None),
            ("10.1.0.0/33", None),
            ("", None),
            ("pods", None),
        ];
        for (text, expected) in cases {
            let got = parse_cidr(text).map(|net| net.to_string());
            assert_eq!(got.as_deref(), expected, "{text:?}");
        }
    }

    #[test]
    fn intersection_is_symmetric_and_family_aware() {
        let cases = [
            ("10.0.0.0/8", "10.1.0.0/16", true),
            ("10.1.0.0/16", "10.2.0.0/16", false),
            ("10.1.0.0/16", "10.1.0.0/16", true),
            ("10.0.0.0/8", "fd00::/8", false),
        ];
        for (a, b, expected) in cases {
            assert_eq!(intersects(&net(a), &net(b)), expected, "{a} {b}");
            assert_eq!(intersects(&net(b), &net(a)), expected, "{b} {a}");
        }
    }
}
