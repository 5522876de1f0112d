//! The input filter, Kosmos's `ExcludeInvalidItems`: which Clusters and
//! ClusterNodes take part at all.
//!
//! A Cluster takes part when it has `spec.clusterLinkOptions` with `enable`
//! set. A ClusterNode takes part when it names such a Cluster and has its
//! interface, and an address for every family its cluster joins. Kosmos only
//! logs what it leaves out; here every left-out object is reported with the
//! field at fault, and addresses must parse, not merely be non-empty, because
//! every handler after this one relies on them.
//!
//! The inputs are put in name order first, and an object whose name repeats is
//! left out, so the result does not depend on the order of the lists.

use super::Excluded;
use drmysql_api::clusterlink::{Cluster, ClusterNode, IpFamily};
use kube::ResourceExt;
use serde::Serialize;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The objects that passed the filter, in name order.
pub(super) struct Valid<'a> {
    pub(super) clusters: Vec<&'a Cluster>,
    pub(super) nodes: Vec<&'a ClusterNode>,
}

const CLUSTER: &str = "Cluster";
const CLUSTER_NODE: &str = "ClusterNode";

/// Splits the inputs into valid objects and `excluded` ones.
pub(super) fn exclude_invalid_items<'a>(
    clusters: &'a [Cluster],
    nodes: &'a [ClusterNode],
    excluded: &mut Vec<Excluded>,
    warnings: &mut Vec<String>,
) -> Valid<'a> {
    let mut valid_clusters = Vec::new();
    for cluster in unique_by_name(clusters, CLUSTER, excluded, warnings) {
        match cluster.spec.cluster_link_options.as_ref() {
            None => excluded.push(exclude(CLUSTER, cluster, "spec.clusterLinkOptions is missing")),
            Some(options) if !options.enable => excluded.push(exclude(
                CLUSTER,
                cluster,
                "spec.clusterLinkOptions.enable is false",
            )),
            Some(_) => valid_clusters.push(cluster),
        }
    }

    let mut valid_nodes = Vec::new();
    for node in unique_by_name(nodes, CLUSTER_NODE, excluded, warnings) {
        match check_node(node, &valid_clusters) {
            Ok(()) => valid_nodes.push(node),
            Err(reason) => excluded.push(exclude(CLUSTER_NODE, node, &reason)),
        }
    }

    Valid {
        clusters: valid_clusters,
        nodes: valid_nodes,
    }
}

fn check_node(node: &ClusterNode, clusters: &[&Cluster]) -> Result<(), String> {
    let spec = &node.spec;
    if spec.cluster_name.is_empty() {
        return Err("spec.clusterName is empty".to_owned());
    }
    if spec.interface_name.is_empty() {
        return Err("spec.interfaceName is empty".to_owned());
    }
    let family = clusters
        .iter()
        .find(|cluster| cluster.name_any() == spec.cluster_name)
        .and_then(|cluster| cluster.enabled_link_options())
        .map(|options| options.ip_family)
        .ok_or_else(|| {
            format!(
                "spec.clusterName {:?} names no Cluster with spec.clusterLinkOptions enabled",
                spec.cluster_name
            )
        })?;
    let cluster = &spec.cluster_name;
    let family_name = family_name(family);
    if family.has_ipv4() {
        if spec.ip.is_empty() {
            return Err(format!(
                "spec.ip is empty, but Cluster {cluster:?} joins IPv4 (ipFamily {family_name})"
            ));
        }
        if spec.ip.parse::<Ipv4Addr>().is_err() {
            return Err(format!("spec.ip {:?} is not an IPv4 address", spec.ip));
        }
    }
    if family.has_ipv6() {
        if spec.ip6.is_empty() {
            return Err(format!(
                "spec.ip6 is empty, but Cluster {cluster:?} joins IPv6 (ipFamily {family_name})"
            ));
        }
        if spec.ip6.parse::<Ipv6Addr>().is_err() {
            return Err(format!("spec.ip6 {:?} is not an IPv6 address", spec.ip6));
        }
    }
    Ok(())
}

fn family_name(family: IpFamily) -> &'static str {
    match family {
        IpFamily::All => "all",
        IpFamily::Ipv4 => "ipv4",
        IpFamily::Ipv6 => "ipv6",
    }
}

fn exclude<K: ResourceExt>(kind: &'static str, object: &K, reason: &str) -> Excluded {
    Excluded {
        kind,
        name: object.name_any(),
        reason: reason.to_owned(),
    }
}

/// The objects in name order, without those that have no name or share one.
///
/// Of several objects with one name the first by (name, JSON) is kept, so the
/// choice does not depend on the input order; the others are excluded.
fn unique_by_name<'a, K: ResourceExt + Serialize>(
    objects: &'a [K],
    kind: &'static str,
    excluded: &mut Vec<Excluded>,
    warnings: &mut Vec<String>,
) -> Vec<&'a K> {
    let mut keyed: Vec<(String, String, &K)> = Vec::with_capacity(objects.len());
    for object in objects {
        let name = object.name_any();
        if name.is_empty() {
            excluded.push(exclude(kind, object, "metadata.name is empty"));
            continue;
        }
        let json = serde_json::to_string(object).unwrap_or_else(|error| {
            warnings.push(format!(
                "{kind} {name:?} could not be serialized for ordering: {error}"
            ));
            String::new()
        });
        keyed.push((name, json, object));
    }
    keyed.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));

    let mut seen = BTreeSet::new();
    let mut unique = Vec::with_capacity(keyed.len());
    for (name, _, object) in keyed {
        if seen.insert(name) {
            unique.push(object);
        } else {
            excluded.push(exclude(
                kind,
                object,
                "metadata.name repeats that of another object of this kind in the input",
            ));
        }
    }
    unique
}
