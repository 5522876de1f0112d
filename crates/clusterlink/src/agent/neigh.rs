//! FDB and ARP entries of the agent's VXLAN devices.
//!
//! The devices run with learning off and without a multicast group, so these
//! entries are the whole of VXLAN's control plane, as in Kosmos:
//!
//! - FDB (`bridge fdb append <mac> dev <vx> dst <ip> self permanent`): which
//!   underlay address a MAC lives behind. The all-zero MAC entries, one per
//!   peer, carry broadcast and unknown traffic; `append` lets the zero MAC
//!   have many destinations.
//! - ARP (`ip neigh replace <ip> lladdr <mac> dev <vx> nud permanent`): the
//!   MAC of a peer's VXLAN address, so no ARP request ever has to cross.
//!
//! The agent owns the FDB entries and the permanent neighbours of its own
//! devices, and never deletes an `ff:ff:ff:ff:ff:ff` entry (Kosmos's rule).

use std::net::IpAddr;

use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use super::error::AgentError;
use super::model::{ArpEntry, FdbEntry, Mac, is_owned_device};
use super::netlink::{Links, Netlink};

const NUD_PERMANENT: u16 = 0x80;
const NUD_NOARP: u16 = 0x40;

/// A neighbour-table entry of an owned device, as found in the kernel.
#[derive(Clone, Debug)]
pub(crate) struct ActualNeighbour<K> {
    /// The owned device.
    pub dev: String,
    /// What the agent compares; `None` for an FDB entry without a
    /// destination, which the agent never makes.
    pub key: Option<K>,
    /// The entry, for deleting it.
    pub message: NeighbourMessage,
}

fn parts(message: &NeighbourMessage) -> (Option<Mac>, Option<IpAddr>) {
    let mut mac = None;
    let mut ip = None;
    for attribute in &message.attributes {
        match attribute {
            NeighbourAttribute::LinkLayerAddress(bytes) => mac = Mac::from_bytes(bytes),
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => ip = Some(IpAddr::V4(*v4)),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => ip = Some(IpAddr::V6(*v6)),
            // In an AF_BRIDGE (FDB) message the destination is not decoded by
            // family; its length tells IPv4 from IPv6.
            NeighbourAttribute::Destination(NeighbourAddress::Other(bytes)) => ip = ip_from_bytes(bytes),
            _ => {}
        }
    }
    (mac, ip)
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Some(IpAddr::from(v4))
    } else {
        <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
    }
}

fn owned_dev<'a>(links: &'a Links, message: &NeighbourMessage) -> Option<&'a str> {
    links
        .name_of(message.header.ifindex)
        .filter(|name| is_owned_device(name))
}

/// Reads the FDB entries of owned devices, except broadcast ones.
pub(crate) async fn read_fdbs(
    nl: &Netlink,
    links: &Links,
) -> Result<Vec<ActualNeighbour<FdbEntry>>, AgentError> {
    let request = nl
        .handle
        .neighbours()
        .get()
        .set_address_family(AddressFamily::Bridge)
        .execute();
    let entries = nl.dump("list fdb entries", request).await?;
    Ok(entries
        .into_iter()
        .filter_map(|message| {
            let dev = owned_dev(links, &message)?.to_string();
            let (mac, dst) = parts(&message);
            if mac == Some(Mac::BROADCAST) {
                return None;
            }
            let key = match (mac, dst) {
                (Some(mac), Some(dst)) => Some(FdbEntry {
                    mac,
                    dst,
                    dev: dev.clone(),
                }),
                _ => None,
            };
            Some(ActualNeighbour { dev, key, message })
        })
        .collect())
}

/// Reads the permanent IPv4 and IPv6 neighbours of owned devices, except
/// broadcast ones.
pub(crate) async fn read_arps(
    nl: &Netlink,
    links: &Links,
) -> Result<Vec<ActualNeighbour<ArpEntry>>, AgentError> {
    let mut found = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let request = nl.handle.neighbours().get().set_address_family(family).execute();
        for message in nl.dump("list neighbours", request).await? {
            if u16::from(message.header.state) & NUD_PERMANENT == 0 {
                continue;
            }
            let Some(dev) = owned_dev(links, &message).map(str::to_string) else {
                continue;
            };
            let (mac, ip) = parts(&message);
            if mac == Some(Mac::BROADCAST) {
                continue;
            }
            let key = match (mac, ip) {
                (Some(mac), Some(ip)) => Some(ArpEntry {
                    ip,
                    mac,
                    dev: dev.clone(),
                }),
                _ => None,
            };
            found.push(ActualNeighbour { dev, key, message });
        }
    }
    Ok(found)
}

fn device_index(links: &Links, dev: &str) -> Result<u32, AgentError> {
    links
        .index_of(dev)
        .ok_or_else(|| AgentError::Precondition(format!("device {dev} does not exist")))
}

fn neighbour_address(ip: IpAddr) -> NeighbourAddress {
    match ip {
        IpAddr::V4(v4) => NeighbourAddress::Inet(v4),
        IpAddr::V6(v6) => NeighbourAddress::Inet6(v6),
    }
}

fn fdb_message(index: u32, entry: &FdbEntry) -> NeighbourMessage {
    let mut message = NeighbourMessage::default();
    message.header.family = AddressFamily::Bridge;
    message.header.ifindex = index;
    message.header.state = NeighbourState::from(NUD_PERMANENT | NUD_NOARP);
    message.header.flags = NeighbourFlags::Own;
    message.attributes = vec![
        NeighbourAttribute::LinkLayerAddress(entry.mac.0.to_vec()),
        NeighbourAttribute::Destination(neighbour_address(entry.dst)),
    ];
    message
}

/// Appends an FDB entry (`NLM_F_CREATE | NLM_F_APPEND`, as `bridge fdb append`).
/// rtnetlink's own request sends `NLM_F_EXCL` or `NLM_F_REPLACE`, which would
/// refuse or overwrite a second destination of the all-zero MAC.
pub(crate) async fn add_fdb(nl: &Netlink, links: &Links, entry: &FdbEntry) -> Result<(), AgentError> {
    let index = device_index(links, &entry.dev)?;
    let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(fdb_message(index, entry)));
    request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
    nl.exec(
        || format!("add fdb {entry}"),
        acknowledge(nl.handle.clone(), request),
    )
    .await
}

async fn acknowledge(
    mut handle: rtnetlink::Handle,
    request: NetlinkMessage<RouteNetlinkMessage>,
) -> Result<(), rtnetlink::Error> {
    use futures::StreamExt;
    let mut response = handle.request(request)?;
    while let Some(message) = response.next().await {
        if let NetlinkPayload::Error(error) = message.payload {
            return Err(rtnetlink::Error::NetlinkError(error));
        }
    }
    Ok(())
}

/// Deletes one destination of an FDB entry.
pub(crate) async fn delete_fdb(nl: &Netlink, entry: &ActualNeighbour<FdbEntry>) -> Result<(), AgentError> {
    let message = match &entry.key {
        Some(key) => fdb_message(entry.message.header.ifindex, key),
        None => entry.message.clone(),
    };
    nl.exec(
        || format!("delete fdb {}", describe_fdb(entry)),
        nl.handle.neighbours().del(message).execute(),
    )
    .await
}

/// How an FDB entry read from the kernel is named in messages.
pub(crate) fn describe_fdb(entry: &ActualNeighbour<FdbEntry>) -> String {
    match &entry.key {
        Some(key) => key.to_string(),
        None => format!("an fdb entry without destination on {}", entry.dev),
    }
}

/// Sets a permanent neighbour (`ip neigh replace ... nud permanent`).
pub(crate) async fn add_arp(nl: &Netlink, links: &Links, entry: &ArpEntry) -> Result<(), AgentError> {
    let index = device_index(links, &entry.dev)?;
    let request = nl
        .handle
        .neighbours()
        .add(index, entry.ip)
        .link_layer_address(&entry.mac.0)
        .state(NeighbourState::Permanent)
        .replace()
        .execute();
    nl.exec(|| format!("add neighbour {entry}"), request).await
}

/// Deletes a permanent neighbour read by [`read_arps`].
pub(crate) async fn delete_arp(nl: &Netlink, entry: &ActualNeighbour<ArpEntry>) -> Result<(), AgentError> {
    nl.exec(
        || format!("delete neighbour {}", describe_arp(entry)),
        nl.handle.neighbours().del(entry.message.clone()).execute(),
    )
    .await
}

/// How a neighbour read from the kernel is named in messages.
pub(crate) fn describe_arp(entry: &ActualNeighbour<ArpEntry>) -> String {
    match &entry.key {
        Some(key) => key.to_string(),
        None => format!("a permanent neighbour without address on {}", entry.dev),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_fdb_destination_decodes_by_length() {
        let mut message = NeighbourMessage::default();
        message.header.family = AddressFamily::Bridge;
        message.attributes = vec![
            NeighbourAttribute::LinkLayerAddress(vec![0; 6]),
            NeighbourAttribute::Destination(NeighbourAddress::Other(vec![10, 0, 0, 12])),
        ];
        assert_eq!(
            parts(&message),
            (Some(Mac([0; 6])), Some(IpAddr::from([10, 0, 0, 12])))
        );
        let v6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        message.attributes[1] = NeighbourAttribute::Destination(NeighbourAddress::Other(v6.to_vec()));
        assert_eq!(parts(&message).1, Some(IpAddr::from(v6)));
    }
}
