//! One ClusterNode in the host per real Node of this member cluster, as
//! Kosmos's node and nodecidr controllers keep them.
//!
//! A ClusterNode has several writers: this module owns its names, pod CIDRs,
//! label and readiness; the agent owns its addresses and interface; the
//! elector owns its gateway role. Each writes with server-side apply (or a
//! patch) under its own field manager and names only its own fields, so none
//! clobbers another's. That is why the apply bodies here are built by hand: the
//! typed ClusterNode would serialise `interfaceName` even when empty, and
//! applying it would take that field from the agent.
//!
//! Virtual nodes (`kosmos.io/node=true`, a whole cluster seen as one node) and
//! excluded nodes (`kosmos.io/exclude=true`) get no ClusterNode: they have no
//! underlay of their own to route through. A ClusterNode of this cluster whose
//! Node is gone, or has become virtual or excluded, is an orphan and is deleted.

use std::collections::BTreeMap;

use drmysql_api::clusterlink::ClusterNode;
use drmysql_api::names::{KOSMOS_CLUSTER_LABEL, KOSMOS_NODE_LABEL};
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use super::DISCOVERY_FIELD_MANAGER;
use super::cidrs::{self, read};
use super::error::{DiscoveryError, is_not_found};
use super::status::Cni;

/// Label that keeps a Node out of clusterlink (value `true`), as in Kosmos.
pub const KOSMOS_EXCLUDE_LABEL: &str = "kosmos.io/exclude";
/// `status.nodeStatus` of a ClusterNode whose Node is Ready.
pub const NODE_READY: &str = "Ready";
/// `status.nodeStatus` of a ClusterNode whose Node is not Ready.
pub const NODE_NOT_READY: &str = "NotReady";

/// The fields of one ClusterNode that discovery owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredClusterNode {
    /// `<cluster>-<node>`.
    pub name: String,
    /// The Node's name.
    pub node_name: String,
    /// The node's pod CIDRs, normalised.
    pub pod_cidrs: Vec<String>,
    /// [`NODE_READY`] or [`NODE_NOT_READY`].
    pub node_status: &'static str,
}

/// Where a node's own pod CIDRs come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodePodCidrs {
    /// `Node.spec.podCIDRs` (every CNI that allocates from it).
    NodeSpec,
    /// Calico's block affinities, by node name.
    BlockAffinities(BTreeMap<String, Vec<String>>),
}

/// What a sync of the ClusterNodes must write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePlan {
    /// ClusterNodes to create, or whose owned spec fields or label differ.
    pub apply: Vec<DesiredClusterNode>,
    /// ClusterNodes whose `status.nodeStatus` differs (or that are new).
    pub status: Vec<DesiredClusterNode>,
    /// ClusterNodes of this cluster whose Node is gone, virtual or excluded.
    pub orphans: Vec<String>,
}

/// Whether a Node stays out of clusterlink: a virtual or an excluded node.
pub fn is_skipped(node: &Node) -> bool {
    let labels = node.labels();
    [KOSMOS_NODE_LABEL, KOSMOS_EXCLUDE_LABEL]
        .iter()
        .any(|label| labels.get(*label).is_some_and(|value| value == "true"))
}

/// [`NODE_READY`] when the Node's `Ready` condition is `True`, else
/// [`NODE_NOT_READY`] (including when it has no such condition yet).
pub fn node_status(node: &Node) -> &'static str {
    let ready = node
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|condition| condition.type_ == "Ready" && condition.status == "True");
    if ready { NODE_READY } else { NODE_NOT_READY }
}

/// The ClusterNode every real Node of `cluster` should have, in name order.
pub fn desired_cluster_nodes(
    cluster: &str,
    nodes: &[Node],
    source: &NodePodCidrs,
) -> Vec<DesiredClusterNode> {
    let mut desired: Vec<DesiredClusterNode> = nodes
        .iter()
        .filter(|node| !is_skipped(node))
        .map(|node| {
            let node_name = node.name_any();
            let pod_cidrs = match source {
                NodePodCidrs::NodeSpec => cidrs::node_pod_cidrs(node),
                NodePodCidrs::BlockAffinities(by_node) => {
                    by_node.get(&node_name).cloned().unwrap_or_default()
                }
            };
            DesiredClusterNode {
                name: ClusterNode::name_for(cluster, &node_name),
                node_name,
                pod_cidrs,
                node_status: node_status(node),
            }
        })
        .collect();
    desired.sort_by(|a, b| a.name.cmp(&b.name));
    desired.dedup_by(|a, b| a.name == b.name);
    desired
}

/// Compares the desired ClusterNodes of `cluster` with those the host has
/// labelled as this cluster's.
pub fn plan_cluster_nodes(
    cluster: &str,
    desired: &[DesiredClusterNode],
    existing: &[ClusterNode],
) -> NodePlan {
    let existing_by_name: BTreeMap<String, &ClusterNode> =
        existing.iter().map(|node| (node.name_any(), node)).collect();
    let mut plan = NodePlan::default();
    for want in desired {
        let have = existing_by_name.get(&want.name);
        let spec_settled = have.is_some_and(|have| {
            have.labels().get(KOSMOS_CLUSTER_LABEL).map(String::as_str) == Some(cluster)
                && have.spec.cluster_name == cluster
                && have.spec.node_name == want.node_name
                && have.spec.pod_cidrs == want.pod_cidrs
        });
        if !spec_settled {
            plan.apply.push(want.clone());
        }
        let recorded = have
            .and_then(|have| have.status.as_ref())
            .map(|status| status.node_status.as_str());
        if recorded != Some(want.node_status) {
            plan.status.push(want.clone());
        }
    }
    plan.orphans = existing_by_name
        .keys()
        .filter(|name| !desired.iter().any(|want| &want.name == *name))
        .cloned()
        .collect();
    plan
}

/// The server-side apply body naming only the fields discovery owns.
pub fn apply_body(cluster: &str, want: &DesiredClusterNode) -> Value {
    let mut spec = json!({"clusterName": cluster, "nodeName": want.node_name});
    if !want.pod_cidrs.is_empty() {
        spec["podCIDRs"] = json!(want.pod_cidrs);
    }
    json!({
        "apiVersion": "kosmos.io/v1alpha1",
        "kind": "ClusterNode",
        "metadata": {"name": want.name, "labels": {KOSMOS_CLUSTER_LABEL: cluster}},
        "spec": spec,
    })
}

/// The server-side apply body of the status subresource.
pub fn status_body(want: &DesiredClusterNode) -> Value {
    json!({
        "apiVersion": "kosmos.io/v1alpha1",
        "kind": "ClusterNode",
        "metadata": {"name": want.name},
        "status": {"nodeStatus": want.node_status},
    })
}

/// What one ClusterNode sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSyncReport {
    /// ClusterNodes this cluster should have.
    pub desired: usize,
    /// Spec applies made.
    pub applied: usize,
    /// Status applies made.
    pub statuses: usize,
    /// Orphans deleted.
    pub deleted: usize,
}

/// Where this cluster's per-node pod CIDRs come from: Calico's block
/// affinities, or `Node.spec.podCIDRs` for other CNIs and for a Calico whose
/// block affinities are not in the Kubernetes API.
pub async fn read_node_pod_cidrs(member: &kube::Client, cni: Cni) -> Result<NodePodCidrs, DiscoveryError> {
    if cni != Cni::Calico {
        return Ok(NodePodCidrs::NodeSpec);
    }
    match read::block_affinities(member).await? {
        Some(affinities) => Ok(NodePodCidrs::BlockAffinities(cidrs::block_affinity_cidrs(
            &affinities,
        ))),
        None => {
            tracing::warn!("Calico block affinities not found; node pod CIDRs taken from Node.spec.podCIDRs");
            Ok(NodePodCidrs::NodeSpec)
        }
    }
}

/// Brings the host's ClusterNodes of `cluster` in line with the member's
/// `nodes`: creates and updates the owned fields, records readiness, deletes
/// orphans. A settled cluster makes no writes.
pub async fn sync_nodes(
    host: &kube::Client,
    cluster: &str,
    nodes: &[Node],
    source: &NodePodCidrs,
) -> Result<NodeSyncReport, DiscoveryError> {
    let api: Api<ClusterNode> = Api::all(host.clone());
    let selector = format!("{KOSMOS_CLUSTER_LABEL}={cluster}");
    let existing = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| DiscoveryError::api("list", format!("ClusterNodes of {cluster}"), source))?
        .items;
    let desired = desired_cluster_nodes(cluster, nodes, source);
    let plan = plan_cluster_nodes(cluster, &desired, &existing);
    let params = PatchParams::apply(DISCOVERY_FIELD_MANAGER).force();
    for want in &plan.apply {
        api.patch(&want.name, &params, &Patch::Apply(&apply_body(cluster, want)))
            .await
            .map_err(|source| DiscoveryError::api("apply", format!("ClusterNode {}", want.name), source))?;
        tracing::info!(clusternode = %want.name, pod_cidrs = ?want.pod_cidrs, "applied ClusterNode");
    }
    for want in &plan.status {
        api.patch_status(&want.name, &params, &Patch::Apply(&status_body(want)))
            .await
            .map_err(|source| {
                DiscoveryError::api("apply", format!("ClusterNode {} status", want.name), source)
            })?;
        tracing::info!(clusternode = %want.name, status = want.node_status, "recorded node readiness");
    }
    for name in &plan.orphans {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(clusternode = %name, "deleted the ClusterNode of a node that left"),
            Err(error) if is_not_found(&error) => {}
            Err(source) => {
                return Err(DiscoveryError::api(
                    "delete",
                    format!("ClusterNode {name}"),
                    source,
                ));
            }
        }
    }
    Ok(NodeSyncReport {
        desired: desired.len(),
        applied: plan.apply.len(),
        statuses: plan.status.len(),
        deleted: plan.orphans.len(),
    })
}

#[cfg(test)]
mod tests;
