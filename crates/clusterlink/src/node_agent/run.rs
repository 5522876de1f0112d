//! The agent's loop: a pass at start, after changes to its NodeConfig or its
//! Cluster (watched by name only, so a node never caches other nodes'
//! objects), and every resync period (Kosmos uses 30 s) to repair drift.

use std::sync::Arc;
use std::time::Instant;

use drmysql_api::clusterlink::{Cluster, NodeConfig};
use kube::api::Api;
use kube::runtime::watcher;

use super::metrics::AgentMetrics;
use super::sync::{AgentSync, Kernel, NodeIdentity};
use crate::trigger::{LoopTiming, changes, run_debounced};

/// Runs passes until `shutdown` completes, and hands the agent back (for a
/// final cleanup, if asked).
pub async fn run<K: Kernel + 'static>(
    host: kube::Client,
    identity: &NodeIdentity,
    agent: AgentSync<K>,
    metrics: Arc<AgentMetrics>,
    timing: LoopTiming,
    shutdown: impl Future<Output = ()>,
) -> AgentSync<K> {
    let by_name = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
    let triggers = futures::stream::select(
        changes(
            Api::<NodeConfig>::all(host.clone()),
            by_name(&identity.object_name()),
            "NodeConfig",
        ),
        changes(Api::<Cluster>::all(host), by_name(&identity.cluster), "Cluster"),
    );
    let agent = tokio::sync::Mutex::new(agent);
    run_debounced(triggers, timing, shutdown, || {
        let agent = &agent;
        let metrics = &metrics;
        async move {
            let started = Instant::now();
            let now = chrono::Utc::now();
            let result = agent
                .lock()
                .await
                .pass(now)
                .await
                .map_err(|error| error.to_string());
            let seconds = started.elapsed().as_secs_f64();
            metrics.record(&result, seconds, now.timestamp() as f64);
            match result {
                Ok(result) => {
                    tracing::debug!(?result, seconds, "pass done");
                    true
                }
                Err(error) => {
                    tracing::warn!(%error, "pass failed; retrying");
                    false
                }
            }
        }
    })
    .await;
    agent.into_inner()
}
