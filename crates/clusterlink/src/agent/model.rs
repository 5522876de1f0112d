//! Typed, normalised NodeConfig entries: the one vocabulary that validation
//! produces, the kernel readers produce, and the diff compares.
//!
//! A NodeConfig carries strings (`"10.1.2.3/16"`, `"AA:BB:..."`); the kernel
//! reports parsed values (`10.1.0.0/16`, six bytes). Comparing strings would
//! make a harmless spelling difference look like drift and churn the kernel on
//! every pass, so both sides are turned into these types first: CIDRs of
//! routes and selectors are truncated to their network, MACs are bytes, and an
//! iptables rule is kept in the canonical text `iptables -S` prints back.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use drmysql_api::clusterlink::XfrmDirection;
use ipnet::IpNet;

use crate::ipsec::Direction;

/// The VXLAN devices the agent owns, and may therefore create and delete.
pub const OWNED_DEVICES: [&str; 4] = ["vx-bridge", "vx-local", "vx-bridge-6", "vx-local-6"];

/// The routing table of the agent's routes, and the table its ip rule looks up.
pub const ROUTE_TABLE: u32 = 200;

/// The preference of the agent's `ip rule ... lookup 200`.
pub const RULE_PRIORITY: u32 = 200;

/// The routing protocol number the agent's ip rules carry (`proto 200`).
///
/// It is what makes a rule the agent's: the kernel deletes the first rule
/// that matches every attribute of the request, and a request without a mark
/// also matches a rule with one, so without a protocol of its own the agent's
/// `ip rule del pref 200 lookup 200` could remove someone else's
/// `pref 200 fwmark 7 lookup 200`.
pub const RULE_PROTOCOL: u8 = 200;

/// The only ipset name a NodeConfig may use for `ipsetsavoidmasq`. It names the
/// IPv4 set; IPv6 CIDRs go to [`AVOID_MASQ_SET_V6`], because an ipset holds
/// one address family.
pub const AVOID_MASQ_SET: &str = "drmysql-avoid-masq";

/// The kernel set that holds the IPv6 CIDRs of `ipsetsavoidmasq`.
pub const AVOID_MASQ_SET_V6: &str = "drmysql-avoid-masq-6";

/// Whether `name` is one of [`OWNED_DEVICES`].
pub fn is_owned_device(name: &str) -> bool {
    OWNED_DEVICES.contains(&name)
}

/// IP address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }

    /// The family of an owned device, from its name: the `-6` devices are IPv6.
    pub fn of_device(name: &str) -> Self {
        if name.ends_with("-6") { Self::V6 } else { Self::V4 }
    }

    /// `IPv4` or `IPv6`, for messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        }
    }
}

/// A 48-bit MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// `ff:ff:ff:ff:ff:ff`; entries with it are never deleted (Kosmos).
    pub const BROADCAST: Mac = Mac([0xff; 6]);

    /// The MAC of a netlink attribute, when it has six bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 6]>::try_from(bytes).ok().map(Mac)
    }

    /// Whether the group bit is set (multicast or broadcast).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl FromStr for Mac {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0_u8; 6];
        let mut parts = text.split(':');
        for byte in &mut bytes {
            let part = parts
                .next()
                .ok_or_else(|| format!("`{text}` is not a MAC address"))?;
            if part.is_empty() || part.len() > 2 {
                return Err(format!("`{text}` is not a MAC address"));
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| format!("`{text}` is not a MAC address"))?;
        }
        if parts.next().is_some() {
            return Err(format!("`{text}` is not a MAC address"));
        }
        Ok(Mac(bytes))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A VXLAN device of the agent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VxlanDevice {
    /// One of [`OWNED_DEVICES`].
    pub name: String,
    /// The device's address with prefix length; host bits are kept.
    pub addr: IpNet,
    /// The device's MAC.
    pub mac: Mac,
    /// The underlay interface the tunnel binds to.
    pub bind_dev: String,
    /// VXLAN network identifier.
    pub vni: u32,
    /// UDP destination port.
    pub port: u16,
}

impl VxlanDevice {
    /// The device's family (that of its address and of its underlay).
    pub fn family(&self) -> Family {
        Family::of(self.addr.addr())
    }
}

impl fmt::Display for VxlanDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (vxlan id {} dstport {} dev {} addr {} mac {})",
            self.name, self.vni, self.port, self.bind_dev, self.addr, self.mac
        )
    }
}

/// A route in table 200: `ip route add <cidr> via <gw> dev <dev> onlink table 200`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableRoute {
    /// Destination, truncated to its network.
    pub cidr: IpNet,
    /// Next hop.
    pub gw: IpAddr,
    /// Outgoing owned device.
    pub dev: String,
}

impl fmt::Display for TableRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} via {} dev {} onlink table {ROUTE_TABLE}",
            self.cidr, self.gw, self.dev
        )
    }
}

/// A VXLAN forwarding entry: `bridge fdb append <mac> dev <dev> dst <dst> self permanent`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FdbEntry {
    /// Remote MAC; all zeroes for the flood entry.
    pub mac: Mac,
    /// Remote underlay address.
    pub dst: IpAddr,
    /// Owned device.
    pub dev: String,
}

impl fmt::Display for FdbEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} dev {} dst {}", self.mac, self.dev, self.dst)
    }
}

/// A permanent neighbour: `ip neigh replace <ip> lladdr <mac> dev <dev> nud permanent`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArpEntry {
    /// Remote VXLAN device address.
    pub ip: IpAddr,
    /// Remote VXLAN device MAC.
    pub mac: Mac,
    /// Owned device.
    pub dev: String,
}

impl fmt::Display for ArpEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} lladdr {} dev {}", self.ip, self.mac, self.dev)
    }
}

/// The nat chains a NodeConfig rule may name, each served by an own chain of
/// the agent that the built-in chain jumps to first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NatChain {
    /// `PREROUTING`.
    Prerouting,
    /// `POSTROUTING`.
    Postrouting,
    /// `OUTPUT`.
    Output,
}

impl NatChain {
    /// All of them.
    pub const ALL: [NatChain; 3] = [Self::Prerouting, Self::Postrouting, Self::Output];

    /// The chain as a NodeConfig names it, from its name.
    pub fn from_logical(name: &str) -> Option<Self> {
        match name {
            "PREROUTING" => Some(Self::Prerouting),
            "POSTROUTING" => Some(Self::Postrouting),
            "OUTPUT" => Some(Self::Output),
            _ => None,
        }
    }

    /// The built-in chain's name.
    pub fn builtin(self) -> &'static str {
        match self {
            Self::Prerouting => "PREROUTING",
            Self::Postrouting => "POSTROUTING",
            Self::Output => "OUTPUT",
        }
    }

    /// The agent's own chain for it.
    pub fn own(self) -> &'static str {
        match self {
            Self::Prerouting => "DRMYSQL-PREROUTING",
            Self::Postrouting => "DRMYSQL-POSTROUTING",
            Self::Output => "DRMYSQL-OUTPUT",
        }
    }
}

/// An allow-listed nat rule, in the canonical form `iptables -S` prints.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NatRule {
    /// `iptables` or `ip6tables`.
    pub family: Family,
    /// The logical chain.
    pub chain: NatChain,
    /// The rule arguments, canonical.
    pub rule: String,
}

impl fmt::Display for NatRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tool = match self.family {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        };
        write!(f, "{tool} -t nat {}: {}", self.chain.builtin(), self.rule)
    }
}

/// An IPsec policy with the agent's request id:
/// `ip xfrm policy add src <src_net> dst <dst_net> dir <dir> tmpl src <tmpl_src> dst <tmpl_dst> proto esp reqid <REQID> mode tunnel`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyEntry {
    /// Selector source, truncated to its network.
    pub src_net: IpNet,
    /// Selector destination, truncated to its network.
    pub dst_net: IpNet,
    /// Direction.
    pub dir: XfrmDirection,
    /// Tunnel source.
    pub tmpl_src: IpAddr,
    /// Tunnel destination.
    pub tmpl_dst: IpAddr,
}

/// The word `ip xfrm` uses for a direction.
pub fn direction_word(dir: XfrmDirection) -> &'static str {
    match dir {
        XfrmDirection::In => "in",
        XfrmDirection::Out => "out",
        XfrmDirection::Fwd => "fwd",
    }
}

impl fmt::Display for PolicyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "src {} dst {} dir {} tmpl src {} dst {}",
            self.src_net,
            self.dst_net,
            direction_word(self.dir),
            self.tmpl_src,
            self.tmpl_dst
        )
    }
}

/// An ESP security association with the agent's request id. It carries no
/// key: the key is derived when the state is written or compared.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StateEntry {
    /// Outer source.
    pub src: IpAddr,
    /// Outer destination.
    pub dst: IpAddr,
    /// Security parameter index.
    pub spi: u32,
    /// ClusterNode name of the other end.
    pub peer: String,
    /// Whether this node sends or receives on it.
    pub direction: Direction,
}

impl fmt::Display for StateEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let way = match self.direction {
            Direction::Outbound => "to",
            Direction::Inbound => "from",
        };
        write!(
            f,
            "src {} dst {} spi 0x{:08x} ({way} {})",
            self.src, self.dst, self.spi, self.peer
        )
    }
}

/// A CIDR whose traffic leaves without masquerade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AvoidMasqEntry {
    /// The CIDR, truncated to its network.
    pub cidr: IpNet,
}

impl AvoidMasqEntry {
    /// The kernel set this CIDR belongs in.
    pub fn set_name(&self) -> &'static str {
        set_for(Family::of(self.cidr.addr()))
    }
}

/// The avoid-masquerade set of a family.
pub fn set_for(family: Family) -> &'static str {
    match family {
        Family::V4 => AVOID_MASQ_SET,
        Family::V6 => AVOID_MASQ_SET_V6,
    }
}

impl fmt::Display for AvoidMasqEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in ipset {}", self.cidr, self.set_name())
    }
}

/// Which half of a tool-driven plan (iptables, xfrm) a phase runs: the agent
/// deletes everything unwanted first and creates what is missing last, in
/// Kosmos's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Remove unwanted entries.
    Delete,
    /// Add chains, jumps and missing entries.
    Create,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parses_and_prints_lowercase() {
        let mac: Mac = "AA:bb:0c:00:01:FF".parse().expect("valid MAC");
        assert_eq!(mac.to_string(), "aa:bb:0c:00:01:ff");
        assert!(!mac.is_multicast());
        assert!(Mac::BROADCAST.is_multicast());
    }

    #[test]
    fn mac_rejects_malformed_text() {
        for bad in [
            "",
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:ff:00",
            "aa:bb:cc:dd:ee:fg",
            "aaa:bb:cc:dd:ee:ff",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn device_family_follows_the_name() {
        assert_eq!(Family::of_device("vx-bridge"), Family::V4);
        assert_eq!(Family::of_device("vx-local-6"), Family::V6);
    }
}
