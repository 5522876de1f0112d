//! The sidecar's own Prometheus metrics, about its one instance. Names carry
//! `drmysql_sidecar_` so they never collide with the controller's
//! cluster-wide series (see `docs/metrics.md`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use drmysql_mysql::Lag;

pub use crate::metrics::InstanceLabels;

use super::readiness::Snapshot;

/// Labels of probe counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    /// `reachable` or `unreachable`.
    pub result: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every sidecar metric.
#[derive(Default)]
pub struct SidecarMetrics {
    up: Family<InstanceLabels, Gauge>,
    ready: Family<InstanceLabels, Gauge>,
    writable: Family<InstanceLabels, Gauge>,
    io_running: Family<InstanceLabels, Gauge>,
    sql_running: Family<InstanceLabels, Gauge>,
    lag: Family<InstanceLabels, FloatGauge>,
    heartbeat_stale: Family<InstanceLabels, Gauge>,
    /// Heartbeats written.
    pub heartbeats: Counter,
    /// Heartbeat writes that failed.
    pub heartbeat_errors: Counter,
    /// Tunnel probes served.
    pub probes: Family<ProbeLabels, Counter>,
}

impl SidecarMetrics {
    /// Registers every metric in `registry` under the `drmysql_sidecar` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let sub = registry.sub_registry_with_prefix("drmysql_sidecar");
        sub.register("instance_up", "1 when the local server answers", self.up.clone());
        sub.register(
            "ready",
            "1 when the instance passes its readiness rule",
            self.ready.clone(),
        );
        sub.register(
            "writable",
            "1 when the local server accepts writes",
            self.writable.clone(),
        );
        sub.register(
            "replication_io_running",
            "1 when the replication IO thread runs",
            self.io_running.clone(),
        );
        sub.register(
            "replication_sql_running",
            "1 when the replication SQL thread runs",
            self.sql_running.clone(),
        );
        sub.register(
            "replication_lag_seconds",
            "Heartbeat lag behind the primary, measured on the primary's clock; NaN when unknown",
            self.lag.clone(),
        );
        sub.register(
            "heartbeat_stale",
            "1 when the primary's heartbeat stopped advancing (lag unknown)",
            self.heartbeat_stale.clone(),
        );
        sub.register(
            "heartbeat_writes",
            "Heartbeats written on the primary",
            self.heartbeats.clone(),
        );
        sub.register(
            "heartbeat_write_errors",
            "Heartbeat writes that failed",
            self.heartbeat_errors.clone(),
        );
        sub.register("probes", "Tunnel probes served, by result", self.probes.clone());
    }

    /// Records a snapshot.
    pub fn record(&self, labels: &InstanceLabels, snapshot: &Snapshot, ready: bool) {
        let flag = |value: Option<bool>| i64::from(value == Some(true));
        self.up.get_or_create(labels).set(i64::from(snapshot.server_up));
        self.ready.get_or_create(labels).set(i64::from(ready));
        self.writable.get_or_create(labels).set(flag(snapshot.writable));
        self.io_running
            .get_or_create(labels)
            .set(flag(snapshot.io_running));
        self.sql_running
            .get_or_create(labels)
            .set(flag(snapshot.sql_running));
        let (lag, stale) = match snapshot.lag {
            Some(Lag::Measured { lag, .. }) => (lag.as_secs_f64(), 0),
            Some(Lag::Stale { .. }) => (f64::NAN, 1),
            Some(Lag::NoHeartbeat) | None => (f64::NAN, 0),
        };
        self.lag.get_or_create(labels).set(lag);
        self.heartbeat_stale.get_or_create(labels).set(stale);
    }
}
