//! The agent's Prometheus metrics (`drmysql_agent_` prefix): how long applying
//! takes, how often the kernel had drifted, and how many entries fail.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::sync::PassResult;

/// Every agent metric.
pub struct AgentMetrics {
    apply_duration: Histogram,
    entries_applied: Gauge,
    entries_failed: Gauge,
    changes: Counter,
    drift_repairs: Counter,
    pass_failures: Counter,
    last_success: Gauge<f64, AtomicU64>,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        Self {
            apply_duration: Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            entries_applied: Gauge::default(),
            entries_failed: Gauge::default(),
            changes: Counter::default(),
            drift_repairs: Counter::default(),
            pass_failures: Counter::default(),
            last_success: Gauge::default(),
        }
    }
}

impl AgentMetrics {
    /// Registers every metric under the `drmysql_agent` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let sub = registry.sub_registry_with_prefix("drmysql_agent");
        sub.register(
            "apply_duration_seconds",
            "Duration of one pass: read the kernel, diff, apply",
            self.apply_duration.clone(),
        );
        sub.register(
            "entries_applied",
            "NodeConfig entries in place after the last pass",
            self.entries_applied.clone(),
        );
        sub.register(
            "entries_failed",
            "NodeConfig entries that could not be applied in the last pass",
            self.entries_failed.clone(),
        );
        sub.register(
            "kernel_changes",
            "Kernel entries created or deleted",
            self.changes.clone(),
        );
        sub.register(
            "drift_repairs",
            "Passes that found the kernel drifted from an unchanged NodeConfig and repaired it",
            self.drift_repairs.clone(),
        );
        sub.register(
            "pass_failures",
            "Passes that failed before applying (API server unreachable, cleanup incomplete)",
            self.pass_failures.clone(),
        );
        sub.register(
            "last_success_timestamp_seconds",
            "Unix time of the last successful pass",
            self.last_success.clone(),
        );
    }

    /// Records a pass that took `seconds`.
    pub fn record(&self, result: &Result<PassResult, String>, seconds: f64, now_unix: f64) {
        self.apply_duration.observe(seconds);
        match result {
            Ok(PassResult::Applied {
                outcome,
                drift_repaired,
            }) => {
                self.entries_applied.set(gauge_value(outcome.applied));
                self.entries_failed.set(gauge_value(outcome.errors.len()));
                self.changes.inc_by(outcome.changes as u64);
                if *drift_repaired {
                    self.drift_repairs.inc();
                }
                self.last_success.set(now_unix);
            }
            Ok(PassResult::CleanedUp(removed)) => {
                self.entries_applied.set(0);
                self.entries_failed.set(0);
                self.changes.inc_by(*removed as u64);
                self.last_success.set(now_unix);
            }
            Ok(PassResult::Idle) => {
                self.last_success.set(now_unix);
            }
            Err(_) => {
                self.pass_failures.inc();
            }
        }
    }
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
