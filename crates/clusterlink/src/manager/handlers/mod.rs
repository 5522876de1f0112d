//! The handler chain, in Kosmos's order (`network_manager.go
//! CalculateNetworkConfigs`), then drmysql's two additions.
//!
//! Each handler adds entries to the NodeConfigs being built. The order matters
//! only where a handler reads what an earlier one wrote: routes, FDB and ARP
//! entries name the devices the device handlers created. The lists are sorted
//! and deduplicated once at the end, so no handler cares about order within a
//! list.

mod avoid_masq;
mod build_routes;
mod cross_vpc;
mod global_map;
mod host_network;
mod init_nodes;
mod ipsec_pair;
mod neighbours;
mod pod_routes;
mod service_routes;
mod vx_bridge_mac_cache;
mod vx_bridge_network;
mod vx_local_mac_cache;
mod vx_local_network;
mod vxlan_device;

use super::net;
use super::topology::Topology;
use drmysql_api::clusterlink::{Device, NodeConfigSpec};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The iptables table of every rule.
pub const TABLE_NAT: &str = "nat";
/// Logical chain of the DNAT/NETMAP rules on incoming packets (Kosmos).
pub const CHAIN_PREROUTING: &str = "PREROUTING";
/// Logical chain of the MASQUERADE and SNAT rules (Kosmos).
pub const CHAIN_POSTROUTING: &str = "POSTROUTING";
/// Logical chain of the DNAT rules on locally generated packets; drmysql's
/// addition for nodes in different VPCs (Kosmos has no such chain).
pub const CHAIN_OUTPUT: &str = "OUTPUT";
/// Name of the ipset whose destinations pod traffic reaches without masquerade
/// on non-Calico CNIs (`hash:net`; the agent keeps one set per family).
pub const AVOID_MASQ_IPSET: &str = "drmysql-avoid-masq";

/// What the chain builds.
#[derive(Default)]
pub(super) struct Output {
    /// NodeConfig specs by ClusterNode name.
    pub(super) results: BTreeMap<String, NodeConfigSpec>,
    /// Entries the handlers had to skip.
    pub(super) warnings: Vec<String>,
}

impl Output {
    /// The spec being built for `node`.
    fn spec(&mut self, node: &str) -> &mut NodeConfigSpec {
        self.results.entry(node.to_owned()).or_default()
    }

    /// The device `name` of `node`, once a device handler created it.
    fn device(&self, node: &str, name: &str) -> Option<&Device> {
        self.results
            .get(node)?
            .devices
            .iter()
            .find(|device| device.name == name)
    }

    /// The address of the device `name` of `node`, without prefix length.
    fn device_ip(&self, node: &str, name: &str) -> Option<IpAddr> {
        net::device_ip(&self.device(node, name)?.addr)
    }
}

/// Runs every handler in order.
pub(super) fn run_chain(topology: &Topology<'_>, out: &mut Output) {
    init_nodes::run(topology, out);
    vx_local_network::run(topology, out);
    vx_bridge_network::run(topology, out);
    service_routes::run(topology, out);
    pod_routes::run(topology, out);
    vx_local_mac_cache::run(topology, out);
    vx_bridge_mac_cache::run(topology, out);
    host_network::run(topology, out);
    global_map::run(topology, out);
    cross_vpc::run(topology, out);
    avoid_masq::run(topology, out);
}
