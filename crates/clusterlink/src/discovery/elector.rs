//! One gateway node per member cluster.
//!
//! In gateway mode only the gateway carries `vx-bridge`, so exactly one node of
//! the cluster must have the `gateway` role, and it should stay put: every move
//! rebuilds the tunnels of every other cluster. The process that holds the
//! cluster's Lease decides, with [`choose_gateway`]:
//!
//! 1. keep the current gateway while it is Ready (no flapping);
//! 2. else the first Ready node, by name, that has an elastic IP (from the
//!    ClusterNode or the Cluster's `nodeElasticIPMap`), since only those can
//!    be reached across VPCs (Kosmos's IPsec pull request);
//! 3. else the first Ready node by name.
//!
//! A NotReady node is never chosen while a Ready one exists. When no node is
//! known Ready (readiness not yet recorded), readiness cannot tell the nodes
//! apart, so the current gateway stays, or the same order picks one.
//!
//! Unlike Kosmos, where each elector replica can only name its own node, the
//! holder names any node, so it need not run on a candidate. The role is moved
//! with JSON merge patches of `spec.roles` that keep every other role, carry
//! the resourceVersion read (a concurrent change fails and is retried, never
//! lost), and are made only when something changes. The old gateway loses the
//! role before the new one gains it: never two gateways at once.

use std::net::Ipv4Addr;
use std::time::Duration;

use drmysql_api::clusterlink::{Cluster, ClusterLinkOptions, ClusterNode, ROLE_GATEWAY};
use drmysql_api::names::KOSMOS_CLUSTER_LABEL;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::ELECTOR_FIELD_MANAGER;
use super::error::DiscoveryError;
use super::nodes::NODE_READY;

/// Whether the ClusterNode's recorded readiness is `Ready`.
pub fn is_ready(node: &ClusterNode) -> bool {
    node.status
        .as_ref()
        .is_some_and(|status| status.node_status == NODE_READY)
}

/// The node's elastic IP: `spec.elasticip`, else the Cluster's
/// `nodeElasticIPMap` entry for its node name. A value that is not an IPv4
/// address counts as none, as in the network manager.
pub fn elastic_ip(node: &ClusterNode, options: Option<&ClusterLinkOptions>) -> Option<Ipv4Addr> {
    let own = node.spec.elastic_ip.trim();
    let text = if own.is_empty() {
        options
            .filter(|_| !node.spec.node_name.is_empty())
            .and_then(|options| options.node_elastic_ip_map.get(&node.spec.node_name))
            .map(|mapped| mapped.trim())?
    } else {
        own
    };
    text.parse().ok()
}

/// The gateway the cluster has now: the first node by name with the role,
/// preferring a Ready one when several have it.
pub fn current_gateway(nodes: &[ClusterNode]) -> Option<String> {
    let mut gateways: Vec<&ClusterNode> = nodes.iter().filter(|node| node.is_gateway()).collect();
    gateways.sort_by_key(|node| (!is_ready(node), node.name_any()));
    gateways.first().map(|node| node.name_any())
}

/// The ClusterNode (by name) that should be the gateway; `None` only when the
/// cluster has no nodes.
pub fn choose_gateway(
    nodes: &[ClusterNode],
    elastic_ip_of: impl Fn(&ClusterNode) -> Option<Ipv4Addr>,
    current: Option<&str>,
) -> Option<String> {
    let any_ready = nodes.iter().any(is_ready);
    if let Some(current) = current
        && nodes
            .iter()
            .any(|node| node.name_any() == current && (is_ready(node) || !any_ready))
    {
        return Some(current.to_owned());
    }
    nodes
        .iter()
        .filter(|node| is_ready(node) || !any_ready)
        .min_by_key(|node| (elastic_ip_of(node).is_none(), node.name_any()))
        .map(|node| node.name_any())
}

/// A new `spec.roles` for one ClusterNode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleChange {
    /// The ClusterNode.
    pub name: String,
    /// The resourceVersion the change was computed from.
    pub resource_version: Option<String>,
    /// The complete new roles.
    pub roles: Vec<String>,
}

/// The role changes that make `gateway` the only gateway, keeping every other
/// role: removals first, then the addition.
pub fn role_changes(nodes: &[ClusterNode], gateway: &str) -> Vec<RoleChange> {
    let mut removals = Vec::new();
    let mut addition = None;
    let mut sorted: Vec<&ClusterNode> = nodes.iter().collect();
    sorted.sort_by_key(|node| node.name_any());
    for node in sorted {
        let name = node.name_any();
        let change = |roles: Vec<String>| RoleChange {
            name: name.clone(),
            resource_version: node.resource_version(),
            roles,
        };
        if name == gateway {
            if !node.is_gateway() {
                let mut roles = node.spec.roles.clone();
                roles.push(ROLE_GATEWAY.to_owned());
                addition = Some(change(roles));
            }
        } else if node.is_gateway() {
            let roles = node
                .spec
                .roles
                .iter()
                .filter(|role| !role.eq_ignore_ascii_case(ROLE_GATEWAY))
                .cloned()
                .collect();
            removals.push(change(roles));
        }
    }
    removals.extend(addition);
    removals
}

/// The merge patch of one role change.
pub fn role_patch(change: &RoleChange) -> Value {
    let mut patch = json!({"spec": {"roles": change.roles}});
    if let Some(version) = &change.resource_version {
        patch["metadata"] = json!({"resourceVersion": version});
    }
    patch
}

/// What one gateway check found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayReport {
    /// The gateway after the check.
    pub gateway: Option<String>,
    /// ClusterNodes whose roles were changed.
    pub changed: usize,
}

/// Reads this cluster's ClusterNodes and Cluster from the host, chooses the
/// gateway and moves the role when needed.
pub async fn sync_gateway(host: &kube::Client, cluster: &str) -> Result<GatewayReport, DiscoveryError> {
    let own = Api::<Cluster>::all(host.clone())
        .get_opt(cluster)
        .await
        .map_err(|source| DiscoveryError::api("get", format!("Cluster {cluster}"), source))?
        .ok_or_else(|| DiscoveryError::ClusterMissing(cluster.to_owned()))?;
    let api: Api<ClusterNode> = Api::all(host.clone());
    let selector = format!("{KOSMOS_CLUSTER_LABEL}={cluster}");
    let nodes = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| DiscoveryError::api("list", format!("ClusterNodes of {cluster}"), source))?
        .items;
    let options = own.spec.cluster_link_options.as_ref();
    let current = current_gateway(&nodes);
    let Some(gateway) = choose_gateway(&nodes, |node| elastic_ip(node, options), current.as_deref()) else {
        return Ok(GatewayReport::default());
    };
    let changes = role_changes(&nodes, &gateway);
    let params = PatchParams {
        field_manager: Some(ELECTOR_FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    for change in &changes {
        api.patch(&change.name, &params, &Patch::Merge(&role_patch(change)))
            .await
            .map_err(|source| {
                DiscoveryError::api("patch", format!("ClusterNode {} roles", change.name), source)
            })?;
    }
    if !changes.is_empty() {
        tracing::info!(cluster, %gateway, previous = ?current, "moved the gateway role");
    }
    Ok(GatewayReport {
        gateway: Some(gateway),
        changed: changes.len(),
    })
}

/// How often the leader re-checks the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayTiming {
    /// Between checks that succeeded.
    pub interval: Duration,
    /// After a check that failed.
    pub retry: Duration,
}

impl Default for GatewayTiming {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            retry: Duration::from_secs(3),
        }
    }
}

/// Checks the gateway every `timing.interval` while `leader` says this process
/// holds the Lease, until `shutdown` completes.
pub async fn gateway_loop(
    host: kube::Client,
    cluster: String,
    timing: GatewayTiming,
    mut leader: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut election_open = true;
    loop {
        let leading = election_open && *leader.borrow_and_update();
        let wait = if leading {
            match sync_gateway(&host, &cluster).await {
                Ok(report) => {
                    tracing::debug!(?report, "gateway checked");
                    timing.interval
                }
                Err(error) => {
                    tracing::warn!(%error, "gateway check failed; retrying");
                    timing.retry
                }
            }
        } else {
            Duration::MAX
        };
        tokio::select! {
            () = &mut shutdown => return,
            changed = leader.changed(), if election_open => {
                if changed.is_err() {
                    tracing::warn!("gateway election ended; no longer deciding the gateway");
                    election_open = false;
                }
            }
            () = tokio::time::sleep(wait), if leading => {}
        }
    }
}

#[cfg(test)]
mod tests;
