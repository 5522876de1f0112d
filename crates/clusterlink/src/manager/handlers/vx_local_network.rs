//! VxLocalNetwork: `vx-local` (and `vx-local-6`) on every node of every
//! gateway-mode cluster, the gateway included.
//!
//! Internal nodes have no path of their own to other clusters; `vx-local` is
//! the overlay that carries their cross-cluster traffic to their gateway, and
//! on the gateway the return path to them.

use super::{Output, vxlan_device};
use crate::manager::device;
use crate::manager::net::Family;
use crate::manager::topology::Topology;

pub(super) fn run(topology: &Topology<'_>, out: &mut Output) {
    for node in topology
        .nodes
        .iter()
        .filter(|node| node.cluster.is_gateway_mode())
    {
        for family in Family::ALL {
            let Some(range) = node.cluster.local_ranges.get(family) else {
                continue;
            };
            if let Some(dev) = vxlan_device::build(topology, node, device::local(family), range) {
                out.spec(&node.name).devices.push(dev);
            }
        }
    }
}
