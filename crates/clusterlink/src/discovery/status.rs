//! `Cluster.status.clusterLinkStatus`: which source of pod CIDRs counts for a
//! cluster, and the write of what was found to the host cluster.
//!
//! The network manager routes to exactly these CIDRs, so a wrong or empty list
//! cuts the cluster off. Hence two rules beyond Kosmos's:
//!
//! - a source that says nothing (no API server Pod on a managed control plane,
//!   a ConfigMap that is missing, a read that failed) leaves the recorded value
//!   as it is instead of clearing it;
//! - the status is written only when it changed, so a settled cluster makes no
//!   writes and the network manager sees no churn.
//!
//! The Cluster kind has no status subresource (as in Kosmos), so the status is
//! a JSON merge patch of the main resource that names only
//! `status.clusterLinkStatus`.

use drmysql_api::clusterlink::{Cluster, ClusterLinkOptions, ClusterLinkStatus};
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::DISCOVERY_FIELD_MANAGER;
use super::cidrs::{self, read};
use super::error::DiscoveryError;

/// The CNI of a cluster, as far as finding its pod CIDRs goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cni {
    /// Calico with the Kubernetes datastore: IPPools and block affinities.
    Calico,
    /// Flannel: the `Network` of its ConfigMap.
    Flannel,
    /// Cilium: its cluster-pool ranges, else the nodes' pod CIDRs.
    Cilium,
    /// Anything else: the nodes' pod CIDRs.
    Other,
}

impl Cni {
    /// The CNI named in `spec.clusterLinkOptions.cni`; empty means Calico, the
    /// field's default.
    pub fn of(options: &ClusterLinkOptions) -> Self {
        let name = options.cni.trim();
        if name.is_empty() || name.eq_ignore_ascii_case("calico") {
            Self::Calico
        } else if name.eq_ignore_ascii_case("flannel") {
            Self::Flannel
        } else if name.eq_ignore_ascii_case("cilium") {
            Self::Cilium
        } else {
            Self::Other
        }
    }
}

/// What the pod CIDR sources said; `None` is "nothing known" (not applicable to
/// this CNI, absent, unreadable or empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodCidrReadings {
    /// Calico IPPools (Calico).
    pub calico: Option<Vec<String>>,
    /// Flannel's `net-conf.json` (Flannel).
    pub flannel: Option<Vec<String>>,
    /// Cilium's cluster-pool ranges (Cilium).
    pub cilium: Option<Vec<String>>,
    /// The union of the nodes' `spec.podCIDRs`.
    pub nodes: Option<Vec<String>>,
}

/// The cluster's pod CIDRs: the manual `clusterpodCIDRs` when set (seed 000's
/// GlobalRouter case, where no source can be read), else the CNI's source.
pub fn choose_pod_cidrs(options: &ClusterLinkOptions, readings: &PodCidrReadings) -> Option<Vec<String>> {
    let manual = cidrs::normalise(
        options.cluster_pod_cidrs.iter().map(String::as_str),
        "spec.clusterLinkOptions.clusterpodCIDRs",
    );
    if !manual.is_empty() {
        return Some(manual);
    }
    let non_empty = |reading: &Option<Vec<String>>| reading.clone().filter(|cidrs| !cidrs.is_empty());
    match Cni::of(options) {
        Cni::Calico => non_empty(&readings.calico),
        Cni::Flannel => non_empty(&readings.flannel),
        Cni::Cilium => non_empty(&readings.cilium).or_else(|| non_empty(&readings.nodes)),
        Cni::Other => non_empty(&readings.nodes),
    }
}

/// The status to record: each list as discovered, or as recorded when nothing
/// was discovered for it.
pub fn desired_status(
    current: &ClusterLinkStatus,
    pod_cidrs: Option<Vec<String>>,
    service_cidrs: Option<Vec<String>>,
) -> ClusterLinkStatus {
    ClusterLinkStatus {
        pod_cidrs: pod_cidrs
            .filter(|cidrs| !cidrs.is_empty())
            .unwrap_or_else(|| current.pod_cidrs.clone()),
        service_cidrs: service_cidrs
            .filter(|cidrs| !cidrs.is_empty())
            .unwrap_or_else(|| current.service_cidrs.clone()),
    }
}

/// The merge patch that records `desired`, or `None` when it is already recorded.
pub fn status_patch(current: &ClusterLinkStatus, desired: &ClusterLinkStatus) -> Option<Value> {
    (current != desired).then(|| {
        json!({
            "status": {
                "clusterLinkStatus": {
                    "podCIDRs": desired.pod_cidrs,
                    "serviceCIDRs": desired.service_cidrs,
                }
            }
        })
    })
}

/// Reads the pod CIDRs the cluster's CNI states. `nodes` and `calico_pools` are
/// what this pass already read (`None` when their read failed or does not apply).
pub async fn read_pod_cidrs(
    member: &kube::Client,
    options: &ClusterLinkOptions,
    nodes: Option<&[Node]>,
    calico_pools: Option<&[DynamicObject]>,
) -> PodCidrReadings {
    let mut readings = PodCidrReadings {
        nodes: nodes.map(cidrs::all_nodes_pod_cidrs),
        ..PodCidrReadings::default()
    };
    if !options.cluster_pod_cidrs.is_empty() {
        return readings;
    }
    match Cni::of(options) {
        Cni::Calico => readings.calico = calico_pools.map(cidrs::calico_pod_cidrs),
        Cni::Flannel => match read::flannel_net_conf(member).await {
            Ok(Some(net_conf)) => match cidrs::flannel_pod_cidrs(&net_conf) {
                Ok(found) => readings.flannel = Some(found),
                Err(reason) => tracing::warn!(%reason, "cannot read Flannel's pod CIDRs"),
            },
            Ok(None) => tracing::warn!("Flannel's ConfigMap kube-flannel-cfg with net-conf.json not found"),
            Err(error) => tracing::warn!(%error, "cannot read Flannel's ConfigMap"),
        },
        Cni::Cilium => match read::cilium_config(member).await {
            Ok(data) => readings.cilium = data.as_ref().map(cidrs::cilium_pod_cidrs),
            Err(error) => tracing::warn!(%error, "cannot read Cilium's ConfigMap"),
        },
        Cni::Other => {}
    }
    readings
}

/// Reads the Service CIDRs from the API server Pods; `None` when none states
/// them or they cannot be read.
pub async fn read_service_cidrs(member: &kube::Client) -> Option<Vec<String>> {
    match read::apiserver_pods(member).await {
        Ok(pods) => {
            let found = cidrs::cluster_service_cidrs(&pods);
            if found.is_none() {
                tracing::debug!(
                    pods = pods.len(),
                    "no kube-apiserver Pod states --service-cluster-ip-range; Service CIDRs kept as recorded"
                );
            }
            found
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read the Service CIDRs; kept as recorded");
            None
        }
    }
}

/// Writes `status.clusterLinkStatus` of `cluster` in the host when `desired`
/// differs from what it records. Returns whether it wrote.
pub async fn write_status(
    host: &kube::Client,
    cluster: &Cluster,
    desired: &ClusterLinkStatus,
) -> Result<bool, DiscoveryError> {
    let current = cluster
        .status
        .as_ref()
        .map(|status| status.cluster_link_status.clone())
        .unwrap_or_default();
    let Some(patch) = status_patch(&current, desired) else {
        return Ok(false);
    };
    let name = cluster.name_any();
    let params = PatchParams {
        field_manager: Some(DISCOVERY_FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    Api::<Cluster>::all(host.clone())
        .patch(&name, &params, &Patch::Merge(&patch))
        .await
        .map_err(|source| DiscoveryError::api("patch", format!("Cluster {name} status"), source))?;
    tracing::info!(cluster = %name, pod_cidrs = ?desired.pod_cidrs, service_cidrs = ?desired.service_cidrs, "recorded the cluster's CIDRs");
    Ok(true)
}

/// Discovers this cluster's CIDRs and records them when they changed.
pub async fn sync_status(
    member: &kube::Client,
    host: &kube::Client,
    cluster: &Cluster,
    options: &ClusterLinkOptions,
    nodes: Option<&[Node]>,
    calico_pools: Option<&[DynamicObject]>,
) -> Result<bool, DiscoveryError> {
    let readings = read_pod_cidrs(member, options, nodes, calico_pools).await;
    let pod_cidrs = choose_pod_cidrs(options, &readings);
    if pod_cidrs.is_none() {
        tracing::warn!(cni = %options.cni, "no pod CIDRs found; kept as recorded");
    }
    let service_cidrs = read_service_cidrs(member).await;
    let current = cluster
        .status
        .as_ref()
        .map(|status| status.cluster_link_status.clone())
        .unwrap_or_default();
    write_status(host, cluster, &desired_status(&current, pod_cidrs, service_cidrs)).await
}

#[cfg(test)]
mod tests;
