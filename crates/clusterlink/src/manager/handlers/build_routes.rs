//! Kosmos's `BuildRoutes`: how every node of the other clusters reaches a set
//! of CIDRs that live behind one target node.
//!
//! For each CIDR and each node N of another cluster:
//! - N's cluster does not join the CIDR's family: nothing;
//! - the CIDR overlaps N's own cluster's pod or service CIDRs: nothing, a route
//!   would hijack local traffic;
//! - N has `vx-bridge` (a gateway, or any node of a p2p cluster): a route via
//!   the target's `vx-bridge` address, or, when both N and the target have an
//!   elastic IP and the CIDR is IPv4, IPsec instead ([`super::ipsec_pair`]);
//! - otherwise (an internal node): a route via its own gateway's `vx-local`
//!   address; the gateway forwards.
//!
//! Unlike Kosmos, no route is written on a device the node does not have (its
//! range did not parse): the agent could not install it.

use super::{Output, ipsec_pair};
use crate::manager::device;
use crate::manager::net::{self, Family};
use crate::manager::topology::{NodeView, Topology};
use drmysql_api::clusterlink::Route;
use ipnet::IpNet;

pub(super) fn build(topology: &Topology<'_>, out: &mut Output, target: &NodeView<'_>, cidrs: &[IpNet]) {
    for cidr in cidrs {
        let family = Family::of_net(cidr);
        let bridge = device::bridge(family);
        let Some(target_ip) = out.device_ip(&target.name, bridge.name) else {
            out.warnings.push(format!(
                "ClusterNode {:?} has no {} device; no routes to {cidr} lead to it",
                target.name, bridge.name
            ));
            continue;
        };

        for node in topology.nodes_except_cluster(&target.cluster.name) {
            if !node.cluster.supports(family)
                || topology
                    .own_cidrs(&node.cluster.name)
                    .iter()
                    .any(|own| net::intersects(own, cidr))
            {
                continue;
            }

            if node.has_bridge() {
                if family == Family::V4
                    && let (Some(target_eip), Some(node_ip), Some(_)) =
                        (target.elastic_ip, node.ipv4(), node.elastic_ip)
                {
                    ipsec_pair::add(out, node, node_ip, target, target_eip, *cidr);
                    continue;
                }
                if out.device(&node.name, bridge.name).is_some() {
                    out.spec(&node.name).routes.push(Route {
                        cidr: cidr.to_string(),
                        gw: target_ip.to_string(),
                        dev: bridge.name.to_owned(),
                    });
                }
                continue;
            }

            let local = device::local(family);
            if out.device(&node.name, local.name).is_none() {
                continue;
            }
            let Some(gateway_ip) = topology
                .gateway_of(&node.cluster.name)
                .and_then(|gateway| out.device_ip(&gateway.name, local.name))
            else {
                continue;
            };
            out.spec(&node.name).routes.push(Route {
                cidr: cidr.to_string(),
                gw: gateway_ip.to_string(),
                dev: local.name.to_owned(),
            });
        }
    }
}
