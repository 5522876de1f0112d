//! VXLAN devices and the policy-routing rule that sends traffic to table 200.
//!
//! A device is created as Kosmos creates it (`netlink.Vxlan` in Kosmos's
//! `device.go`): up, with the MAC from the NodeConfig, the VNI and port,
//! learning off, bound to its underlay device, with the underlay's first
//! global address of the family as local address, and then given its address.
//! The MTU is the underlay's minus the encapsulation overhead: 50 bytes for
//! IPv4 as in Kosmos, but 70 for IPv6, where Kosmos also subtracts 50 and so
//! lets full-size IPv6 packets be dropped or fragmented.
//!
//! There is no in-place update: a device whose settings differ from the
//! NodeConfig is deleted and created again, which also drops its routes and
//! neighbours; the caller re-creates those in the same pass.
//!
//! The rule `ip rule add pref 200 lookup 200 proto 200` exists for a family
//! while a device of that family is wanted. Rules are matched exactly
//! (preference 200, table 200, protocol 200, no selector), so a rule someone
//! else added is never touched; see [`RULE_PROTOCOL`] for why the protocol.

use rtnetlink::LinkVxlan;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::route::RouteProtocol;
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};

use super::error::AgentError;
use super::model::{Family, ROUTE_TABLE, RULE_PRIORITY, RULE_PROTOCOL, VxlanDevice};
use super::netlink::{Links, Netlink};

/// Smallest MTU the kernel accepts for IPv4.
const MIN_MTU: u32 = 68;

/// The VXLAN encapsulation overhead for an underlay of `family`: outer IP
/// header (20 or 40), UDP (8), VXLAN (8) and inner Ethernet (14).
pub(crate) fn overhead(family: Family) -> u32 {
    match family {
        Family::V4 => 50,
        Family::V6 => 70,
    }
}

/// Creates `device` and gives it its address. When the address cannot be set
/// the half-made device is removed again, so a later pass starts clean.
pub(crate) async fn create(nl: &Netlink, links: &Links, device: &VxlanDevice) -> Result<(), AgentError> {
    let family = device.family();
    let bind = links
        .by_name(&device.bind_dev)
        .ok_or_else(|| AgentError::Precondition(format!("bind device {} does not exist", device.bind_dev)))?;
    let local = links.first_global(bind.index, family).ok_or_else(|| {
        AgentError::Precondition(format!(
            "bind device {} has no global {} address",
            device.bind_dev,
            family.label()
        ))
    })?;
    let bind_mtu = bind
        .mtu
        .ok_or_else(|| AgentError::Precondition(format!("bind device {} reports no MTU", device.bind_dev)))?;
    let mtu = bind_mtu
        .checked_sub(overhead(family))
        .filter(|mtu| *mtu >= MIN_MTU)
        .ok_or_else(|| {
            AgentError::Precondition(format!(
                "bind device {} has MTU {bind_mtu}, too small for VXLAN",
                device.bind_dev
            ))
        })?;
    let mut builder = LinkVxlan::new(&device.name, device.vni)
        .dev(bind.index)
        .port(device.port)
        .learning(false)
        .mtu(mtu)
        .address(device.mac.0.to_vec())
        .up();
    builder = match local.addr() {
        std::net::IpAddr::V4(ip) => builder.local(ip),
        std::net::IpAddr::V6(ip) => builder.local6(ip),
    };
    nl.exec(
        || format!("create device {device}"),
        nl.handle.link().add(builder.build()).execute(),
    )
    .await?;
    let index = index_of(nl, &device.name).await?;
    let address = nl
        .exec(
            || format!("add address {} to {}", device.addr, device.name),
            nl.handle
                .address()
                .add(index, device.addr.addr(), device.addr.prefix_len())
                .execute(),
        )
        .await;
    if let Err(error) = address {
        if let Err(cleanup) = delete(nl, index, &device.name).await {
            tracing::warn!(device = %device.name, error = %cleanup, "could not remove a half-created device");
        }
        return Err(error);
    }
    Ok(())
}

async fn index_of(nl: &Netlink, name: &str) -> Result<u32, AgentError> {
    let found = nl
        .dump(
            &format!("find device {name}"),
            nl.handle.link().get().match_name(name.to_string()).execute(),
        )
        .await?;
    found
        .first()
        .map(|message| message.header.index)
        .ok_or_else(|| AgentError::Precondition(format!("device {name} vanished right after it was created")))
}

/// Deletes the link with `index` (named `name`, for messages).
pub(crate) async fn delete(nl: &Netlink, index: u32, name: &str) -> Result<(), AgentError> {
    nl.exec(
        || format!("delete device {name}"),
        nl.handle.link().del(index).execute(),
    )
    .await
}

/// One of the agent's ip rules, as found in the kernel.
#[derive(Clone, Debug)]
pub(crate) struct ActualRule {
    pub family: Family,
    pub message: RuleMessage,
}

/// Reads the agent's rules (`pref 200 lookup 200 proto 200`, no selector), of
/// both families.
pub(crate) async fn read_rules(nl: &Netlink) -> Result<Vec<ActualRule>, AgentError> {
    let mut found = Vec::new();
    for (family, version) in [
        (Family::V4, rtnetlink::IpVersion::V4),
        (Family::V6, rtnetlink::IpVersion::V6),
    ] {
        let rules = nl
            .dump("list ip rules", nl.handle.rule().get(version).execute())
            .await?;
        found.extend(
            rules
                .into_iter()
                .filter(is_own_rule)
                .map(|message| ActualRule { family, message }),
        );
    }
    Ok(found)
}

fn is_own_rule(message: &RuleMessage) -> bool {
    let header = &message.header;
    let mut priority = None;
    let mut protocol = None;
    let mut table = u32::from(header.table);
    for attribute in &message.attributes {
        match attribute {
            RuleAttribute::Priority(value) => priority = Some(*value),
            RuleAttribute::Table(value) => table = *value,
            RuleAttribute::Protocol(value) => protocol = Some(*value),
            // A selector makes it someone else's rule. The kernel reports
            // some attributes with their neutral value on every rule.
            RuleAttribute::Source(_)
            | RuleAttribute::Destination(_)
            | RuleAttribute::Iifname(_)
            | RuleAttribute::Oifname(_)
            | RuleAttribute::Goto(_)
            | RuleAttribute::UidRange(_)
            | RuleAttribute::IpProtocol(_)
            | RuleAttribute::SourcePortRange(_)
            | RuleAttribute::DestinationPortRange(_)
            | RuleAttribute::L3MDev(true) => return false,
            RuleAttribute::FwMark(value) if *value != 0 => return false,
            RuleAttribute::TunId(value) if *value != 0 => return false,
            RuleAttribute::SuppressPrefixLen(value) | RuleAttribute::SuppressIfGroup(value)
                if *value != u32::MAX =>
            {
                return false;
            }
            _ => {}
        }
    }
    priority == Some(RULE_PRIORITY)
        && protocol == Some(RouteProtocol::from(RULE_PROTOCOL))
        && table == ROUTE_TABLE
        && header.action == RuleAction::ToTable
        && header.src_len == 0
        && header.dst_len == 0
        && header.tos == 0
        && matches!(header.family, AddressFamily::Inet | AddressFamily::Inet6)
}

/// Adds `ip rule add pref 200 lookup 200 proto 200` for `family`.
pub(crate) async fn add_rule(nl: &Netlink, family: Family) -> Result<(), AgentError> {
    let operation = || {
        format!(
            "add {} rule pref {RULE_PRIORITY} lookup {ROUTE_TABLE}",
            family.label()
        )
    };
    let request = nl
        .handle
        .rule()
        .add()
        .table_id(ROUTE_TABLE)
        .priority(RULE_PRIORITY)
        .action(RuleAction::ToTable);
    let protocol = RuleAttribute::Protocol(RouteProtocol::from(RULE_PROTOCOL));
    match family {
        Family::V4 => {
            let mut request = request.v4();
            request.message_mut().attributes.push(protocol);
            nl.exec(operation, request.execute()).await
        }
        Family::V6 => {
            let mut request = request.v6();
            request.message_mut().attributes.push(protocol);
            nl.exec(operation, request.execute()).await
        }
    }
}

/// Deletes one of the agent's rules.
pub(crate) async fn delete_rule(nl: &Netlink, rule: &ActualRule) -> Result<(), AgentError> {
    nl.exec(
        || {
            format!(
                "delete {} rule pref {RULE_PRIORITY} lookup {ROUTE_TABLE}",
                rule.family.label()
            )
        },
        nl.handle.rule().del(rule.message.clone()).execute(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_overhead_is_the_full_outer_header() {
        assert_eq!(overhead(Family::V4), 50);
        assert_eq!(overhead(Family::V6), 70);
    }

    #[test]
    fn only_the_exact_rule_is_ours() {
        let mut own = RuleMessage::default();
        own.header.family = AddressFamily::Inet;
        own.header.table = 200;
        own.header.action = RuleAction::ToTable;
        own.attributes = vec![
            RuleAttribute::Priority(200),
            RuleAttribute::Table(200),
            RuleAttribute::Protocol(RouteProtocol::from(RULE_PROTOCOL)),
        ];
        assert!(is_own_rule(&own));
        let mut by_hand = own.clone();
        by_hand.attributes[2] = RuleAttribute::Protocol(RouteProtocol::Boot);
        assert!(
            !is_own_rule(&by_hand),
            "`ip rule add pref 200 lookup 200` by hand is not ours"
        );
        let mut with_defaults = own.clone();
        with_defaults
            .attributes
            .push(RuleAttribute::SuppressPrefixLen(u32::MAX));
        assert!(
            is_own_rule(&with_defaults),
            "neutral attributes the kernel always reports"
        );
        let mut with_selector = own.clone();
        with_selector.attributes.push(RuleAttribute::FwMark(1));
        assert!(!is_own_rule(&with_selector));
        let mut other_pref = own.clone();
        other_pref.attributes[0] = RuleAttribute::Priority(300);
        assert!(!is_own_rule(&other_pref));
        let mut other_table = own;
        other_table.attributes[1] = RuleAttribute::Table(100);
        other_table.header.table = 100;
        assert!(!is_own_rule(&other_table));
    }
}
