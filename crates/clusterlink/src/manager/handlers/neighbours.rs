//! The FDB and ARP entries that let a node send to one peer's VXLAN device.
//!
//! Learning is off on these devices and no multicast group is set, so the
//! kernel knows a peer only from static entries, per peer:
//! - FDB `00:00:00:00:00:00 dst <peer underlay IP>`: where flooded frames go;
//! - FDB `<peer MAC> dst <peer underlay IP>`: where unicast frames go;
//! - ARP `<peer device IP> lladdr <peer MAC>`: so no ARP request is needed.

use super::Output;
use crate::manager::device::{ALL_ZERO_MAC, VxlanKind};
use crate::manager::net::{self, Family};
use crate::manager::topology::NodeView;
use drmysql_api::clusterlink::{Arp, Fdb};

/// Adds to `node` the entries for `peer`'s device of `kind`, when both have
/// that device and the peer an underlay address of `family`.
pub(super) fn add(
    out: &mut Output,
    node: &NodeView<'_>,
    peer: &NodeView<'_>,
    family: Family,
    kind: VxlanKind,
) {
    if out.device(&node.name, kind.name).is_none() {
        return;
    }
    let Some(peer_ip) = peer.underlay(family) else {
        return;
    };
    let Some(peer_device) = out.device(&peer.name, kind.name) else {
        return;
    };
    let Some(peer_device_ip) = net::device_ip(&peer_device.addr) else {
        return;
    };
    let mac = peer_device.mac.clone();
    let dev = kind.name.to_owned();
    let spec = out.spec(&node.name);
    spec.fdbs.push(Fdb {
        ip: peer_ip.to_string(),
        mac: ALL_ZERO_MAC.to_owned(),
        dev: dev.clone(),
    });
    spec.fdbs.push(Fdb {
        ip: peer_ip.to_string(),
        mac: mac.clone(),
        dev: dev.clone(),
    });
    spec.arps.push(Arp {
        ip: peer_device_ip.to_string(),
        mac,
        dev,
    });
}
