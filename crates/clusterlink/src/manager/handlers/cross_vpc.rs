//! Across VPCs (drmysql's addition, seed 001): DNAT a remote node's internal
//! IP to its elastic IP.
//!
//! The FDB entries and the VXLAN packets address a remote node by its internal
//! (underlay) IP, which is unreachable from another VPC. On every node with
//! `vx-bridge`, for every `vx-bridge` node of another cluster that has an
//! elastic IP, table `nat`, logical chain `OUTPUT`:
//! `-d <remote internal IP>/32 -j DNAT --to-destination <remote elastic IP>`.
//! `OUTPUT` sees locally generated packets, the kernel's VXLAN encapsulation
//! included, so host traffic and the overlay both reach the remote node
//! through its 1:1 NAT. Kosmos has only `PREROUTING` and `POSTROUTING`; the
//! agent hooks its own chain into `OUTPUT` the same way. IPv4 only, as elastic
//! IPs are.

use super::{CHAIN_OUTPUT, Output, TABLE_NAT};
use crate::manager::topology::Topology;
use drmysql_api::clusterlink::Iptables;

pub(super) fn run(topology: &Topology<'_>, out: &mut Output) {
    for node in topology.bridge_nodes().filter(|node| node.ipv4().is_some()) {
        let remotes = topology
            .bridge_nodes()
            .filter(|remote| remote.cluster.name != node.cluster.name);
        for remote in remotes {
            let (Some(internal), Some(elastic)) = (remote.ipv4(), remote.elastic_ip) else {
                continue;
            };
            if internal == elastic {
                continue;
            }
            out.spec(&node.name).iptables.push(Iptables {
                table: TABLE_NAT.to_owned(),
                chain: CHAIN_OUTPUT.to_owned(),
                rule: format!("-d {internal}/32 -j DNAT --to-destination {elastic}"),
            });
        }
    }
}
