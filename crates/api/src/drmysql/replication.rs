//! How data flows from the primary to the replicas, how lag is measured, and when
//! drmysql is allowed to fail over.
//!
//! These three knobs decide the recovery point (how much may be lost) and the
//! recovery time (how long the writer is gone). Their defaults are the ones a
//! cross-cloud deployment should start from: asynchronous replication with an
//! RPO guard, one heartbeat a second, automatic failover after ten seconds of
//! agreement that the primary is gone, and manual failback.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Replication mode and its guard rails.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationSpec {
    /// `Async`: classic GTID replication; a failover may lose the transactions the
    /// replica had not received, bounded by `maxLagForFailoverSeconds`.
    /// `Lossless`: semi-synchronous replication with the AFTER_SYNC wait point and no
    /// fallback to asynchronous; a commit is acknowledged only once a replica holds it,
    /// so a failover loses nothing, and writes block while no replica acknowledges.
    #[serde(default)]
    pub mode: ReplicationMode,

    /// Async mode's RPO guard: automatic failover refuses a candidate whose last
    /// known lag exceeded this many seconds, unless the failover is forced. Ignored in
    /// Lossless mode.
    #[serde(default = "default_max_lag_for_failover_seconds")]
    #[schemars(range(min = 0, max = 86400))]
    pub max_lag_for_failover_seconds: u32,
}

impl Default for ReplicationSpec {
    fn default() -> Self {
        Self {
            mode: ReplicationMode::default(),
            max_lag_for_failover_seconds: default_max_lag_for_failover_seconds(),
        }
    }
}

fn default_max_lag_for_failover_seconds() -> u32 {
    30
}

/// Replication mode.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplicationMode {
    /// Asynchronous GTID replication.
    #[default]
    Async,
    /// Semi-synchronous replication, AFTER_SYNC, never falling back to asynchronous.
    Lossless,
}

/// Heartbeat-based lag measurement and its alert threshold.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LagSpec {
    /// How often the primary writes its heartbeat row, in milliseconds (100–10000).
    /// Lag is the primary's clock now minus the newest heartbeat the replica has
    /// applied, corrected for the query round trip, so it does not depend on the two
    /// sites' clocks agreeing.
    #[serde(default = "default_heartbeat_interval_millis")]
    #[x_kube(validation = Rule::new("self >= 100 && self <= 10000")
        .message("spec.lag.heartbeatIntervalMillis must be between 100 and 10000 milliseconds"))]
    pub heartbeat_interval_millis: u32,

    /// Lag in seconds above which the LagWithinThreshold condition turns False, an
    /// Event is emitted and the replication-lag alert fires. Must be greater than 0.
    #[serde(default = "default_alert_threshold_seconds")]
    #[x_kube(validation = Rule::new("self > 0.0")
        .message("spec.lag.alertThresholdSeconds must be greater than 0"))]
    pub alert_threshold_seconds: f64,
}

impl Default for LagSpec {
    fn default() -> Self {
        Self {
            heartbeat_interval_millis: default_heartbeat_interval_millis(),
            alert_threshold_seconds: default_alert_threshold_seconds(),
        }
    }
}

fn default_heartbeat_interval_millis() -> u32 {
    1000
}

fn default_alert_threshold_seconds() -> f64 {
    30.0
}

/// When and how drmysql fails over.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FailoverSpec {
    /// `Automatic`: drmysql promotes a replica when at least two independent vantage
    /// points agree the primary is lost. `Manual`: it only reports, and a person runs
    /// `kubectl drmysql failover`.
    #[serde(default)]
    pub policy: FailoverPolicy,

    /// How long soft evidence (timeouts, unreachability, which a WAN blip also
    /// produces) must persist before the primary is declared lost, in seconds. Hard
    /// evidence (connection refused, the server container terminated, the Pod
    /// deleted) from two vantage points acts at once.
    #[serde(default = "default_detection_seconds")]
    #[schemars(range(min = 1, max = 600))]
    pub detection_seconds: u32,

    /// Minimum time between two automatic failovers of this DRMySQL, in seconds, so
    /// that a flapping site cannot bounce the primary back and forth.
    #[serde(default = "default_cooldown_seconds")]
    #[schemars(range(min = 0, max = 86400))]
    pub cooldown_seconds: u32,

    /// What happens once the original primary's site is back and caught up.
    /// `Manual`: it stays a replica until a person switches over. `Automatic`: drmysql
    /// switches back to `spec.primary` with a planned, zero-loss switchover.
    #[serde(default)]
    pub failback: FailbackPolicy,
}

impl Default for FailoverSpec {
    fn default() -> Self {
        Self {
            policy: FailoverPolicy::default(),
            detection_seconds: default_detection_seconds(),
            cooldown_seconds: default_cooldown_seconds(),
            failback: FailbackPolicy::default(),
        }
    }
}

fn default_detection_seconds() -> u32 {
    10
}

fn default_cooldown_seconds() -> u32 {
    300
}

/// Whether a lost primary is replaced without a person.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailoverPolicy {
    /// Fail over when the evidence agrees and every safety check passes.
    #[default]
    Automatic,
    /// Never fail over on its own.
    Manual,
}

/// Whether the original primary is made primary again once it is healthy.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailbackPolicy {
    /// Leave the current primary in place.
    #[default]
    Manual,
    /// Switch back to `spec.primary` once it has caught up.
    Automatic,
}
