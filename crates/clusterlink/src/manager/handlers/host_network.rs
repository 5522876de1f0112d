//! HostNetwork: MASQUERADE on the gateway of each gateway-mode cluster.
//!
//! Traffic the gateway's own host sends, or forwards for an internal node's
//! host, leaves with a `vx-local` or `vx-bridge` source address that the far
//! side has no route back to; masquerading it to the gateway's `vx-bridge`
//! address makes the reply come back to the gateway. Pod traffic keeps its pod
//! source addresses. Table `nat`, logical chain `POSTROUTING`:
//! - `-s <localCIDRs> -o vx-bridge -j MASQUERADE`
//! - `-s <bridgeCIDRs> -j MASQUERADE`
//!
//! and the same with the IPv6 ranges and `vx-bridge-6`.

use super::{CHAIN_POSTROUTING, Output, TABLE_NAT};
use crate::manager::device;
use crate::manager::net::Family;
use crate::manager::topology::Topology;
use drmysql_api::clusterlink::Iptables;

pub(super) fn run(topology: &Topology<'_>, out: &mut Output) {
    for gateway in topology
        .gateways()
        .filter(|gateway| gateway.cluster.is_gateway_mode())
    {
        for family in Family::ALL
            .into_iter()
            .filter(|family| gateway.cluster.supports(*family))
        {
            let mut rules = Vec::new();
            if let Some(local) = gateway.cluster.local_ranges.get(family) {
                rules.push(format!(
                    "-s {local} -o {} -j MASQUERADE",
                    device::bridge(family).name
                ));
            }
            if let Some(bridge) = gateway.cluster.bridge_ranges.get(family) {
                rules.push(format!("-s {bridge} -j MASQUERADE"));
            }
            let spec = out.spec(&gateway.name);
            for rule in rules {
                spec.iptables.push(Iptables {
                    table: TABLE_NAT.to_owned(),
                    chain: CHAIN_POSTROUTING.to_owned(),
                    rule,
                });
            }
        }
    }
}
