//! Validation of a NodeConfig before anything touches the kernel.
//!
//! Principle 5: bad input gets a clear error and loses nothing. Every entry is
//! checked on its own; an invalid one becomes an [`EntryError`] that names the
//! entry and the reason, and the valid ones go on to be applied. The checks
//! also enforce principle 7, "own only what you made": an entry may only name
//! the agent's own devices, its own nat chains, its own ipset and its own xfrm
//! request id, so no NodeConfig can make the agent touch anything else.
//!
//! This module is pure: the same spec and node name always give the same
//! result, and the unit tests below cover every rule.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use drmysql_api::clusterlink::{
    Arp, Device, EntryError, EntryKind, Fdb, IpsetAvoidMasq, Iptables, NodeConfigSpec, Route, XfrmDirection,
    XfrmPolicy, XfrmState,
};
use ipnet::IpNet;

use super::model::{
    AVOID_MASQ_SET, ArpEntry, AvoidMasqEntry, Family, FdbEntry, Mac, NatChain, NatRule, OWNED_DEVICES,
    PolicyEntry, StateEntry, TableRoute, VxlanDevice, is_owned_device,
};
use super::rule;
use crate::ipsec;

/// The valid entries of a NodeConfig, normalised and without duplicates, and
/// an error for each invalid one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Validated {
    /// VXLAN devices.
    pub devices: Vec<VxlanDevice>,
    /// Table-200 routes.
    pub routes: Vec<TableRoute>,
    /// nat rules.
    pub iptables: Vec<NatRule>,
    /// VXLAN forwarding entries.
    pub fdbs: Vec<FdbEntry>,
    /// Permanent neighbours.
    pub arps: Vec<ArpEntry>,
    /// xfrm policies.
    pub xfrm_policies: Vec<PolicyEntry>,
    /// xfrm states.
    pub xfrm_states: Vec<StateEntry>,
    /// CIDRs exempt from masquerade.
    pub avoid_masq: Vec<AvoidMasqEntry>,
    /// One error per invalid entry.
    pub errors: Vec<EntryError>,
}

impl Validated {
    /// How many valid entries there are.
    pub fn valid_entries(&self) -> usize {
        self.devices.len()
            + self.routes.len()
            + self.iptables.len()
            + self.fdbs.len()
            + self.arps.len()
            + self.xfrm_policies.len()
            + self.xfrm_states.len()
            + self.avoid_masq.len()
    }
}

/// Checks every entry of `spec` for the node named `own_node` (its ClusterNode
/// name, which decides which SPIs belong to it).
pub fn validate(spec: &NodeConfigSpec, own_node: &str) -> Validated {
    let mut out = Validated::default();
    let mut devices: BTreeMap<String, VxlanDevice> = BTreeMap::new();
    for device in &spec.devices {
        match check_device(device) {
            Ok(valid) => match devices.get(&valid.name) {
                Some(existing) if *existing == valid => {}
                Some(_) => out.errors.push(error(
                    EntryKind::Device,
                    describe_device(device),
                    format!("device {} is listed twice with different settings", valid.name),
                )),
                None => {
                    devices.insert(valid.name.clone(), valid);
                }
            },
            Err(message) => out
                .errors
                .push(error(EntryKind::Device, describe_device(device), message)),
        }
    }
    out.devices = devices.into_values().collect();
    out.routes = collect(
        &spec.routes,
        EntryKind::Route,
        describe_route,
        check_route,
        &mut out.errors,
    );
    out.iptables = collect(
        &spec.iptables,
        EntryKind::Iptables,
        describe_iptables,
        check_iptables,
        &mut out.errors,
    );
    out.fdbs = collect(
        &spec.fdbs,
        EntryKind::Fdb,
        describe_fdb,
        check_fdb,
        &mut out.errors,
    );
    out.arps = collect(
        &spec.arps,
        EntryKind::Arp,
        describe_arp,
        check_arp,
        &mut out.errors,
    );
    out.xfrm_policies = collect(
        &spec.xfrm_policies,
        EntryKind::XfrmPolicy,
        describe_policy,
        check_policy,
        &mut out.errors,
    );
    let mut states = Vec::new();
    for state in &spec.xfrm_states {
        match check_state(state, own_node) {
            Ok(valid) if states.contains(&valid) => {}
            Ok(valid) => states.push(valid),
            Err(message) => out
                .errors
                .push(error(EntryKind::XfrmState, describe_state(state), message)),
        }
    }
    out.xfrm_states = states;
    out.avoid_masq = collect(
        &spec.ipsets_avoid_masq,
        EntryKind::IpsetAvoidMasq,
        describe_ipset,
        check_ipset,
        &mut out.errors,
    );
    out
}

fn collect<S, T: Ord>(
    entries: &[S],
    kind: EntryKind,
    describe: fn(&S) -> String,
    check: fn(&S) -> Result<T, String>,
    errors: &mut Vec<EntryError>,
) -> Vec<T> {
    let mut valid = BTreeSet::new();
    for entry in entries {
        match check(entry) {
            Ok(value) => {
                valid.insert(value);
            }
            Err(message) => errors.push(error(kind, describe(entry), message)),
        }
    }
    valid.into_iter().collect()
}

fn error(kind: EntryKind, entry: String, message: String) -> EntryError {
    EntryError { kind, entry, message }
}

/// How an invalid device is named in its error.
fn describe_device(device: &Device) -> String {
    format!(
        "{} {} (id {} port {} dev {} addr {} mac {})",
        device.type_, device.name, device.id, device.port, device.bind_dev, device.addr, device.mac
    )
}

fn describe_route(route: &Route) -> String {
    format!("{} via {} dev {}", route.cidr, route.gw, route.dev)
}

fn describe_iptables(rule: &Iptables) -> String {
    format!("-t {} {}: {}", rule.table, rule.chain, rule.rule)
}

fn describe_fdb(fdb: &Fdb) -> String {
    format!("{} dev {} dst {}", fdb.mac, fdb.dev, fdb.ip)
}

fn describe_arp(arp: &Arp) -> String {
    format!("{} lladdr {} dev {}", arp.ip, arp.mac, arp.dev)
}

fn describe_policy(policy: &XfrmPolicy) -> String {
    format!(
        "src {} dst {} dir {} tmpl src {} dst {} reqid {}",
        policy.left_net, policy.right_net, policy.dir, policy.left_ip, policy.right_ip, policy.req_id
    )
}

fn describe_state(state: &XfrmState) -> String {
    format!(
        "src {} dst {} spi 0x{:08x} reqid {} peer {}",
        state.left_ip, state.right_ip, state.spi, state.req_id, state.peer
    )
}

fn describe_ipset(entry: &IpsetAvoidMasq) -> String {
    format!("{} in ipset {}", entry.cidr, entry.name)
}

fn owned_device(field: &str, name: &str) -> Result<(), String> {
    if is_owned_device(name) {
        Ok(())
    } else {
        Err(format!(
            "{field} `{name}` is not one of the agent's devices ({})",
            OWNED_DEVICES.join(", ")
        ))
    }
}

fn address(field: &str, text: &str) -> Result<IpAddr, String> {
    text.parse()
        .map_err(|_| format!("{field} `{text}` is not an IP address"))
}

/// A CIDR, or a bare address taken as a host route; truncated to its network.
fn network(field: &str, text: &str) -> Result<IpNet, String> {
    match text.parse::<IpNet>() {
        Ok(net) => Ok(net.trunc()),
        Err(_) => text
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("{field} `{text}` is not a CIDR")),
    }
}

fn mac(field: &str, text: &str) -> Result<Mac, String> {
    let mac: Mac = text.parse().map_err(|e: String| format!("{field}: {e}"))?;
    if mac == Mac::BROADCAST {
        return Err(format!(
            "{field} ff:ff:ff:ff:ff:ff is reserved for entries the agent never touches"
        ));
    }
    Ok(mac)
}

fn same_family(what: &str, family: Family, dev: &str) -> Result<(), String> {
    let device_family = Family::of_device(dev);
    if family == device_family {
        Ok(())
    } else {
        Err(format!(
            "{what} is {} but device {dev} is {}",
            family.label(),
            device_family.label()
        ))
    }
}

/// Whether `name` can be an interface name (and so a path component under
/// `/proc/sys/net/*/conf/`).
fn is_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_graphic() && c != '/' && c != ':')
}

fn check_device(device: &Device) -> Result<VxlanDevice, String> {
    if device.type_ != "vxlan" {
        return Err(format!(
            "device type `{}` is not supported; only `vxlan` is",
            device.type_
        ));
    }
    owned_device("device name", &device.name)?;
    let addr: IpNet = device
        .addr
        .parse()
        .map_err(|_| format!("addr `{}` is not an address with a prefix length", device.addr))?;
    same_family(&format!("addr {addr}"), Family::of(addr.addr()), &device.name)?;
    let mac = mac("mac", &device.mac)?;
    if mac.is_multicast() || mac.0 == [0; 6] {
        return Err(format!("mac {mac} is not a unicast address"));
    }
    if !is_interface_name(&device.bind_dev) {
        return Err(format!("bindDev `{}` is not an interface name", device.bind_dev));
    }
    if is_owned_device(&device.bind_dev) {
        return Err(format!(
            "bindDev `{}` is a VXLAN device of the agent",
            device.bind_dev
        ));
    }
    let vni = u32::try_from(device.id)
        .ok()
        .filter(|id| *id < 1 << 24)
        .ok_or_else(|| {
            format!(
                "id {} is not a VXLAN network identifier (0 to 16777215)",
                device.id
            )
        })?;
    let port = u16::try_from(device.port)
        .ok()
        .filter(|port| *port > 0)
        .ok_or_else(|| format!("port {} is not a UDP port", device.port))?;
    Ok(VxlanDevice {
        name: device.name.clone(),
        addr,
        mac,
        bind_dev: device.bind_dev.clone(),
        vni,
        port,
    })
}

fn check_route(route: &Route) -> Result<TableRoute, String> {
    owned_device("dev", &route.dev)?;
    let cidr = network("cidr", &route.cidr)?;
    let gw = address("gw", &route.gw)?;
    if Family::of(gw) != Family::of(cidr.addr()) {
        return Err(format!("gw {gw} and cidr {cidr} are of different families"));
    }
    same_family(&format!("cidr {cidr}"), Family::of(cidr.addr()), &route.dev)?;
    Ok(TableRoute {
        cidr,
        gw,
        dev: route.dev.clone(),
    })
}

fn check_iptables(entry: &Iptables) -> Result<NatRule, String> {
    if entry.table != "nat" {
        return Err(format!("table `{}` is not allowed; only `nat` is", entry.table));
    }
    let chain = NatChain::from_logical(&entry.chain).ok_or_else(|| {
        format!(
            "chain `{}` is not allowed; only PREROUTING, POSTROUTING and OUTPUT are",
            entry.chain
        )
    })?;
    let parsed = rule::parse(chain, &entry.rule)?;
    Ok(NatRule {
        family: parsed.family(),
        chain,
        rule: parsed.render(),
    })
}

fn check_fdb(fdb: &Fdb) -> Result<FdbEntry, String> {
    owned_device("dev", &fdb.dev)?;
    let dst = address("ip", &fdb.ip)?;
    same_family(&format!("ip {dst}"), Family::of(dst), &fdb.dev)?;
    let mac = mac("mac", &fdb.mac)?;
    Ok(FdbEntry {
        mac,
        dst,
        dev: fdb.dev.clone(),
    })
}

fn check_arp(arp: &Arp) -> Result<ArpEntry, String> {
    owned_device("dev", &arp.dev)?;
    let ip = address("ip", &arp.ip)?;
    same_family(&format!("ip {ip}"), Family::of(ip), &arp.dev)?;
    let mac = mac("mac", &arp.mac)?;
    Ok(ArpEntry {
        ip,
        mac,
        dev: arp.dev.clone(),
    })
}

fn check_policy(policy: &XfrmPolicy) -> Result<PolicyEntry, String> {
    if policy.req_id != ipsec::REQID {
        return Err(format!(
            "reqid {} is not the agent's ({})",
            policy.req_id,
            ipsec::REQID
        ));
    }
    let dir = XfrmDirection::from_kernel(policy.dir)
        .ok_or_else(|| format!("dir {} is not 0 (in), 1 (out) or 2 (fwd)", policy.dir))?;
    let src_net = network("leftnet", &policy.left_net)?;
    let dst_net = network("rightnet", &policy.right_net)?;
    if Family::of(src_net.addr()) != Family::of(dst_net.addr()) {
        return Err(format!(
            "leftnet {src_net} and rightnet {dst_net} are of different families"
        ));
    }
    let tmpl_src = address("leftip", &policy.left_ip)?;
    let tmpl_dst = address("rightip", &policy.right_ip)?;
    if Family::of(tmpl_src) != Family::of(tmpl_dst) {
        return Err(format!(
            "leftip {tmpl_src} and rightip {tmpl_dst} are of different families"
        ));
    }
    Ok(PolicyEntry {
        src_net,
        dst_net,
        dir,
        tmpl_src,
        tmpl_dst,
    })
}

fn check_state(state: &XfrmState, own_node: &str) -> Result<StateEntry, String> {
    if state.req_id != ipsec::REQID {
        return Err(format!(
            "reqid {} is not the agent's ({})",
            state.req_id,
            ipsec::REQID
        ));
    }
    let src = address("leftip", &state.left_ip)?;
    let dst = address("rightip", &state.right_ip)?;
    if Family::of(src) != Family::of(dst) {
        return Err(format!(
            "leftip {src} and rightip {dst} are of different families"
        ));
    }
    if state.peer.is_empty() {
        return Err("peer is empty; the key is derived from the two node names".into());
    }
    if state.peer == own_node {
        return Err(format!("peer {} is this node", state.peer));
    }
    let direction = ipsec::classify(own_node, &state.peer, state.spi).ok_or_else(|| {
        format!(
            "spi 0x{:08x} belongs to neither direction between {own_node} and {}",
            state.spi, state.peer
        )
    })?;
    Ok(StateEntry {
        src,
        dst,
        spi: state.spi,
        peer: state.peer.clone(),
        direction,
    })
}

fn check_ipset(entry: &IpsetAvoidMasq) -> Result<AvoidMasqEntry, String> {
    if entry.name != AVOID_MASQ_SET {
        return Err(format!(
            "ipset `{}` is not the agent's; use `{AVOID_MASQ_SET}`",
            entry.name
        ));
    }
    let cidr = network("cidr", &entry.cidr)?;
    if cidr.prefix_len() == 0 {
        return Err(format!(
            "cidr {cidr} has prefix length 0, which a hash:net set cannot hold"
        ));
    }
    Ok(AvoidMasqEntry { cidr })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipsec::Direction;

    const OWN: &str = "a-node1";
    const PEER: &str = "b-node1";

    fn device(name: &str, addr: &str) -> Device {
        Device {
            type_: "vxlan".into(),
            name: name.into(),
            addr: addr.into(),
            mac: "0a:00:00:00:00:01".into(),
            bind_dev: "eth0".into(),
            id: 54,
            port: 4876,
        }
    }

    fn only_error(spec: &NodeConfigSpec) -> EntryError {
        let validated = validate(spec, OWN);
        assert_eq!(
            validated.valid_entries(),
            0,
            "nothing valid expected in {validated:?}"
        );
        match validated.errors.as_slice() {
            [one] => one.clone(),
            other => panic!("expected one error, got {other:?}"),
        }
    }

    fn assert_refused(spec: NodeConfigSpec, kind: EntryKind, needle: &str) {
        let error = only_error(&spec);
        assert_eq!(error.kind, kind);
        assert!(
            error.message.contains(needle),
            "message `{}` lacks `{needle}`",
            error.message
        );
    }

    #[test]
    fn a_valid_device_is_normalised() {
        let spec = NodeConfigSpec {
            devices: vec![device("vx-bridge", "220.0.0.11/8")],
            ..Default::default()
        };
        let validated = validate(&spec, OWN);
        assert!(validated.errors.is_empty());
        let device = &validated.devices[0];
        assert_eq!(device.addr.to_string(), "220.0.0.11/8", "host bits are kept");
        assert_eq!((device.vni, device.port), (54, 4876));
    }

    #[test]
    fn devices_outside_the_owned_set_or_of_another_type_are_refused() {
        let spec = |d: Device| NodeConfigSpec {
            devices: vec![d],
            ..Default::default()
        };
        assert_refused(
            spec(device("eth0", "220.0.0.1/8")),
            EntryKind::Device,
            "not one of the agent's devices",
        );
        let mut bridge = device("vx-bridge", "220.0.0.1/8");
        bridge.type_ = "bridge".into();
        assert_refused(spec(bridge), EntryKind::Device, "only `vxlan`");
        assert_refused(
            spec(device("vx-bridge", "220.0.0.1")),
            EntryKind::Device,
            "prefix length",
        );
        assert_refused(
            spec(device("vx-bridge-6", "220.0.0.1/8")),
            EntryKind::Device,
            "is IPv4 but device",
        );
        let mut bad_mac = device("vx-bridge", "220.0.0.1/8");
        bad_mac.mac = "01:00:5e:00:00:01".into();
        assert_refused(spec(bad_mac), EntryKind::Device, "not a unicast");
        let mut bad_mac = device("vx-bridge", "220.0.0.1/8");
        bad_mac.mac = "zz".into();
        assert_refused(spec(bad_mac), EntryKind::Device, "not a MAC");
        let mut bad_bind = device("vx-bridge", "220.0.0.1/8");
        bad_bind.bind_dev = "../etc".into();
        assert_refused(spec(bad_bind), EntryKind::Device, "bindDev");
        let mut bad_id = device("vx-bridge", "220.0.0.1/8");
        bad_id.id = 1 << 24;
        assert_refused(spec(bad_id), EntryKind::Device, "network identifier");
        let mut bad_port = device("vx-bridge", "220.0.0.1/8");
        bad_port.port = 70000;
        assert_refused(spec(bad_port), EntryKind::Device, "UDP port");
    }

    #[test]
    fn a_device_listed_twice_differently_keeps_the_first() {
        let spec = NodeConfigSpec {
            devices: vec![
                device("vx-bridge", "220.0.0.1/8"),
                device("vx-bridge", "220.0.0.2/8"),
            ],
            ..Default::default()
        };
        let validated = validate(&spec, OWN);
        assert_eq!(validated.devices.len(), 1);
        assert_eq!(validated.errors.len(), 1);
        assert!(validated.errors[0].message.contains("listed twice"));
    }

    #[test]
    fn routes_are_checked_and_truncated() {
        let route = |cidr: &str, gw: &str, dev: &str| NodeConfigSpec {
            routes: vec![Route {
                cidr: cidr.into(),
                gw: gw.into(),
                dev: dev.into(),
            }],
            ..Default::default()
        };
        let validated = validate(&route("10.20.1.7/16", "220.0.0.2", "vx-bridge"), OWN);
        assert_eq!(validated.routes[0].cidr.to_string(), "10.20.0.0/16");
        assert_refused(
            route("10.20.0.0/33", "220.0.0.2", "vx-bridge"),
            EntryKind::Route,
            "not a CIDR",
        );
        assert_refused(
            route("10.20.0.0/16", "nowhere", "vx-bridge"),
            EntryKind::Route,
            "gw `nowhere`",
        );
        assert_refused(
            route("10.20.0.0/16", "220.0.0.2", "eth0"),
            EntryKind::Route,
            "`eth0`",
        );
        assert_refused(
            route("10.20.0.0/16", "fd00::1", "vx-bridge"),
            EntryKind::Route,
            "different families",
        );
        assert_refused(
            route("fd00::/64", "fd00::1", "vx-bridge"),
            EntryKind::Route,
            "is IPv6 but device",
        );
    }

    #[test]
    fn iptables_entries_need_the_nat_table_a_known_chain_and_an_allowed_rule() {
        let rule = |table: &str, chain: &str, rule: &str| NodeConfigSpec {
            iptables: vec![Iptables {
                table: table.into(),
                chain: chain.into(),
                rule: rule.into(),
            }],
            ..Default::default()
        };
        let ok = validate(&rule("nat", "POSTROUTING", "-s 10.0.0.1 -j MASQUERADE"), OWN);
        assert_eq!(ok.iptables[0].rule, "-s 10.0.0.1/32 -j MASQUERADE");
        assert_refused(
            rule("filter", "POSTROUTING", "-j ACCEPT"),
            EntryKind::Iptables,
            "table `filter`",
        );
        assert_refused(
            rule("nat", "INPUT", "-j ACCEPT"),
            EntryKind::Iptables,
            "chain `INPUT`",
        );
        assert_refused(
            rule("nat", "POSTROUTING", "-s 10.0.0.0/8 -j DROP"),
            EntryKind::Iptables,
            "`-j DROP`",
        );
        assert_refused(
            rule("nat", "POSTROUTING", "--jump ACCEPT"),
            EntryKind::Iptables,
            "`--jump`",
        );
        assert_refused(
            rule("nat", "POSTROUTING", "-j ACCEPT && reboot"),
            EntryKind::Iptables,
            "`&&`",
        );
    }

    #[test]
    fn fdb_and_arp_entries_are_checked() {
        let fdb = |ip: &str, mac: &str, dev: &str| NodeConfigSpec {
            fdbs: vec![Fdb {
                ip: ip.into(),
                mac: mac.into(),
                dev: dev.into(),
            }],
            ..Default::default()
        };
        let ok = validate(&fdb("10.0.0.2", "00:00:00:00:00:00", "vx-bridge"), OWN);
        assert_eq!(ok.fdbs.len(), 1, "the all-zero flood entry is valid");
        assert_refused(
            fdb("10.0.0", "00:00:00:00:00:00", "vx-bridge"),
            EntryKind::Fdb,
            "not an IP address",
        );
        assert_refused(
            fdb("10.0.0.2", "00:00:00:00:00", "vx-bridge"),
            EntryKind::Fdb,
            "not a MAC",
        );
        assert_refused(
            fdb("10.0.0.2", "00:00:00:00:00:00", "flannel.1"),
            EntryKind::Fdb,
            "`flannel.1`",
        );
        assert_refused(
            fdb("10.0.0.2", "ff:ff:ff:ff:ff:ff", "vx-bridge"),
            EntryKind::Fdb,
            "reserved",
        );
        let arp = |ip: &str, mac: &str, dev: &str| NodeConfigSpec {
            arps: vec![Arp {
                ip: ip.into(),
                mac: mac.into(),
                dev: dev.into(),
            }],
            ..Default::default()
        };
        assert_eq!(
            validate(&arp("220.0.0.2", "0a:00:00:00:00:02", "vx-bridge"), OWN)
                .arps
                .len(),
            1
        );
        assert_refused(
            arp("220.0.0.2", "0a:00:00:00:00:02", "lo"),
            EntryKind::Arp,
            "`lo`",
        );
        assert_refused(
            arp("9480::2", "0a:00:00:00:00:02", "vx-bridge"),
            EntryKind::Arp,
            "is IPv6 but device",
        );
        assert_refused(
            arp("220.0.0.2", "0a:00", "vx-bridge"),
            EntryKind::Arp,
            "not a MAC",
        );
    }

    fn policy(req_id: i32, dir: i32) -> NodeConfigSpec {
        NodeConfigSpec {
            xfrm_policies: vec![XfrmPolicy {
                left_ip: "192.168.0.1".into(),
                left_net: "10.10.1.0/24".into(),
                right_ip: "203.0.113.7".into(),
                right_net: "10.20.0.0/16".into(),
                req_id,
                dir,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn xfrm_policies_need_the_agents_reqid_and_a_kernel_direction() {
        let ok = validate(&policy(ipsec::REQID, 1), OWN);
        assert_eq!(ok.xfrm_policies[0].dir, XfrmDirection::Out);
        assert_refused(policy(336, 1), EntryKind::XfrmPolicy, "reqid 336");
        assert_refused(policy(ipsec::REQID, 3), EntryKind::XfrmPolicy, "dir 3");
        let mut bad = policy(ipsec::REQID, 0);
        bad.xfrm_policies[0].left_net = "fd00::/64".into();
        assert_refused(bad, EntryKind::XfrmPolicy, "different families");
    }

    fn state(req_id: i32, spi: u32, peer: &str) -> NodeConfigSpec {
        NodeConfigSpec {
            xfrm_states: vec![XfrmState {
                left_ip: "192.168.0.1".into(),
                right_ip: "203.0.113.7".into(),
                req_id,
                spi,
                peer: peer.into(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn xfrm_states_need_the_reqid_and_an_spi_of_this_pair() {
        let outbound = validate(&state(ipsec::REQID, ipsec::spi(OWN, PEER), PEER), OWN);
        assert_eq!(outbound.xfrm_states[0].direction, Direction::Outbound);
        let inbound = validate(&state(ipsec::REQID, ipsec::spi(PEER, OWN), PEER), OWN);
        assert_eq!(inbound.xfrm_states[0].direction, Direction::Inbound);
        assert_refused(
            state(336, ipsec::spi(OWN, PEER), PEER),
            EntryKind::XfrmState,
            "reqid 336",
        );
        assert_refused(
            state(ipsec::REQID, ipsec::spi(OWN, "c-node9"), PEER),
            EntryKind::XfrmState,
            "neither direction",
        );
        assert_refused(
            state(ipsec::REQID, 0x1234, ""),
            EntryKind::XfrmState,
            "peer is empty",
        );
        assert_refused(
            state(ipsec::REQID, ipsec::spi(OWN, OWN), OWN),
            EntryKind::XfrmState,
            "this node",
        );
    }

    #[test]
    fn avoid_masq_entries_need_the_owned_set() {
        let ipset = |cidr: &str, name: &str| NodeConfigSpec {
            ipsets_avoid_masq: vec![IpsetAvoidMasq {
                cidr: cidr.into(),
                name: name.into(),
            }],
            ..Default::default()
        };
        let ok = validate(&ipset("10.20.0.1/16", AVOID_MASQ_SET), OWN);
        assert_eq!(ok.avoid_masq[0].cidr.to_string(), "10.20.0.0/16");
        assert_refused(
            ipset("10.20.0.0/16", "kosmosipset"),
            EntryKind::IpsetAvoidMasq,
            "`kosmosipset`",
        );
        assert_refused(
            ipset("10.20.0.0/99", AVOID_MASQ_SET),
            EntryKind::IpsetAvoidMasq,
            "not a CIDR",
        );
        assert_refused(
            ipset("0.0.0.0/0", AVOID_MASQ_SET),
            EntryKind::IpsetAvoidMasq,
            "prefix length 0",
        );
    }

    #[test]
    fn one_bad_entry_does_not_hide_the_good_ones() {
        let spec = NodeConfigSpec {
            routes: vec![
                Route {
                    cidr: "10.20.0.0/16".into(),
                    gw: "220.0.0.2".into(),
                    dev: "vx-bridge".into(),
                },
                Route {
                    cidr: "10.30.0.0/99".into(),
                    gw: "220.0.0.3".into(),
                    dev: "vx-bridge".into(),
                },
                Route {
                    cidr: "10.20.0.0/16".into(),
                    gw: "220.0.0.2".into(),
                    dev: "vx-bridge".into(),
                },
            ],
            ..Default::default()
        };
        let validated = validate(&spec, OWN);
        assert_eq!(validated.routes.len(), 1, "duplicates collapse");
        assert_eq!(validated.errors.len(), 1);
        assert_eq!(
            validated.errors[0].entry,
            "10.30.0.0/99 via 220.0.0.3 dev vx-bridge"
        );
    }
}
