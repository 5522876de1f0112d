//! Calico IPPools that keep pod source addresses across clusters.
//!
//! Calico masquerades traffic from a pool with `natOutgoing` to any address
//! outside every IPPool it knows. Traffic to another cluster's pods would
//! therefore leave with the node's address, and the remote MySQL would see the
//! wrong peer. Kosmos's answer, kept here, is to make every remote pod and
//! Service CIDR "known" to Calico as a disabled IPPool: Calico then neither
//! allocates from it, nor exports it over BGP, nor masquerades to it.
//!
//! Remote CIDRs are taken after the remote cluster's `globalCIDRsMap` (what this
//! cluster actually sees), and a remote CIDR that overlaps one of this
//! cluster's own pools is left out: a pool there would change local
//! allocation. Stale `clusterlink*` pools are deleted. Clusters whose CNI is not
//! Calico have no IPPools and are left alone.

use std::collections::BTreeMap;

use drmysql_api::clusterlink::Cluster;
use ipnet::IpNet;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::DISCOVERY_FIELD_MANAGER;
use super::cidrs::{self, CLUSTERLINK_IPPOOL_PREFIX, read};
use super::error::{DiscoveryError, is_not_found};
use super::status::Cni;

/// Which of a remote cluster's ranges a pool stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CidrKind {
    /// A pod CIDR.
    Pod,
    /// A Service CIDR.
    Service,
}

impl CidrKind {
    /// `pod` or `service`, as in the pool's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pod => "pod",
            Self::Service => "service",
        }
    }
}

/// One IPPool this cluster should have for a remote range.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DesiredIpPool {
    /// `clusterlink-<cluster>-<pod|service>-<cidr with . : / as ->`.
    pub name: String,
    /// The remote cluster.
    pub cluster: String,
    /// Pod or Service range.
    pub kind: CidrKind,
    /// The range as this cluster sees it (after the remote `globalCIDRsMap`).
    pub cidr: String,
}

/// What an IPPool sync must write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpPoolPlan {
    /// Pools to create, or whose spec differs.
    pub apply: Vec<DesiredIpPool>,
    /// Stale `clusterlink*` pools to delete.
    pub delete: Vec<String>,
}

/// Kosmos's pool name for a remote range.
pub fn ippool_name(cluster: &str, kind: CidrKind, cidr: &str) -> String {
    let suffix = cidr.replace(['.', ':', '/'], "-");
    format!("{CLUSTERLINK_IPPOOL_PREFIX}-{cluster}-{}-{suffix}", kind.as_str())
}

/// The spec of a pool for a remote range: known to Calico, never used.
pub fn ippool_spec(cidr: &str) -> Value {
    json!({
        "cidr": cidr,
        "natOutgoing": false,
        "disabled": true,
        "disableBGPExport": true,
        "vxlanMode": "Never",
        "ipipMode": "Never",
    })
}

/// The server-side apply body of a pool.
pub fn ippool_body(pool: &DesiredIpPool) -> Value {
    json!({
        "apiVersion": "crd.projectcalico.org/v1",
        "kind": "IPPool",
        "metadata": {"name": pool.name},
        "spec": ippool_spec(&pool.cidr),
    })
}

/// Every remote cluster's pod and Service CIDRs as this cluster sees them,
/// without the local cluster and clusters that do not take part.
pub fn remote_ranges(local_cluster: &str, clusters: &[Cluster]) -> Vec<DesiredIpPool> {
    let mut ranges = Vec::new();
    for cluster in clusters {
        let name = cluster.name_any();
        let Some(options) = cluster.enabled_link_options() else {
            continue;
        };
        if name == local_cluster {
            continue;
        }
        let global: BTreeMap<String, String> = options
            .global_cidrs_map
            .iter()
            .filter_map(|(real, global)| match (cidrs::parse_cidr(real), cidrs::parse_cidr(global)) {
                (Some(real), Some(global)) => Some((real.to_string(), global.to_string())),
                _ => {
                    tracing::warn!(cluster = %name, %real, %global, "globalCIDRsMap entry is not a CIDR pair; ignored");
                    None
                }
            })
            .collect();
        let Some(status) = &cluster.status else {
            continue;
        };
        let link = &status.cluster_link_status;
        for (kind, list) in [
            (CidrKind::Pod, &link.pod_cidrs),
            (CidrKind::Service, &link.service_cidrs),
        ] {
            let source = format!("Cluster {name} status.clusterLinkStatus");
            for cidr in cidrs::normalise(list.iter().map(String::as_str), &source) {
                let cidr = global.get(&cidr).cloned().unwrap_or(cidr);
                ranges.push(DesiredIpPool {
                    name: ippool_name(&name, kind, &cidr),
                    cluster: name.clone(),
                    kind,
                    cidr,
                });
            }
        }
    }
    ranges.sort();
    ranges.dedup();
    ranges
}

/// The pools this cluster should have: one per remote range that does not
/// overlap one of its own pools (those not named `clusterlink*`).
pub fn desired_ippools(
    local_cluster: &str,
    clusters: &[Cluster],
    pools: &[DynamicObject],
) -> Vec<DesiredIpPool> {
    let local: Vec<IpNet> = pools
        .iter()
        .filter(|pool| !cidrs::is_clusterlink_pool(&pool.name_any()))
        .filter_map(|pool| cidrs::ippool_cidr(pool).and_then(cidrs::parse_cidr))
        .collect();
    remote_ranges(local_cluster, clusters)
        .into_iter()
        .filter(|range| {
            let Some(remote) = cidrs::parse_cidr(&range.cidr) else {
                return false;
            };
            let clash = local.iter().find(|local| cidrs::overlaps(local, &remote));
            if let Some(local) = clash {
                tracing::warn!(cluster = %range.cluster, cidr = %range.cidr, local = %local, "remote range overlaps a local IPPool; no pool made for it");
            }
            clash.is_none()
        })
        .collect()
}

/// Whether a live pool already has every field of the desired spec.
fn spec_settled(live: &DynamicObject, desired: &DesiredIpPool) -> bool {
    let Some(live_spec) = live.data.get("spec") else {
        return false;
    };
    match ippool_spec(&desired.cidr) {
        Value::Object(fields) => fields
            .iter()
            .all(|(key, value)| live_spec.get(key) == Some(value)),
        _ => false,
    }
}

/// Compares the desired pools with the live ones. Does nothing unless the
/// local CNI is Calico.
pub fn plan_ippools(
    local_cni: Cni,
    local_cluster: &str,
    clusters: &[Cluster],
    pools: &[DynamicObject],
) -> IpPoolPlan {
    if local_cni != Cni::Calico {
        return IpPoolPlan::default();
    }
    let desired = desired_ippools(local_cluster, clusters, pools);
    let live: BTreeMap<String, &DynamicObject> = pools.iter().map(|pool| (pool.name_any(), pool)).collect();
    let apply = desired
        .iter()
        .filter(|want| !live.get(&want.name).is_some_and(|have| spec_settled(have, want)))
        .cloned()
        .collect();
    let delete = live
        .keys()
        .filter(|name| cidrs::is_clusterlink_pool(name) && !desired.iter().any(|want| &want.name == *name))
        .cloned()
        .collect();
    IpPoolPlan { apply, delete }
}

/// What one IPPool sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpPoolSyncReport {
    /// Pools created or corrected.
    pub applied: usize,
    /// Stale pools deleted.
    pub deleted: usize,
}

/// Brings the member's `clusterlink*` IPPools in line with every other
/// cluster's ranges. `pools` is the member's current IPPool list.
pub async fn sync_ippools(
    member: &kube::Client,
    local_cni: Cni,
    local_cluster: &str,
    clusters: &[Cluster],
    pools: &[DynamicObject],
) -> Result<IpPoolSyncReport, DiscoveryError> {
    let plan = plan_ippools(local_cni, local_cluster, clusters, pools);
    let api: Api<DynamicObject> = Api::all_with(member.clone(), &read::ippool_resource());
    let params = PatchParams::apply(DISCOVERY_FIELD_MANAGER).force();
    for pool in &plan.apply {
        api.patch(&pool.name, &params, &Patch::Apply(&ippool_body(pool)))
            .await
            .map_err(|source| DiscoveryError::api("apply", format!("IPPool {}", pool.name), source))?;
        tracing::info!(ippool = %pool.name, cidr = %pool.cidr, "applied no-masquerade IPPool for a remote range");
    }
    for name in &plan.delete {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(ippool = %name, "deleted a stale clusterlink IPPool"),
            Err(error) if is_not_found(&error) => {}
            Err(source) => return Err(DiscoveryError::api("delete", format!("IPPool {name}"), source)),
        }
    }
    Ok(IpPoolSyncReport {
        applied: plan.apply.len(),
        deleted: plan.delete.len(),
    })
}

#[cfg(test)]
mod tests;
