//! Kosmos's `BuildVxlanDevice`: one VXLAN device of a node.
//!
//! The address takes the network bits of the configured range and the host
//! bits of the node's underlay IP, so every node's address is known to every
//! other without coordination. The device binds to the node's underlay
//! interface. The MAC is the previous NodeConfig's, or derived ([`crate::manager::mac`]).

use crate::manager::device::{VXLAN_TYPE, VxlanKind};
use crate::manager::mac;
use crate::manager::net::{self, Family};
use crate::manager::topology::{NodeView, Topology};
use drmysql_api::clusterlink::Device;
use ipnet::IpNet;

/// The device of `kind` on `node` with its address in `range`, or `None` when
/// the node has no underlay address of the range's family.
pub(super) fn build(
    topology: &Topology<'_>,
    node: &NodeView<'_>,
    kind: VxlanKind,
    range: IpNet,
) -> Option<Device> {
    let underlay = node.underlay(Family::of_net(&range))?;
    let addr = net::vxlan_address(underlay, &range)?;
    Some(Device {
        type_: VXLAN_TYPE.to_owned(),
        name: kind.name.to_owned(),
        addr: addr.to_string(),
        mac: mac::device_mac(
            &node.name,
            kind.name,
            topology.previous_mac(&node.name, kind.name),
        ),
        bind_dev: node.interface.clone(),
        id: kind.vni,
        port: kind.port,
    })
}
