//! The network manager's pure core: every Cluster and ClusterNode in, the
//! desired NodeConfig of every node out.
//!
//! It follows Kosmos's network manager (`pkg/clusterlink/network-manager`):
//! the same input filter (`filter`) and the same handler chain in the same
//! order (`handlers`), so a NodeConfig computed here means what Kosmos's
//! would. Kosmos recomputes everything globally on every change, and so does
//! [`compute`]: the caller lists all objects, computes, then deletes the
//! NodeConfigs that are no longer in [`Desired::configs`] and applies the rest.
//!
//! [`compute`] is a pure function. Kosmos draws new VXLAN MACs at random; here a
//! MAC is taken from the previous NodeConfig or derived from the names
//! (`mac`), and every list is sorted and deduplicated, so the same inputs in
//! any order give the same output byte for byte.
//!
//! What drmysql adds to Kosmos, each in its own handler after Kosmos's chain or
//! inside its route building:
//! - IPsec (ESP tunnel mode) between elastic IPs instead of the `vx-bridge`
//!   route, after Kosmos's unmerged pull request #278, with one SA per direction
//!   and no key in the NodeConfig (`handlers::ipsec_pair`, [`crate::ipsec`]);
//! - DNAT of a remote node's internal IP to its elastic IP in the logical chain
//!   `OUTPUT` (table `nat`), a chain Kosmos does not have, so host traffic and
//!   the kernel's VXLAN packets cross VPCs (`handlers::cross_vpc`);
//! - ipset entries that keep pod source IPs on non-Calico CNIs
//!   (`handlers::avoid_masq`).
//!
//! Where it departs from Kosmos, and why:
//! - MACs are derived, not random (above), so the function stays pure.
//! - Of several gateway-role nodes in one cluster the first by name is the
//!   gateway and the others count as non-gateway nodes; Kosmos would route
//!   the others over a `vx-bridge` they do not have.
//! - A gateway-mode cluster without a gateway gets no routes and a warning;
//!   Kosmos dereferences the missing gateway.
//! - No route is written on a device the node lacks (a range that did not parse).
//! - In p2p mode a cluster's own CIDRs, which remote routes must not overlap,
//!   include its nodes' pod CIDRs, not only `status.clusterLinkStatus`.
//! - Addresses must parse, not merely be non-empty. Of objects that share a
//!   name one is kept (the first by name and JSON) and the others excluded, so
//!   that input order cannot matter.
//!
//! Bad input never panics and never loses the rest: an invalid Cluster or
//! ClusterNode is left out and listed in [`Desired::excluded`] with the field at
//! fault; an unparsable CIDR or address inside a valid object is skipped and
//! named in [`Desired::warnings`].

mod filter;
mod handlers;
mod mac;
mod net;
mod topology;

pub mod device;

#[cfg(test)]
mod tests;

use drmysql_api::clusterlink::{Cluster, ClusterNode, NodeConfig, NodeConfigSpec};
use std::collections::BTreeMap;

pub use handlers::{AVOID_MASQ_IPSET, CHAIN_OUTPUT, CHAIN_POSTROUTING, CHAIN_PREROUTING, TABLE_NAT};

/// The desired network state of every node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    /// The NodeConfig spec of every valid ClusterNode, by ClusterNode name (which
    /// is also the NodeConfig's name).
    pub configs: BTreeMap<String, NodeConfigSpec>,
    /// Inputs left out entirely, sorted by kind, name and reason.
    pub excluded: Vec<Excluded>,
    /// Parts of valid inputs that were skipped (an unparsable CIDR, a gateway
    /// cluster without a gateway, ...), sorted and deduplicated.
    pub warnings: Vec<String>,
}

/// A Cluster or ClusterNode that took no part in the computation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Excluded {
    /// `"Cluster"` or `"ClusterNode"`.
    pub kind: &'static str,
    /// The object's name.
    pub name: String,
    /// Why, naming the field at fault.
    pub reason: String,
}

/// Computes the desired NodeConfig of every node from all Clusters and
/// ClusterNodes; `previous` (the NodeConfigs as they are now) only supplies the
/// MACs to keep.
pub fn compute(clusters: &[Cluster], nodes: &[ClusterNode], previous: &[NodeConfig]) -> Desired {
    let mut excluded = Vec::new();
    let mut warnings = Vec::new();
    let valid = filter::exclude_invalid_items(clusters, nodes, &mut excluded, &mut warnings);
    let cluster_views = topology::build_clusters(&valid.clusters, &mut warnings);
    let topology = topology::Topology::new(&cluster_views, &valid, previous, &mut warnings);

    let mut out = handlers::Output::default();
    handlers::run_chain(&topology, &mut out);

    let mut configs = out.results;
    for spec in configs.values_mut() {
        normalise(spec);
    }
    warnings.extend(out.warnings);
    warnings.sort();
    warnings.dedup();
    excluded.sort();
    excluded.dedup();
    Desired {
        configs,
        excluded,
        warnings,
    }
}

/// Sorts and deduplicates every list, as Kosmos's `helpers/sort.go` sorts them.
fn normalise(spec: &mut NodeConfigSpec) {
    fn sort_dedup<T: Ord>(items: &mut Vec<T>) {
        items.sort();
        items.dedup();
    }
    sort_dedup(&mut spec.devices);
    sort_dedup(&mut spec.routes);
    sort_dedup(&mut spec.iptables);
    sort_dedup(&mut spec.fdbs);
    sort_dedup(&mut spec.arps);
    sort_dedup(&mut spec.xfrm_policies);
    sort_dedup(&mut spec.xfrm_states);
    sort_dedup(&mut spec.ipsets_avoid_masq);
}
