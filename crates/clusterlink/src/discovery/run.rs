//! The discovery process of one member cluster: its loops and their timing.
//!
//! Two loops run side by side until shutdown:
//!
//! - discovery: every pass lists what it needs afresh and recomputes the
//!   cluster's CIDRs, its ClusterNodes and its no-masquerade IPPools, so that
//!   nothing depends on which event arrived. A pass runs at start, after a
//!   burst of member Node or host Cluster changes, and every `resync` (which
//!   picks up ConfigMap, IPPool and API server changes that are not watched,
//!   and retires orphans: Kosmos's 60 s cleanup). A failed concern is logged
//!   and the pass is retried after `retry`; the other concerns still run.
//! - gateway: while this process holds the member's Lease, the gateway is
//!   re-checked every 10 s (3 s after an error). Gateway mode is what uses it,
//!   but it runs for every cluster, as in Kosmos, so a switch of network type
//!   finds a gateway already chosen.
//!
//! Nothing here panics: every error is logged and retried.

use std::time::Duration;

use drmysql_api::clusterlink::Cluster;
use futures::Stream;
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use tokio::sync::watch;

use super::cidrs::read;
use super::elector::{self, GatewayTiming};
use super::error::DiscoveryError;
use super::ippools::{self, IpPoolSyncReport};
use super::lease::{self, LeaseSettings};
use super::nodes::{self, NodeSyncReport};
use super::status::{self, Cni};
use crate::trigger::{LoopTiming, changes, run_debounced};

/// Default name of the gateway election's Lease. It is not Kosmos's `elector`,
/// so that a Kosmos elector left in the same namespace cannot fight over it.
pub const DEFAULT_LEASE_NAME: &str = "drmysql-clusterlink-elector";

/// What the discovery process of one member cluster needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Name of this member's Cluster in the host cluster.
    pub cluster: String,
    /// This process's identity in the gateway election (its Pod name).
    pub identity: String,
    /// Namespace of the election's Lease in the member cluster.
    pub lease_namespace: String,
    /// Name of the election's Lease.
    pub lease_name: String,
    /// Lock validity after the last renewal (whole seconds, at least 2).
    pub lease_duration: Duration,
    /// How long before expiry the holder renews (whole seconds, at least 1,
    /// less than `lease_duration`).
    pub lease_grace: Duration,
    /// Discovery pass interval without changes.
    pub resync: Duration,
    /// Quiet time after the last change before a pass.
    pub debounce: Duration,
    /// Longest a burst of changes may delay a pass.
    pub max_delay: Duration,
    /// Wait after a failed pass, and before joining the election again.
    pub retry: Duration,
    /// Gateway re-check timing.
    pub gateway: GatewayTiming,
}

impl DiscoveryConfig {
    /// The configuration with default timing: 30 s resync, 1 s debounce (at
    /// most 10 s), 10 s retry, a 15 s Lease renewed 5 s before expiry, the gateway checked every
    /// 10 s (3 s after an error).
    pub fn new(
        cluster: impl Into<String>,
        identity: impl Into<String>,
        lease_namespace: impl Into<String>,
    ) -> Self {
        Self {
            cluster: cluster.into(),
            identity: identity.into(),
            lease_namespace: lease_namespace.into(),
            lease_name: DEFAULT_LEASE_NAME.to_owned(),
            lease_duration: Duration::from_secs(15),
            lease_grace: Duration::from_secs(5),
            resync: Duration::from_secs(30),
            debounce: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            retry: Duration::from_secs(10),
            gateway: GatewayTiming::default(),
        }
    }

    /// Rejects a configuration that cannot work, naming the field.
    pub fn validate(&self) -> Result<(), DiscoveryError> {
        let required = [
            ("cluster", &self.cluster),
            ("identity", &self.identity),
            ("lease_namespace", &self.lease_namespace),
            ("lease_name", &self.lease_name),
        ];
        if let Some((field, _)) = required.iter().find(|(_, value)| value.trim().is_empty()) {
            return Err(DiscoveryError::Config(format!("{field} must not be empty")));
        }
        let (duration, grace) = (self.lease_duration.as_secs(), self.lease_grace.as_secs());
        if grace == 0 || grace >= duration {
            return Err(DiscoveryError::Config(format!(
                "lease_grace ({grace} s) must be at least 1 s and less than lease_duration ({duration} s)"
            )));
        }
        let periods = [
            ("resync", self.resync),
            ("retry", self.retry),
            ("gateway.interval", self.gateway.interval),
            ("gateway.retry", self.gateway.retry),
        ];
        if let Some((field, _)) = periods.iter().find(|(_, period)| period.is_zero()) {
            return Err(DiscoveryError::Config(format!(
                "{field} must be longer than zero"
            )));
        }
        Ok(())
    }

    fn lease_settings(&self) -> LeaseSettings {
        LeaseSettings {
            name: self.lease_name.clone(),
            namespace: self.lease_namespace.clone(),
            identity: self.identity.clone(),
            duration_secs: self.lease_duration.as_secs(),
            grace_secs: self.lease_grace.as_secs(),
            retry: self.retry,
        }
    }
}

/// Runs discovery and the gateway election of one member cluster until
/// `shutdown` completes. `member` reaches the member's API server, `host` the
/// host cluster's. Fails only on an invalid configuration.
pub async fn run(
    member: kube::Client,
    host: kube::Client,
    config: DiscoveryConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DiscoveryError> {
    config.validate()?;
    let triggers = futures::stream::select(
        changes(
            Api::<Node>::all(member.clone()),
            watcher::Config::default(),
            "member Node",
        ),
        changes(
            Api::<Cluster>::all(host.clone()),
            watcher::Config::default(),
            "host Cluster",
        ),
    );
    let (stop, stopping) = watch::channel(false);
    let (leader, leading) = watch::channel(false);
    tokio::join!(
        async {
            shutdown.await;
            stop.send_replace(true);
        },
        lease::hold_lease(
            member.clone(),
            config.lease_settings(),
            leader,
            stopped(stopping.clone())
        ),
        run_loops(member, host, config, triggers, leading, stopped(stopping)),
    );
    Ok(())
}

/// Completes once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The discovery and gateway loops, given the change triggers and the
/// election's verdict.
pub(crate) async fn run_loops(
    member: kube::Client,
    host: kube::Client,
    config: DiscoveryConfig,
    triggers: impl Stream<Item = ()>,
    leading: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop, stopping) = watch::channel(false);
    tokio::join!(
        async {
            shutdown.await;
            stop.send_replace(true);
        },
        elector::gateway_loop(
            host.clone(),
            config.cluster.clone(),
            config.gateway,
            leading,
            stopped(stopping.clone())
        ),
        discovery_loop(member, host, &config, triggers, stopped(stopping)),
    );
}

/// What one discovery pass did; `None` where a concern did not run.
#[derive(Debug, Default)]
pub struct PassReport {
    /// Whether the Cluster's status was written.
    pub status_written: Option<bool>,
    /// The ClusterNode sync.
    pub nodes: Option<NodeSyncReport>,
    /// The IPPool sync (Calico only).
    pub ippools: Option<IpPoolSyncReport>,
    /// Concerns that failed; the others still ran.
    pub failures: Vec<DiscoveryError>,
}

/// One discovery pass: reads the host's Clusters and the member's Nodes (and
/// IPPools on Calico) once, then syncs the status, the ClusterNodes and the
/// IPPools. Fails as a whole only when this cluster's Cluster cannot be read.
pub async fn sync_once(
    member: &kube::Client,
    host: &kube::Client,
    cluster: &str,
) -> Result<PassReport, DiscoveryError> {
    let clusters = Api::<Cluster>::all(host.clone())
        .list(&ListParams::default())
        .await
        .map_err(|source| DiscoveryError::api("list", "host Clusters", source))?
        .items;
    let own = clusters
        .iter()
        .find(|candidate| candidate.name_any() == cluster)
        .ok_or_else(|| DiscoveryError::ClusterMissing(cluster.to_owned()))?;
    let mut report = PassReport::default();
    let Some(options) = own.enabled_link_options() else {
        tracing::info!(
            cluster,
            "clusterlink is not enabled for this cluster; nothing to discover"
        );
        return Ok(report);
    };
    let cni = Cni::of(options);
    let nodes = read::nodes(member)
        .await
        .map_err(|error| report.failures.push(error))
        .ok();
    let pools = if cni == Cni::Calico {
        read::calico_ippools(member)
            .await
            .map_err(|error| report.failures.push(error))
            .ok()
            .flatten()
    } else {
        None
    };

    match status::sync_status(member, host, own, options, nodes.as_deref(), pools.as_deref()).await {
        Ok(written) => report.status_written = Some(written),
        Err(error) => report.failures.push(error),
    }
    if let Some(nodes) = &nodes {
        let synced = match nodes::read_node_pod_cidrs(member, cni).await {
            Ok(source) => nodes::sync_nodes(host, cluster, nodes, &source).await,
            Err(error) => Err(error),
        };
        match synced {
            Ok(synced) => report.nodes = Some(synced),
            Err(error) => report.failures.push(error),
        }
    }
    if let Some(pools) = &pools {
        match ippools::sync_ippools(member, cni, cluster, &clusters, pools).await {
            Ok(synced) => report.ippools = Some(synced),
            Err(error) => report.failures.push(error),
        }
    }
    Ok(report)
}

/// Runs a pass at start, after every burst of `triggers`, every `resync`, and
/// `retry` after a pass that failed, until `shutdown` completes.
async fn discovery_loop(
    member: kube::Client,
    host: kube::Client,
    config: &DiscoveryConfig,
    triggers: impl Stream<Item = ()>,
    shutdown: impl Future<Output = ()>,
) {
    let timing = LoopTiming {
        debounce: config.debounce,
        max_delay: config.max_delay,
        resync: config.resync,
        retry: config.retry,
    };
    run_debounced(triggers, timing, shutdown, || async {
        match sync_once(&member, &host, &config.cluster).await {
            Ok(report) => {
                for error in &report.failures {
                    tracing::warn!(%error, "discovery step failed; retrying");
                }
                tracing::debug!(?report, "discovery pass done");
                report.failures.is_empty()
            }
            Err(error) => {
                tracing::warn!(%error, "discovery pass failed; retrying");
                false
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests;
