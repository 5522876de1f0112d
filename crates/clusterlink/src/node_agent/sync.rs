//! One pass of the agent: report the underlay on the ClusterNode, then bring the
//! kernel to the NodeConfig (or clean up when there is none), and report.
//!
//! Every pass reads the objects afresh and applies the whole spec, so it is
//! level-triggered: the same pass runs on a change, on the 30-second resync and
//! after a restart, and it repairs drift whatever caused it. The kernel sits
//! behind [`Kernel`], so this logic is tested against an in-memory API server
//! without touching any network namespace.

use std::time::Duration;

use chrono::{DateTime, Utc};
use drmysql_api::clusterlink::{Cluster, ClusterNode, NodeConfig, NodeConfigSpec, NodeConfigStatus};
use drmysql_api::names;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use serde_json::json;

use super::detect::{self, DetectError, InterfaceChoice, Underlay};
use super::status::{SyncOutcome, new_errors, status_after};

/// Field manager of what the agent writes on its ClusterNode.
pub const AGENT_FIELD_MANAGER: &str = "drmysql-agent";

/// The node's kernel, as the agent loop needs it.
pub trait Kernel: Send {
    /// Finds the underlay interface and its addresses.
    fn detect(
        &mut self,
        choice: &InterfaceChoice,
    ) -> impl Future<Output = Result<Underlay, DetectError>> + Send;
    /// Brings the owned kernel state to `spec`; entries that fail are reported,
    /// the rest applied.
    fn apply(&mut self, spec: &NodeConfigSpec) -> impl Future<Output = SyncOutcome> + Send;
    /// Removes everything the agent owns; the number of entries removed.
    fn cleanup(&mut self) -> impl Future<Output = Result<usize, String>> + Send;
}

/// Which node this agent runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    /// The node's Cluster.
    pub cluster: String,
    /// The node's name in its cluster.
    pub node: String,
}

impl NodeIdentity {
    /// The ClusterNode and NodeConfig name, `<cluster>-<node>`.
    pub fn object_name(&self) -> String {
        ClusterNode::name_for(&self.cluster, &self.node)
    }
}

/// Why a pass failed; the next pass retries.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The host API server could not be read or written.
    #[error("cannot {action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// Cleaning up failed part-way; what remains is retried.
    #[error("cleanup incomplete: {0}")]
    Cleanup(String),
}

/// What a pass did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PassResult {
    /// The NodeConfig was applied.
    Applied {
        /// What applying did.
        outcome: SyncOutcome,
        /// Whether the kernel had drifted from a NodeConfig already applied.
        drift_repaired: bool,
    },
    /// There is no NodeConfig; everything owned was removed (count).
    CleanedUp(usize),
    /// There is no NodeConfig and nothing was left to remove.
    Idle,
}

/// The agent's state between passes.
pub struct AgentSync<K> {
    host: kube::Client,
    identity: NodeIdentity,
    kernel: K,
    recorder: Recorder,
    status_heartbeat: Duration,
    clean: bool,
    last_status_write: Option<DateTime<Utc>>,
}

impl<K: Kernel> AgentSync<K> {
    /// An agent for `identity`, writing Events through `recorder`. Status is
    /// rewritten at least every `status_heartbeat` even when nothing changed.
    pub fn new(
        host: kube::Client,
        identity: NodeIdentity,
        kernel: K,
        recorder: Recorder,
        status_heartbeat: Duration,
    ) -> Self {
        Self {
            host,
            identity,
            kernel,
            recorder,
            status_heartbeat,
            clean: false,
            last_status_write: None,
        }
    }

    /// The kernel, for the final cleanup.
    pub fn kernel_mut(&mut self) -> &mut K {
        &mut self.kernel
    }

    /// One pass at `now`.
    pub async fn pass(&mut self, now: DateTime<Utc>) -> Result<PassResult, SyncError> {
        self.report_underlay().await?;
        let name = self.identity.object_name();
        let configs: Api<NodeConfig> = Api::all(self.host.clone());
        let config = configs.get_opt(&name).await.map_err(|source| SyncError::Kube {
            action: format!("read NodeConfig {name}"),
            source,
        })?;
        let Some(config) = config.filter(|config| config.metadata.deletion_timestamp.is_none()) else {
            if self.clean {
                return Ok(PassResult::Idle);
            }
            let removed = self.kernel.cleanup().await.map_err(SyncError::Cleanup)?;
            self.clean = true;
            tracing::info!(nodeconfig = %name, removed, "no NodeConfig; removed everything the agent owned");
            return Ok(PassResult::CleanedUp(removed));
        };
        self.clean = false;
        let outcome = self.kernel.apply(&config.spec).await;
        let drift_repaired = self.report(&configs, &config, &outcome, now).await?;
        Ok(PassResult::Applied {
            outcome,
            drift_repaired,
        })
    }

    /// Writes the detected interface and addresses to the ClusterNode when they
    /// differ from what it says.
    async fn report_underlay(&mut self) -> Result<(), SyncError> {
        let clusters: Api<Cluster> = Api::all(self.host.clone());
        let cluster = clusters
            .get_opt(&self.identity.cluster)
            .await
            .map_err(|source| SyncError::Kube {
                action: format!("read Cluster {}", self.identity.cluster),
                source,
            })?;
        let Some(options) = cluster.as_ref().and_then(Cluster::enabled_link_options) else {
            tracing::debug!(cluster = %self.identity.cluster, "Cluster absent or clusterlink disabled; underlay not reported");
            return Ok(());
        };
        let underlay = match detect::choose(options, &self.identity.node) {
            Ok(choice) => self.kernel.detect(&choice).await,
            Err(error) => Err(error),
        };
        let underlay = match underlay {
            Ok(underlay) => underlay,
            Err(error) => {
                tracing::warn!(%error, "cannot detect the underlay interface");
                return Ok(());
            }
        };
        let name = self.identity.object_name();
        let nodes: Api<ClusterNode> = Api::all(self.host.clone());
        let live = nodes.get_opt(&name).await.map_err(|source| SyncError::Kube {
            action: format!("read ClusterNode {name}"),
            source,
        })?;
        if live.as_ref().is_some_and(|live| reports(live, &underlay)) {
            return Ok(());
        }
        let patch = underlay_patch(&self.identity, &underlay);
        nodes
            .patch(
                &name,
                &PatchParams::apply(AGENT_FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map_err(|source| SyncError::Kube {
                action: format!("write the underlay to ClusterNode {name}"),
                source,
            })?;
        tracing::info!(clusternode = %name, interface = %underlay.interface, ipv4 = ?underlay.ipv4, ipv6 = ?underlay.ipv6, "reported the underlay");
        Ok(())
    }

    /// Events and status for an applied pass; whether it repaired drift.
    async fn report(
        &mut self,
        configs: &Api<NodeConfig>,
        config: &NodeConfig,
        outcome: &SyncOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, SyncError> {
        let previous = config.status.as_ref();
        for error in new_errors(previous, outcome) {
            self.event(
                config,
                EventType::Warning,
                "EntryNotApplied",
                format!("{:?} {}: {}", error.kind, error.entry, error.message),
            )
            .await;
        }
        let generation_seen =
            previous.and_then(|status| status.observed_generation) == config.metadata.generation;
        let drift_repaired = outcome.changes > 0 && generation_seen;
        if drift_repaired {
            self.event(
                config,
                EventType::Normal,
                "DriftRepaired",
                format!(
                    "restored {} kernel entries that had drifted from the NodeConfig",
                    outcome.changes
                ),
            )
            .await;
        }
        let status = status_after(previous, outcome, config.metadata.generation, now);
        let heartbeat_due = self.last_status_write.is_none_or(|last| {
            now.signed_duration_since(last).to_std().unwrap_or_default() >= self.status_heartbeat
        });
        if !heartbeat_due && previous.is_some_and(|previous| same_but_sync_time(previous, &status)) {
            return Ok(drift_repaired);
        }
        let name = self.identity.object_name();
        configs
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(status_patch(&status)),
            )
            .await
            .map_err(|source| SyncError::Kube {
                action: format!("write the status of NodeConfig {name}"),
                source,
            })?;
        self.last_status_write = Some(now);
        Ok(drift_repaired)
    }

    async fn event(&self, config: &NodeConfig, type_: EventType, reason: &str, note: String) {
        use kube::Resource;
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note.chars().take(1000).collect()),
            action: "Apply".to_owned(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &config.object_ref(&())).await {
            tracing::warn!(%error, reason, "cannot publish an Event");
        }
    }
}

/// Whether the ClusterNode already says what was detected.
fn reports(live: &ClusterNode, underlay: &Underlay) -> bool {
    let text = |ip: Option<String>| ip.unwrap_or_default();
    live.spec.interface_name == underlay.interface
        && live.spec.ip == text(underlay.ipv4.map(|ip| ip.to_string()))
        && live.spec.ip6 == text(underlay.ipv6.map(|ip| ip.to_string()))
}

/// The fields the agent owns on its ClusterNode (and the names, which
/// discovery sets to the same values).
fn underlay_patch(identity: &NodeIdentity, underlay: &Underlay) -> serde_json::Value {
    let mut spec = json!({
        "clusterName": identity.cluster,
        "nodeName": identity.node,
        "interfaceName": underlay.interface,
    });
    if let Some(ip) = underlay.ipv4 {
        spec["ip"] = json!(ip.to_string());
    }
    if let Some(ip) = underlay.ipv6 {
        spec["ip6"] = json!(ip.to_string());
    }
    json!({
        "apiVersion": "kosmos.io/v1alpha1",
        "kind": "ClusterNode",
        "metadata": {
            "name": identity.object_name(),
            "labels": { names::KOSMOS_CLUSTER_LABEL: identity.cluster },
        },
        "spec": spec,
    })
}

/// A merge patch that sets every status field, clearing errors that are gone
/// (an empty list is omitted when serialised, which a merge patch would read as
/// "leave as is").
fn status_patch(status: &NodeConfigStatus) -> serde_json::Value {
    let mut value = serde_json::to_value(status).unwrap_or_else(|_| json!({}));
    value["errors"] = serde_json::to_value(&status.errors).unwrap_or_else(|_| json!([]));
    json!({ "status": value })
}

fn same_but_sync_time(previous: &NodeConfigStatus, next: &NodeConfigStatus) -> bool {
    NodeConfigStatus {
        last_sync_time: None,
        ..previous.clone()
    } == NodeConfigStatus {
        last_sync_time: None,
        ..next.clone()
    }
}

#[cfg(test)]
mod tests;
