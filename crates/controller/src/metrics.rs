//! The controller's Prometheus metrics (`drmysql_` prefix): the health of every
//! DRMySQL it reconciles, for the replication-lag alerts, and its own reconcile
//! counters. `docs/metrics.md` lists them with their labels and meaning.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use drmysql_api::drmysql::{DRMySQLStatus, InstanceRole, InstanceStatus, ThreadState};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels naming one instance of one DRMySQL.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InstanceLabels {
    /// Namespace.
    pub namespace: String,
    /// DRMySQL name.
    pub name: String,
    /// Instance name.
    pub instance: String,
}

/// Labels naming one DRMySQL.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    /// Namespace.
    pub namespace: String,
    /// DRMySQL name.
    pub name: String,
}

/// Labels of one directed tunnel check.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TunnelLabels {
    /// Namespace.
    pub namespace: String,
    /// DRMySQL name.
    pub name: String,
    /// Instance whose sidecar probed.
    pub from: String,
    /// Instance probed.
    pub to: String,
}

/// Labels of one failover decision kind of one DRMySQL.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// Namespace.
    pub namespace: String,
    /// DRMySQL name.
    pub name: String,
    /// The decision's kind (`NoAction`, `Wait`, `AwaitApproval`, ...).
    pub decision: String,
}

/// Labels of finished failovers and switchovers.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    /// Namespace.
    pub namespace: String,
    /// DRMySQL name.
    pub name: String,
    /// `failover` or `switchover`.
    pub kind: String,
    /// `succeeded`, `failed` or `aborted`.
    pub result: String,
}

/// Labels of the transition duration histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `failover` or `switchover`.
    pub kind: String,
}

/// Labels of reconcile failures.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The error's category.
    pub error: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every controller metric.
pub struct ControllerMetrics {
    lag: Family<InstanceLabels, FloatGauge>,
    lag_threshold: Family<ClusterLabels, FloatGauge>,
    io_running: Family<InstanceLabels, Gauge>,
    sql_running: Family<InstanceLabels, Gauge>,
    heartbeat_age: Family<ClusterLabels, FloatGauge>,
    tunnel_reachable: Family<TunnelLabels, Gauge>,
    tunnel_rtt: Family<TunnelLabels, FloatGauge>,
    instance_up: Family<InstanceLabels, Gauge>,
    errant: Family<InstanceLabels, Gauge>,
    ready_replicas: Family<ClusterLabels, Gauge>,
    primary_writable: Family<ClusterLabels, Gauge>,
    primary_failed: Family<ClusterLabels, Gauge>,
    failover_decision: Family<DecisionLabels, Gauge>,
    /// Finished failovers and switchovers, by result.
    pub failovers: Family<TransitionLabels, Counter>,
    /// Duration of successful failovers and switchovers, from start to the
    /// new primary serving, in seconds.
    pub failover_duration: Family<KindLabels, Histogram>,
    /// Reconciles run.
    pub reconciles: Counter,
    /// Reconciles that failed, by error category.
    pub failures: Family<ErrorLabels, Counter>,
    /// Reconcile duration in seconds.
    pub duration: Histogram,
    /// 1 while this replica holds the leader Lease (or runs without election).
    pub leader: Gauge,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        Self {
            lag: Family::default(),
            lag_threshold: Family::default(),
            io_running: Family::default(),
            sql_running: Family::default(),
            heartbeat_age: Family::default(),
            tunnel_reachable: Family::default(),
            tunnel_rtt: Family::default(),
            instance_up: Family::default(),
            errant: Family::default(),
            ready_replicas: Family::default(),
            primary_writable: Family::default(),
            primary_failed: Family::default(),
            failover_decision: Family::default(),
            failovers: Family::default(),
            failover_duration: Family::new_with_constructor(|| {
                Histogram::new([0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0])
            }),
            reconciles: Counter::default(),
            failures: Family::default(),
            duration: Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            leader: Gauge::default(),
        }
    }
}

impl ControllerMetrics {
    /// Registers every metric under the `drmysql` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let sub = registry.sub_registry_with_prefix("drmysql");
        sub.register(
            "replication_lag_seconds",
            "Heartbeat lag of a replica behind the primary, measured on the primary's clock; NaN when unknown",
            self.lag.clone(),
        );
        sub.register(
            "replication_lag_threshold_seconds",
            "spec.lag.alertThresholdSeconds of the DRMySQL, for per-object alert thresholds",
            self.lag_threshold.clone(),
        );
        sub.register(
            "replication_io_running",
            "1 when a replica's IO thread runs",
            self.io_running.clone(),
        );
        sub.register(
            "replication_sql_running",
            "1 when a replica's SQL thread runs",
            self.sql_running.clone(),
        );
        sub.register(
            "heartbeat_age_seconds",
            "Age of the primary's newest heartbeat on its own clock; grows when the writer stops",
            self.heartbeat_age.clone(),
        );
        sub.register(
            "tunnel_reachable",
            "1 when a directed pod-to-pod check succeeded",
            self.tunnel_reachable.clone(),
        );
        sub.register(
            "tunnel_rtt_seconds",
            "Round trip of the last pod-to-pod MySQL handshake",
            self.tunnel_rtt.clone(),
        );
        sub.register(
            "instance_up",
            "1 when the controller could read the instance's server",
            self.instance_up.clone(),
        );
        sub.register(
            "errant_transactions",
            "1 when the instance holds transactions the primary never had",
            self.errant.clone(),
        );
        sub.register(
            "ready_replicas",
            "Replicas replicating (both threads running) with a known lag at most the alert threshold",
            self.ready_replicas.clone(),
        );
        sub.register(
            "primary_writable",
            "1 when the current primary accepts writes",
            self.primary_writable.clone(),
        );
        sub.register(
            "primary_failed",
            "1 when the failover decision declares the primary failed",
            self.primary_failed.clone(),
        );
        sub.register(
            "failover_decision",
            "1 for the failover decision of the last reconcile, 0 for every other kind",
            self.failover_decision.clone(),
        );
        sub.register(
            "failovers",
            "Finished failovers and switchovers, by kind and result",
            self.failovers.clone(),
        );
        sub.register(
            "failover_duration_seconds",
            "Duration of successful failovers and switchovers, from start to the new primary serving",
            self.failover_duration.clone(),
        );
        sub.register("reconciles", "Reconciles run", self.reconciles.clone());
        sub.register(
            "reconcile_failures",
            "Reconciles that failed, by error category",
            self.failures.clone(),
        );
        sub.register(
            "reconcile_duration_seconds",
            "Duration of a reconcile",
            self.duration.clone(),
        );
        sub.register(
            "controller_leader",
            "1 while this controller replica holds the leader Lease and reconciles",
            self.leader.clone(),
        );
    }

    /// Records what a reconcile computed for one DRMySQL.
    pub fn record(
        &self,
        namespace: &str,
        name: &str,
        status: &DRMySQLStatus,
        threshold_seconds: f64,
        heartbeat_age: Option<Duration>,
    ) {
        let cluster = ClusterLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        self.lag_threshold.get_or_create(&cluster).set(threshold_seconds);
        self.heartbeat_age
            .get_or_create(&cluster)
            .set(heartbeat_age.map_or(f64::NAN, |age| age.as_secs_f64()));
        let mut writable = false;
        let mut ready_replicas = 0;
        for instance in &status.instances {
            let labels = InstanceLabels {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                instance: instance.name.clone(),
            };
            self.instance_up
                .get_or_create(&labels)
                .set(i64::from(instance.version.is_some()));
            self.errant.get_or_create(&labels).set(i64::from(
                instance
                    .errant_gtids
                    .as_deref()
                    .is_some_and(|gtids| !gtids.is_empty()),
            ));
            if instance.role == Some(InstanceRole::Primary) {
                writable = instance.read_only == Some(false);
                continue;
            }
            self.lag
                .get_or_create(&labels)
                .set(instance.lag_seconds.unwrap_or(f64::NAN));
            self.io_running
                .get_or_create(&labels)
                .set(i64::from(instance.io_thread == Some(ThreadState::Running)));
            self.sql_running
                .get_or_create(&labels)
                .set(i64::from(instance.sql_thread == Some(ThreadState::Running)));
            if is_healthy_replica(instance, threshold_seconds) {
                ready_replicas += 1;
            }
        }
        self.ready_replicas.get_or_create(&cluster).set(ready_replicas);
        self.primary_writable
            .get_or_create(&cluster)
            .set(i64::from(writable));
        for check in &status.tunnel {
            let labels = TunnelLabels {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                from: check.from.clone(),
                to: check.to.clone(),
            };
            self.tunnel_reachable
                .get_or_create(&labels)
                .set(i64::from(check.reachable));
            self.tunnel_rtt
                .get_or_create(&labels)
                .set(check.rtt_ms.map_or(f64::NAN, |rtt| rtt / 1000.0));
        }
    }

    /// Records one reconcile's failover decision.
    pub fn record_failover(&self, namespace: &str, name: &str, decision: &str, primary_failed: bool) {
        let cluster = ClusterLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        self.primary_failed
            .get_or_create(&cluster)
            .set(i64::from(primary_failed));
        for kind in crate::failover::report::DECISION_KINDS {
            self.failover_decision
                .get_or_create(&DecisionLabels {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    decision: kind.to_owned(),
                })
                .set(i64::from(kind == decision));
        }
    }

    /// Forgets every series of a deleted DRMySQL.
    pub fn forget(&self, namespace: &str, name: &str, status: &DRMySQLStatus) {
        let cluster = ClusterLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        self.lag_threshold.remove(&cluster);
        self.heartbeat_age.remove(&cluster);
        self.primary_writable.remove(&cluster);
        self.ready_replicas.remove(&cluster);
        self.primary_failed.remove(&cluster);
        for kind in ["failover", "switchover"] {
            for result in ["succeeded", "failed", "aborted"] {
                self.failovers.remove(&TransitionLabels {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    kind: kind.to_owned(),
                    result: result.to_owned(),
                });
            }
        }
        for kind in crate::failover::report::DECISION_KINDS {
            self.failover_decision.remove(&DecisionLabels {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                decision: kind.to_owned(),
            });
        }
        for instance in &status.instances {
            let labels = InstanceLabels {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                instance: instance.name.clone(),
            };
            self.instance_up.remove(&labels);
            self.errant.remove(&labels);
            self.lag.remove(&labels);
            self.io_running.remove(&labels);
            self.sql_running.remove(&labels);
        }
        for check in &status.tunnel {
            let labels = TunnelLabels {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                from: check.from.clone(),
                to: check.to.clone(),
            };
            self.tunnel_reachable.remove(&labels);
            self.tunnel_rtt.remove(&labels);
        }
    }
}

/// A replica counted by `drmysql_ready_replicas`: both threads running and a
/// known lag at most `threshold_seconds`.
fn is_healthy_replica(instance: &InstanceStatus, threshold_seconds: f64) -> bool {
    instance.role == Some(InstanceRole::Replica)
        && instance.io_thread == Some(ThreadState::Running)
        && instance.sql_thread == Some(ThreadState::Running)
        && instance.lag_seconds.is_some_and(|lag| lag <= threshold_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drmysql_api::drmysql::TunnelStatus;

    fn status() -> DRMySQLStatus {
        DRMySQLStatus {
            instances: vec![
                InstanceStatus {
                    name: "orders-0".into(),
                    role: Some(InstanceRole::Primary),
                    read_only: Some(false),
                    version: Some("10.11.19-MariaDB".into()),
                    ..InstanceStatus::default()
                },
                InstanceStatus {
                    name: "orders-1".into(),
                    role: Some(InstanceRole::Replica),
                    read_only: Some(true),
                    version: Some("10.11.19-MariaDB".into()),
                    lag_seconds: Some(0.25),
                    io_thread: Some(ThreadState::Running),
                    sql_thread: Some(ThreadState::Stopped),
                    ..InstanceStatus::default()
                },
            ],
            tunnel: vec![TunnelStatus {
                from: "orders-1".into(),
                to: "orders-0".into(),
                reachable: true,
                rtt_ms: Some(31.5),
                checked_at: chrono::Utc::now(),
                error: None,
            }],
            ..DRMySQLStatus::default()
        }
    }

    fn encode(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
        text
    }

    #[test]
    fn ready_replicas_count_running_replicas_within_the_threshold_and_errant_ones_are_flagged() {
        let metrics = ControllerMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut status = status();
        status.instances[1].sql_thread = Some(ThreadState::Running);
        let mut behind = status.instances[1].clone();
        behind.name = "orders-2".into();
        behind.lag_seconds = Some(45.0);
        let mut unknown = status.instances[1].clone();
        unknown.name = "orders-3".into();
        unknown.lag_seconds = None;
        let mut quarantined = status.instances[1].clone();
        quarantined.name = "orders-4".into();
        quarantined.role = Some(InstanceRole::Quarantined);
        quarantined.errant_gtids = Some("0-2-17".into());
        status.instances.extend([behind, unknown, quarantined]);
        metrics.record("shop", "orders", &status, 30.0, None);
        let text = encode(&registry);
        for expected in [
            r#"drmysql_ready_replicas{namespace="shop",name="orders"} 1"#,
            r#"drmysql_errant_transactions{namespace="shop",name="orders",instance="orders-4"} 1"#,
            r#"drmysql_errant_transactions{namespace="shop",name="orders",instance="orders-2"} 0"#,
        ] {
            assert!(text.contains(expected), "missing {expected} in\n{text}");
        }
    }

    #[test]
    fn a_status_becomes_labelled_series_and_a_deletion_removes_them() {
        let metrics = ControllerMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.record(
            "shop",
            "orders",
            &status(),
            30.0,
            Some(Duration::from_millis(400)),
        );
        let text = encode(&registry);
        for expected in [
            r#"drmysql_replication_lag_seconds{namespace="shop",name="orders",instance="orders-1"} 0.25"#,
            r#"drmysql_replication_lag_threshold_seconds{namespace="shop",name="orders"} 30.0"#,
            r#"drmysql_replication_io_running{namespace="shop",name="orders",instance="orders-1"} 1"#,
            r#"drmysql_replication_sql_running{namespace="shop",name="orders",instance="orders-1"} 0"#,
            r#"drmysql_heartbeat_age_seconds{namespace="shop",name="orders"} 0.4"#,
            r#"drmysql_tunnel_reachable{namespace="shop",name="orders",from="orders-1",to="orders-0"} 1"#,
            r#"drmysql_tunnel_rtt_seconds{namespace="shop",name="orders",from="orders-1",to="orders-0"} 0.0315"#,
            r#"drmysql_instance_up{namespace="shop",name="orders",instance="orders-0"} 1"#,
            r#"drmysql_primary_writable{namespace="shop",name="orders"} 1"#,
            r#"drmysql_errant_transactions{namespace="shop",name="orders",instance="orders-1"} 0"#,
            r#"drmysql_ready_replicas{namespace="shop",name="orders"} 0"#,
        ] {
            assert!(text.contains(expected), "missing {expected} in\n{text}");
        }
        assert!(!text.contains(
            r#"drmysql_replication_lag_seconds{namespace="shop",name="orders",instance="orders-0"}"#
        ));
        metrics.record_failover("shop", "orders", "AwaitApproval", true);
        let text = encode(&registry);
        for expected in [
            r#"drmysql_primary_failed{namespace="shop",name="orders"} 1"#,
            r#"drmysql_failover_decision{namespace="shop",name="orders",decision="AwaitApproval"} 1"#,
            r#"drmysql_failover_decision{namespace="shop",name="orders",decision="NoAction"} 0"#,
        ] {
            assert!(text.contains(expected), "missing {expected} in\n{text}");
        }
        metrics.forget("shop", "orders", &status());
        let text = encode(&registry);
        assert!(!text.contains("orders-1"), "{text}");
        assert!(!text.contains(r#"name="orders""#), "{text}");
    }
}
