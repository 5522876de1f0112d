//! `drmysql controller`: watches DRMySQLs (and the Pods they own, narrowed by
//! label) and reconciles them.
//!
//! The kube runtime reconciles different DRMySQLs concurrently, at most
//! [`ControllerConfig::concurrency`] at once, and never one object twice at
//! once, and requeues failures with backoff. It runs as a plain process
//! against `KUBECONFIG` or in-cluster configuration. With leader election,
//! reconciling waits for the Lease and stops the moment it is lost.
//!
//! Memory: the only cache is the DRMySQLs' (the reflector the runtime reads
//! objects from); owned Pods are watched as metadata and not cached. Cached
//! DRMySQLs are stored without `metadata.managedFields` and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation, which no
//! stage reads and which can be larger than the rest of the object. What a
//! reconcile holds while it runs (the Secrets, Nodes and Pods it fetched, the
//! objects it built, an API connection with its buffers) is bounded by the
//! concurrency rather than by the number of DRMySQLs.

use std::sync::Arc;

use drmysql_api::drmysql::DRMySQL;
use drmysql_api::names;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, WatchStreamExt, controller, reflector, watcher};

use crate::leader::{LeaderElectionConfig, LeaderError, Leadership};
use crate::metrics::ControllerMetrics;
use crate::reconcile::{Context, ControllerConfig, error_policy, reconcile};

/// Why the controller could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Leader election could not start.
    #[error(transparent)]
    Leader(#[from] LeaderError),
    /// Another replica took the Lease over while this one was reconciling.
    #[error("lost the leader Lease; stopping so that this replica restarts as a follower")]
    LostLeadership,
}

/// Runs the controller until `shutdown` completes; with `leader_election`, only
/// while this replica holds the Lease. `metrics` are the ones the binary serves.
pub async fn run(
    client: kube::Client,
    config: ControllerConfig,
    leader_election: Option<LeaderElectionConfig>,
    metrics: Arc<ControllerMetrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    lead_and_reconcile(client, config, leader_election, metrics, shutdown).await
}

/// Waits for the Lease when asked to, then reconciles until shutdown or until the
/// Lease is lost, and gives the Lease back.
async fn lead_and_reconcile(
    client: kube::Client,
    config: ControllerConfig,
    leader_election: Option<LeaderElectionConfig>,
    metrics: Arc<ControllerMetrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let (stopping, stop_requested) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stopping.send(true);
    });
    let requested = |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    };

    let Some(election) = leader_election else {
        metrics.leader.set(1);
        reconcile_until(client, config, Arc::clone(&metrics), requested(stop_requested)).await;
        metrics.leader.set(0);
        return Ok(());
    };
    let mut leadership = Leadership::contend(client.clone(), &election).await?;
    tracing::info!(lease = %election.lease_name, namespace = %election.namespace, identity = %election.identity, "waiting for the leader Lease");
    tokio::select! {
        acquired = leadership.acquired() => {
            if !acquired {
                leadership.release().await;
                return Err(RunError::LostLeadership);
            }
        }
        () = requested(stop_requested.clone()) => {
            leadership.release().await;
            return Ok(());
        }
    }
    tracing::info!(identity = %election.identity, "acquired the leader Lease; reconciling");
    metrics.leader.set(1);
    let lost = leadership.lost();
    let (lost_flag, lost_seen) = tokio::sync::oneshot::channel::<()>();
    let stop = {
        let requested = requested(stop_requested);
        async move {
            tokio::select! {
                () = requested => {}
                () = lost => { let _ = lost_flag.send(()); }
            }
        }
    };
    reconcile_until(client, config, Arc::clone(&metrics), stop).await;
    metrics.leader.set(0);
    leadership.release().await;
    match lost_seen.await {
        Ok(()) => Err(RunError::LostLeadership),
        Err(_) => Ok(()),
    }
}

/// Runs the kube runtime's Controller until `stop` completes.
async fn reconcile_until(
    client: kube::Client,
    config: ControllerConfig,
    metrics: Arc<ControllerMetrics>,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let reporter = Reporter {
        controller: "drmysql-controller".to_owned(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let context = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        config,
        metrics,
    });
    let concurrency = context.config.concurrency.max(1);
    let drmysqls: Api<DRMySQL> = Api::all(client.clone());
    let pods: Api<Pod> = Api::all(client);
    let owned_pods =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={}", names::MANAGED_BY));
    // As `Controller::new` builds its reflector, with the objects slimmed
    // before they are cached.
    let (cache, writer) = reflector::store();
    let watched = reflector(
        writer,
        watcher(drmysqls, watcher::Config::default()).modify(slim_for_cache),
    )
    .applied_objects();
    Controller::for_stream(watched, cache)
        .with_config(controller::Config::default().concurrency(concurrency))
        .owns(pods, owned_pods)
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => {
                    tracing::debug!(namespace = ?object.namespace, name = %object.name, "reconciled")
                }
                Err(error) => tracing::debug!(%error, "reconcile error"),
            }
        })
        .await;
}

/// The annotation `kubectl apply` keeps a whole copy of the object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what no reconcile stage reads from a DRMySQL before it is cached:
/// `metadata.managedFields` (one entry per writer, the controller's status
/// writes among them) and the last-applied annotation.
pub fn slim_for_cache(drmysql: &mut DRMySQL) {
    drmysql.managed_fields_mut().clear();
    drmysql.annotations_mut().remove(LAST_APPLIED);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_everything_but_managed_fields_and_the_last_applied_copy() {
        let mut drmysql: DRMySQL = serde_json::from_value(serde_json::json!({
            "apiVersion": "drmysql.io/v1alpha1", "kind": "DRMySQL",
            "metadata": {
                "name": "orders", "namespace": "shop", "generation": 3, "resourceVersion": "42",
                "finalizers": [names::DRMYSQL_FINALIZER],
                "labels": {"team": "payments"},
                "annotations": {LAST_APPLIED: "{\"spec\":{}}", "team/owner": "alice"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:spec": {}}}]
            },
            "spec": {"engine": {"image": "mariadb:11.4"}, "primary": {"node": "a"}, "replicas": [{"node": "b"}]},
            "status": {"observedGeneration": 3}
        }))
        .expect("a DRMySQL");
        let before = drmysql.clone();
        slim_for_cache(&mut drmysql);
        assert!(
            drmysql
                .metadata
                .managed_fields
                .as_deref()
                .unwrap_or_default()
                .is_empty()
        );
        assert_eq!(
            drmysql.annotations().get("team/owner").map(String::as_str),
            Some("alice")
        );
        assert!(!drmysql.annotations().contains_key(LAST_APPLIED));
        assert_eq!(drmysql.spec, before.spec);
        assert_eq!(drmysql.status, before.status);
        assert_eq!(drmysql.metadata.finalizers, before.metadata.finalizers);
        assert_eq!(drmysql.metadata.labels, before.metadata.labels);
        assert_eq!(drmysql.metadata.generation, before.metadata.generation);
        assert_eq!(
            drmysql.metadata.resource_version,
            before.metadata.resource_version
        );
    }
}
