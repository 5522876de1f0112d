//! VxBridgeMacCache: a full mesh of `vx-bridge` neighbours among all nodes
//! that have `vx-bridge`, in every cluster, for each family both ends join.
//!
//! Any of them may be the next hop of another's route (directly in p2p mode,
//! gateway to gateway in gateway mode), so each must know every other's MAC
//! and underlay address.

use super::{Output, neighbours};
use crate::manager::device;
use crate::manager::net::Family;
use crate::manager::topology::Topology;

pub(super) fn run(topology: &Topology<'_>, out: &mut Output) {
    for node in topology.bridge_nodes() {
        for peer in topology.bridge_nodes().filter(|peer| peer.name != node.name) {
            for family in Family::ALL {
                if node.cluster.supports(family) && peer.cluster.supports(family) {
                    neighbours::add(out, node, peer, family, device::bridge(family));
                }
            }
        }
    }
}
