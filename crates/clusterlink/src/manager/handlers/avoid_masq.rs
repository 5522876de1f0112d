//! Avoid masquerade on non-Calico CNIs (design "CNI adaptation").
//!
//! Flannel, cilium and the like masquerade pod traffic that leaves for a
//! destination outside their cluster, so a remote pod would see the node's
//! address instead of the pod's. Calico clusters are kept from this by disabled
//! IPPools for the remote CIDRs (made elsewhere). For the others, every node of
//! the cluster gets an ipset entry ([`super::AVOID_MASQ_IPSET`]) for each pod
//! CIDR of every other cluster, as that cluster exports it (global map
//! applied), and the agent returns early from masquerade for those
//! destinations. Kosmos's pull request #278 did this for flannel and
//! globalrouter only; any non-Calico CNI needs it.

use super::{AVOID_MASQ_IPSET, Output};
use crate::manager::net::Family;
use crate::manager::topology::Topology;
use drmysql_api::clusterlink::IpsetAvoidMasq;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn run(topology: &Topology<'_>, out: &mut Output) {
    if topology.nodes.iter().all(|node| node.cluster.calico) {
        return;
    }
    let mut exported: BTreeMap<&str, BTreeSet<IpNet>> = BTreeMap::new();
    for cluster in topology.clusters {
        exported
            .entry(&cluster.name)
            .or_default()
            .extend(cluster.exported(&cluster.pod_cidrs));
    }
    for node in &topology.nodes {
        exported
            .entry(&node.cluster.name)
            .or_default()
            .extend(node.routed_pod_cidrs());
    }

    for node in topology.nodes.iter().filter(|node| !node.cluster.calico) {
        let remote = exported
            .iter()
            .filter(|(cluster, _)| **cluster != node.cluster.name)
            .flat_map(|(_, cidrs)| cidrs)
            .filter(|cidr| node.cluster.supports(Family::of_net(cidr)));
        let entries: Vec<IpsetAvoidMasq> = remote
            .map(|cidr| IpsetAvoidMasq {
                cidr: cidr.to_string(),
                name: AVOID_MASQ_IPSET.to_owned(),
            })
            .collect();
        out.spec(&node.name).ipsets_avoid_masq.extend(entries);
    }
}
