//! VxLocalMacCache: the `vx-local` neighbours of a gateway-mode cluster.
//!
//! Each internal node learns its gateway, so that its routes via the gateway's
//! `vx-local` address resolve. The gateway learns every internal node of its
//! cluster: replies to host-network traffic (a packet whose source became a
//! `vx-local` address) must find their way back over `vx-local`. Kosmos added
//! this return path for its issue #29.

use super::{Output, neighbours};
use crate::manager::device;
use crate::manager::net::Family;
use crate::manager::topology::{Role, Topology};

pub(super) fn run(topology: &Topology<'_>, out: &mut Output) {
    for node in topology.nodes.iter().filter(|node| node.role == Role::Internal) {
        let Some(gateway) = topology.gateway_of(&node.cluster.name) else {
            continue;
        };
        for family in Family::ALL {
            neighbours::add(out, node, gateway, family, device::local(family));
        }
    }

    for gateway in topology
        .gateways()
        .filter(|gateway| gateway.cluster.is_gateway_mode())
    {
        let internal = topology
            .nodes_of(&gateway.cluster.name)
            .filter(|node| node.role == Role::Internal);
        for node in internal {
            for family in Family::ALL {
                neighbours::add(out, gateway, node, family, device::local(family));
            }
        }
    }
}
