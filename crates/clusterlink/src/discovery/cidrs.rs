//! Pod and Service CIDRs as each source states them, parsed without I/O.
//!
//! A cluster's pod CIDRs live in a different place for every CNI: Calico keeps
//! them in IPPools (and per node in block affinities), Flannel in its ConfigMap,
//! Cilium in its own, and the rest in `Node.spec.podCIDRs`. The Service range
//! lives only in the API server's command line. Every parser here takes what a
//! reader fetched and returns normalised CIDRs: host bits cleared, sorted,
//! without duplicates, so that comparing two readings is comparing two lists.
//! An entry that does not parse is logged and skipped; one bad value never
//! hides the good ones, and nothing here panics.

pub mod read;

use std::collections::BTreeMap;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use kube::api::DynamicObject;
use serde_json::Value;

/// Name prefix of the IPPools clusterlink creates for remote CIDRs; they are
/// not pod CIDRs of this cluster.
pub const CLUSTERLINK_IPPOOL_PREFIX: &str = "clusterlink";

/// The API server flag that carries the Service CIDRs.
pub const SERVICE_RANGE_FLAG: &str = "--service-cluster-ip-range";

/// Parses `text` as a CIDR (or a bare address, taken as a host route) and
/// clears the host bits, so that `10.1.2.3/16` and `10.1.0.0/16` are one range.
pub fn parse_cidr(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        .map(|net| net.trunc())
}

/// Normalises CIDRs: parses every entry, logs and drops those that do not
/// parse, clears host bits, sorts and removes duplicates.
pub fn normalise<'a>(cidrs: impl IntoIterator<Item = &'a str>, source: &str) -> Vec<String> {
    let mut nets: Vec<IpNet> = cidrs
        .into_iter()
        .filter(|text| !text.trim().is_empty())
        .filter_map(|text| {
            let parsed = parse_cidr(text);
            if parsed.is_none() {
                tracing::warn!(%source, cidr = %text, "not a CIDR; skipped");
            }
            parsed
        })
        .collect();
    nets.sort();
    nets.dedup();
    nets.iter().map(IpNet::to_string).collect()
}

/// Whether two ranges share an address (one contains the other's network).
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Whether an IPPool is one clusterlink made for a remote CIDR.
pub fn is_clusterlink_pool(name: &str) -> bool {
    name.starts_with(CLUSTERLINK_IPPOOL_PREFIX)
}

/// `spec.cidr` of an IPPool, if it is a string.
pub fn ippool_cidr(pool: &DynamicObject) -> Option<&str> {
    pool.data.get("spec")?.get("cidr")?.as_str()
}

/// Whether an IPPool has `spec.disabled: true`.
pub fn ippool_disabled(pool: &DynamicObject) -> bool {
    pool.data
        .get("spec")
        .and_then(|spec| spec.get("disabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The pod CIDRs of a Calico cluster: `spec.cidr` of every IPPool that is
/// neither disabled nor one of clusterlink's own.
pub fn calico_pod_cidrs(pools: &[DynamicObject]) -> Vec<String> {
    let cidrs = pools
        .iter()
        .filter(|pool| !is_clusterlink_pool(&pool.name_any()) && !ippool_disabled(pool))
        .filter_map(|pool| {
            let cidr = ippool_cidr(pool);
            if cidr.is_none() {
                tracing::warn!(ippool = %pool.name_any(), "IPPool without spec.cidr; skipped");
            }
            cidr
        });
    normalise(cidrs, "Calico IPPool spec.cidr")
}

/// Per-node pod CIDRs of a Calico cluster, from its block affinities
/// (`spec.node` → `spec.cidr`). Affinities marked deleted are left out; they
/// are on their way out of Calico's IPAM.
pub fn block_affinity_cidrs(affinities: &[DynamicObject]) -> BTreeMap<String, Vec<String>> {
    let mut by_node: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for affinity in affinities {
        let Some(spec) = affinity.data.get("spec") else {
            continue;
        };
        let deleted = match spec.get("deleted") {
            Some(Value::Bool(deleted)) => *deleted,
            Some(Value::String(deleted)) => deleted.eq_ignore_ascii_case("true"),
            _ => false,
        };
        let (Some(node), Some(cidr)) = (
            spec.get("node").and_then(Value::as_str),
            spec.get("cidr").and_then(Value::as_str),
        ) else {
            tracing::warn!(blockaffinity = %affinity.name_any(), "block affinity without spec.node or spec.cidr; skipped");
            continue;
        };
        if !deleted && !node.is_empty() {
            by_node.entry(node.to_owned()).or_default().push(cidr);
        }
    }
    by_node
        .into_iter()
        .map(|(node, cidrs)| {
            let source = format!("Calico block affinity of node {node}");
            (node, normalise(cidrs, &source))
        })
        .collect()
}

/// The pod CIDRs in Flannel's `net-conf.json`: its `Network` and `IPv6Network`.
/// Malformed JSON, or neither field, is an error that names what was wrong.
pub fn flannel_pod_cidrs(net_conf: &str) -> Result<Vec<String>, String> {
    let conf: Value =
        serde_json::from_str(net_conf).map_err(|error| format!("net-conf.json is not JSON: {error}"))?;
    let networks: Vec<&str> = ["Network", "IPv6Network"]
        .iter()
        .filter_map(|field| conf.get(*field).and_then(Value::as_str))
        .collect();
    if networks.is_empty() {
        return Err("net-conf.json has neither a Network nor an IPv6Network string".to_owned());
    }
    Ok(normalise(networks, "Flannel net-conf.json"))
}

/// The pod CIDRs in Cilium's `cilium-config` (cluster-pool IPAM):
/// `cluster-pool-ipv4-cidr` and `cluster-pool-ipv6-cidr`, each possibly a
/// space- or comma-separated list.
pub fn cilium_pod_cidrs(data: &BTreeMap<String, String>) -> Vec<String> {
    let cidrs = ["cluster-pool-ipv4-cidr", "cluster-pool-ipv6-cidr"]
        .iter()
        .filter_map(|key| data.get(*key))
        .flat_map(|value| value.split([',', ' ']));
    normalise(cidrs, "cilium-config")
}

/// `spec.podCIDRs` of a Node, or its older single `spec.podCIDR`.
pub fn node_pod_cidrs(node: &Node) -> Vec<String> {
    let Some(spec) = &node.spec else {
        return Vec::new();
    };
    let cidrs: Vec<&str> = match (&spec.pod_cidrs, &spec.pod_cidr) {
        (Some(cidrs), _) if !cidrs.is_empty() => cidrs.iter().map(String::as_str).collect(),
        (_, Some(cidr)) => vec![cidr.as_str()],
        _ => Vec::new(),
    };
    normalise(cidrs, &format!("Node {} spec.podCIDRs", node.name_any()))
}

/// The union of the pod CIDRs of every node, for CNIs that allocate from
/// `Node.spec.podCIDRs`.
pub fn all_nodes_pod_cidrs(nodes: &[Node]) -> Vec<String> {
    let all: Vec<String> = nodes.iter().flat_map(node_pod_cidrs).collect();
    normalise(all.iter().map(String::as_str), "Node spec.podCIDRs")
}

/// The Service CIDRs in a command line: the value of
/// `--service-cluster-ip-range=a,b` (or of the flag followed by its value as the
/// next argument), split on commas. `None` when the flag is absent.
pub fn service_cidrs_from_args(args: &[String]) -> Option<Vec<String>> {
    let mut args = args.iter();
    let mut value = None;
    while let Some(arg) = args.next() {
        let arg = arg.trim();
        if let Some(rest) = arg.strip_prefix(SERVICE_RANGE_FLAG) {
            if let Some(inline) = rest.strip_prefix('=') {
                value = Some(inline.to_owned());
            } else if rest.is_empty() {
                value = args.next().map(|next| next.trim().to_owned());
            }
        }
    }
    value.map(|value| normalise(value.split(','), SERVICE_RANGE_FLAG))
}

/// The Service CIDRs of a kube-apiserver Pod: the flag in any container's
/// command or arguments.
pub fn apiserver_service_cidrs(pod: &Pod) -> Option<Vec<String>> {
    let containers = pod
        .spec
        .as_ref()
        .map(|spec| spec.containers.as_slice())
        .unwrap_or_default();
    containers.iter().find_map(|container| {
        let command_line: Vec<String> = container
            .command
            .iter()
            .flatten()
            .chain(container.args.iter().flatten())
            .cloned()
            .collect();
        service_cidrs_from_args(&command_line)
    })
}

/// The Service CIDRs of a cluster: those of the first kube-apiserver Pod (by
/// name) that states any. `None` when no Pod does, e.g. on a managed control
/// plane whose API server runs outside the cluster.
pub fn cluster_service_cidrs(apiserver_pods: &[Pod]) -> Option<Vec<String>> {
    let mut pods: Vec<&Pod> = apiserver_pods.iter().collect();
    pods.sort_by_key(|pod| pod.name_any());
    pods.into_iter()
        .filter_map(apiserver_service_cidrs)
        .find(|cidrs| !cidrs.is_empty())
}

#[cfg(test)]
mod tests;
