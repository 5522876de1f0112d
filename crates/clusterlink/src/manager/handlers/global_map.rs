//! GlobalMap: NETMAP and SNAT for clusters whose pod or service CIDRs overlap
//! another's and are therefore shown to other clusters under a global CIDR
//! (`spec.clusterLinkOptions.globalCIDRsMap`, real to global).
//!
//! On each node of the cluster that has `vx-bridge`, table `nat`:
//! - `PREROUTING -d <global> -i vx-bridge -j NETMAP --to <real>`: traffic
//!   arriving for the global CIDR reaches the real one;
//! - `POSTROUTING -s <real> -o vx-bridge -j SNAT --to-source <global network address>`:
//!   traffic leaving appears to come from the global CIDR. As in Kosmos the
//!   SNAT target is one address, the global CIDR's network address.

use super::{CHAIN_POSTROUTING, CHAIN_PREROUTING, Output, TABLE_NAT};
use crate::manager::device;
use crate::manager::net::Family;
use crate::manager::topology::Topology;
use drmysql_api::clusterlink::Iptables;

pub(super) fn run(topology: &Topology<'_>, out: &mut Output) {
    for node in topology.bridge_nodes() {
        for (real, global) in &node.cluster.global_map {
            let family = Family::of_net(real);
            if !node.cluster.supports(family) {
                continue;
            }
            let bridge = device::bridge(family).name;
            let spec = out.spec(&node.name);
            spec.iptables.push(Iptables {
                table: TABLE_NAT.to_owned(),
                chain: CHAIN_PREROUTING.to_owned(),
                rule: format!("-d {global} -i {bridge} -j NETMAP --to {real}"),
            });
            spec.iptables.push(Iptables {
                table: TABLE_NAT.to_owned(),
                chain: CHAIN_POSTROUTING.to_owned(),
                rule: format!("-s {real} -o {bridge} -j SNAT --to-source {}", global.network()),
            });
        }
    }
}
