//! Routes in table 200 through the agent's devices:
//! `ip route add <cidr> via <gw> dev <vx> onlink table 200`.
//!
//! `onlink` because the next hop (the remote VXLAN address) is reached by the
//! ARP entry the agent installs, not by a connected subnet. The agent owns
//! exactly the table-200 routes whose output device is one of its devices;
//! routes in other tables or through other devices are never read as its own.

use std::net::IpAddr;

use ipnet::IpNet;
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType, RouteVia};

use super::error::AgentError;
use super::model::{ROUTE_TABLE, TableRoute, is_owned_device};
use super::netlink::{Links, Netlink};

/// A table-200 route through an owned device, as found in the kernel.
#[derive(Clone, Debug)]
pub(crate) struct ActualRoute {
    /// The owned device it leaves through.
    pub dev: String,
    /// `None` for a route of a shape the agent never makes (no gateway,
    /// multipath, not unicast): it is owned, unwanted, and removed.
    pub key: Option<TableRoute>,
    /// The route, for deleting it.
    pub message: RouteMessage,
}

impl ActualRoute {
    /// How it is named in messages.
    pub fn describe(&self) -> String {
        match &self.key {
            Some(route) => route.to_string(),
            None => format!("a route of another shape via {} in table {ROUTE_TABLE}", self.dev),
        }
    }
}

/// Reads the table-200 routes through owned devices, of both families.
pub(crate) async fn read(nl: &Netlink, links: &Links) -> Result<Vec<ActualRoute>, AgentError> {
    let mut found = Vec::new();
    let requests = [
        RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .table_id(ROUTE_TABLE)
            .build(),
        RouteMessageBuilder::<std::net::Ipv6Addr>::new()
            .table_id(ROUTE_TABLE)
            .build(),
    ];
    for request in requests {
        let routes = nl
            .dump("list routes", nl.handle.route().get(request).execute())
            .await?;
        for message in routes {
            if table_of(&message) != ROUTE_TABLE {
                continue;
            }
            let Some(dev) = output_device(&message).and_then(|index| links.name_of(index)) else {
                continue;
            };
            if !is_owned_device(dev) {
                continue;
            }
            let dev = dev.to_string();
            let key = route_key(&message, &dev);
            found.push(ActualRoute { dev, key, message });
        }
    }
    Ok(found)
}

fn table_of(message: &RouteMessage) -> u32 {
    message
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            RouteAttribute::Table(table) => Some(*table),
            _ => None,
        })
        .unwrap_or(u32::from(message.header.table))
}

fn output_device(message: &RouteMessage) -> Option<u32> {
    message.attributes.iter().find_map(|attribute| match attribute {
        RouteAttribute::Oif(index) => Some(*index),
        _ => None,
    })
}

fn route_key(message: &RouteMessage, dev: &str) -> Option<TableRoute> {
    if message.header.kind != RouteType::Unicast {
        return None;
    }
    let mut destination = None;
    let mut gateway = None;
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Destination(address) => destination = ip_of(address),
            RouteAttribute::Gateway(address) => gateway = ip_of(address),
            RouteAttribute::Via(RouteVia::Inet(ip)) => gateway = Some(IpAddr::V4(*ip)),
            RouteAttribute::Via(RouteVia::Inet6(ip)) => gateway = Some(IpAddr::V6(*ip)),
            RouteAttribute::MultiPath(_) => return None,
            _ => {}
        }
    }
    let destination = match destination {
        Some(ip) => ip,
        None => match message.header.address_family {
            rtnetlink::packet_route::AddressFamily::Inet6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        },
    };
    let cidr = IpNet::new(destination, message.header.destination_prefix_length)
        .ok()?
        .trunc();
    Some(TableRoute {
        cidr,
        gw: gateway?,
        dev: dev.to_string(),
    })
}

fn ip_of(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
        RouteAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
        _ => None,
    }
}

/// Adds `route` in table 200 with the onlink flag.
pub(crate) async fn add(nl: &Netlink, links: &Links, route: &TableRoute) -> Result<(), AgentError> {
    let index = links
        .index_of(&route.dev)
        .ok_or_else(|| AgentError::Precondition(format!("device {} does not exist", route.dev)))?;
    let invalid = |detail: String| AgentError::Precondition(format!("route {route}: {detail}"));
    let message = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(route.cidr.network(), route.cidr.prefix_len())
        .map_err(|e| invalid(format!("{e:?}")))?
        .gateway(route.gw)
        .map_err(|e| invalid(format!("{e:?}")))?
        .output_interface(index)
        .table_id(ROUTE_TABLE)
        .onlink()
        .build();
    nl.exec(
        || format!("add route {route}"),
        nl.handle.route().add(message).execute(),
    )
    .await
}

/// Deletes a route read by [`read`].
pub(crate) async fn delete(nl: &Netlink, route: &ActualRoute) -> Result<(), AgentError> {
    nl.exec(
        || format!("delete route {}", route.describe()),
        nl.handle.route().del(route.message.clone()).execute(),
    )
    .await
}
