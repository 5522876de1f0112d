//! `drmysql network-manager`: the host-cluster process around
//! [`crate::manager::compute`].
//!
//! As Kosmos's network manager does, every sync reads all Clusters,
//! ClusterNodes and NodeConfigs and recomputes every node's NodeConfig from
//! scratch, so nothing depends on which event arrived. Unlike Kosmos it writes
//! only the NodeConfigs whose spec changed (server-side apply, field manager
//! `drmysql`), so a steady state makes no writes and agents see no churn, and it
//! debounces bursts: a node joining changes several objects within moments, and
//! one sync after the burst is enough.

use std::collections::BTreeMap;

use drmysql_api::clusterlink::{Cluster, ClusterNode, NodeConfig, NodeConfigSpec};
use drmysql_api::names;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams};
use kube::runtime::watcher;

use crate::manager;
use crate::trigger::{LoopTiming, changes, run_debounced};

/// What one sync must write.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// NodeConfigs to create or whose spec changed, in name order.
    pub apply: Vec<(String, NodeConfigSpec)>,
    /// NodeConfigs whose node is gone, in name order.
    pub delete: Vec<String>,
}

/// Compares the desired NodeConfigs with the live ones.
pub fn plan(desired: &BTreeMap<String, NodeConfigSpec>, live: &[NodeConfig]) -> Plan {
    let live_by_name: BTreeMap<&str, &NodeConfigSpec> = live
        .iter()
        .filter_map(|config| Some((config.metadata.name.as_deref()?, &config.spec)))
        .collect();
    let apply = desired
        .iter()
        .filter(|(name, spec)| live_by_name.get(name.as_str()) != Some(spec))
        .map(|(name, spec)| (name.clone(), spec.clone()))
        .collect();
    let delete = live_by_name
        .keys()
        .filter(|name| !desired.contains_key(**name))
        .map(|name| (*name).to_owned())
        .collect();
    Plan { apply, delete }
}

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Listing a kind failed.
    #[error("cannot list {kind}: {source}")]
    List {
        /// The kind.
        kind: &'static str,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// Writing a NodeConfig failed.
    #[error("cannot {verb} NodeConfig {name}: {source}")]
    Write {
        /// `apply` or `delete`.
        verb: &'static str,
        /// The NodeConfig.
        name: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
}

/// What one sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// NodeConfigs computed.
    pub desired: usize,
    /// NodeConfigs created or changed.
    pub applied: usize,
    /// NodeConfigs deleted.
    pub deleted: usize,
    /// Clusters and ClusterNodes left out, with why.
    pub excluded: usize,
}

/// Reads everything, recomputes, and writes the difference.
pub async fn sync_once(client: &kube::Client) -> Result<SyncReport, SyncError> {
    let clusters = list::<Cluster>(client, "Cluster").await?;
    let nodes = list::<ClusterNode>(client, "ClusterNode").await?;
    let live = list::<NodeConfig>(client, "NodeConfig").await?;
    let desired = manager::compute(&clusters, &nodes, &live);
    for excluded in &desired.excluded {
        tracing::warn!(kind = excluded.kind, name = %excluded.name, reason = %excluded.reason, "left out of clusterlink");
    }
    for warning in &desired.warnings {
        tracing::warn!(%warning, "part of an input skipped");
    }
    let plan = plan(&desired.configs, &live);
    let api: Api<NodeConfig> = Api::all(client.clone());
    let params = PatchParams::apply(names::FIELD_MANAGER).force();
    for (name, spec) in &plan.apply {
        let object = NodeConfig {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_owned(),
                    names::MANAGED_BY.to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            spec: spec.clone(),
            status: None,
        };
        api.patch(name, &params, &Patch::Apply(&object))
            .await
            .map_err(|source| SyncError::Write {
                verb: "apply",
                name: name.clone(),
                source,
            })?;
        tracing::info!(nodeconfig = %name, "applied NodeConfig");
    }
    for name in &plan.delete {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(nodeconfig = %name, "deleted NodeConfig of a node that left"),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => {
                return Err(SyncError::Write {
                    verb: "delete",
                    name: name.clone(),
                    source,
                });
            }
        }
    }
    Ok(SyncReport {
        desired: desired.configs.len(),
        applied: plan.apply.len(),
        deleted: plan.delete.len(),
        excluded: desired.excluded.len(),
    })
}

async fn list<K>(client: &kube::Client, kind: &'static str) -> Result<Vec<K>, SyncError>
where
    K: kube::Resource<Scope = kube::core::ClusterResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::all(client.clone());
    api.list(&ListParams::default())
        .await
        .map(|list| list.items)
        .map_err(|source| SyncError::List { kind, source })
}

/// Watches Clusters, ClusterNodes and NodeConfigs and syncs after every burst of
/// changes, until `shutdown` completes.
pub async fn run(client: kube::Client, timing: LoopTiming, shutdown: impl Future<Output = ()>) {
    let all = watcher::Config::default();
    let triggers = futures::stream::select(
        futures::stream::select(
            changes(Api::<Cluster>::all(client.clone()), all.clone(), "Cluster"),
            changes(
                Api::<ClusterNode>::all(client.clone()),
                all.clone(),
                "ClusterNode",
            ),
        ),
        changes(Api::<NodeConfig>::all(client.clone()), all, "NodeConfig"),
    );
    run_debounced(triggers, timing, shutdown, || sync_logged(&client)).await;
}

/// One sync, logged; whether it succeeded.
async fn sync_logged(client: &kube::Client) -> bool {
    match sync_once(client).await {
        Ok(report) => {
            tracing::info!(?report, "synced NodeConfigs");
            true
        }
        Err(error) => {
            tracing::warn!(%error, "sync failed; retrying");
            false
        }
    }
}

#[cfg(test)]
mod tests;
