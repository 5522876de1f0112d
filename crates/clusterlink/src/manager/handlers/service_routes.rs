//! ServiceRoutes: every other cluster's nodes route a cluster's service CIDRs
//! to that cluster's gateway.
//!
//! Service IPs are translated by kube-proxy (or its replacement) on whichever
//! node receives the packet, so one node per cluster suffices, and the gateway
//! is the one that exists in both modes.

use super::{Output, build_routes};
use crate::manager::topology::Topology;

pub(super) fn run(topology: &Topology<'_>, out: &mut Output) {
    for target in topology.gateways() {
        let cidrs = target.cluster.exported(&target.cluster.service_cidrs);
        build_routes::build(topology, out, target, &cidrs);
    }
}
