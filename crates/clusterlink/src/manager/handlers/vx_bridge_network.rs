//! VxBridgeNetwork: `vx-bridge` (and `vx-bridge-6`) on every node that talks
//! to other clusters directly: each cluster's gateway, and every endpoint node
//! (non-gateway node of a p2p cluster).
//!
//! `vx-bridge` is the overlay between clusters; its peers are exactly these
//! nodes, in every cluster.

use super::{Output, vxlan_device};
use crate::manager::device;
use crate::manager::net::Family;
use crate::manager::topology::Topology;

pub(super) fn run(topology: &Topology<'_>, out: &mut Output) {
    for node in topology.bridge_nodes() {
        for family in Family::ALL {
            let Some(range) = node.cluster.bridge_ranges.get(family) else {
                continue;
            };
            if let Some(dev) = vxlan_device::build(topology, node, device::bridge(family), range) {
                out.spec(&node.name).devices.push(dev);
            }
        }
    }
}
