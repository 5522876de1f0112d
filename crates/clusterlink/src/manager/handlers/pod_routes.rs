//! PodRoutes: every other cluster's nodes route a node's pod CIDRs to it.
//!
//! The targets are the nodes with `vx-bridge`. In a p2p cluster each of them
//! owns its node's pod CIDRs (`ClusterNode.spec.podCIDRs`), so traffic goes
//! straight to the node hosting the pod; in a gateway-mode cluster the gateway
//! takes the whole cluster's pod CIDRs and the CNI delivers from there.

use super::{Output, build_routes};
use crate::manager::topology::Topology;

pub(super) fn run(topology: &Topology<'_>, out: &mut Output) {
    for target in topology.bridge_nodes() {
        build_routes::build(topology, out, target, &target.routed_pod_cidrs());
    }
}
