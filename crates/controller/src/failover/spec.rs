//! The knobs and records the decision reads, taken from the DRMySQL once.
//!
//! The decision never looks at the whole custom resource: [`DecisionSpec`]
//! extracts the failover policy, the replication mode, the time windows and the
//! instances' spec order (the deterministic tie-break), and [`Transitions`]
//! borrows the status's transition in progress and its history. Tests build
//! both directly.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use drmysql_api::drmysql::{
    DRMySQL, DRMySQLSpec, FailbackPolicy, FailoverPolicy, FailoverProgress, FailoverRecord, ReplicationMode,
    TransitionKind, TransitionOutcome, instance_name,
};
use drmysql_mysql::HeartbeatConfig;
use kube::ResourceExt;

/// Annotation on a DRMySQL that asks for a planned switchover: its value names
/// the instance to promote, or is empty to let drmysql choose.
pub const SWITCHOVER_TO_ANNOTATION: &str = "drmysql.io/switchover-to";

/// Shortest time a reading counts as current, whatever the heartbeat interval.
pub const MIN_EVIDENCE_TTL: Duration = Duration::from_secs(5);

/// What the decision needs from the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionSpec {
    /// The DRMySQL's name, for the commands reasons suggest.
    pub name: String,
    /// `spec.failover.policy`.
    pub policy: FailoverPolicy,
    /// `spec.replication.mode`.
    pub mode: ReplicationMode,
    /// `spec.failover.detectionSeconds`: how long soft evidence must persist.
    pub detection: Duration,
    /// `spec.failover.cooldownSeconds`: minimum time after a successful failover
    /// before the next automatic one.
    pub cooldown: Duration,
    /// `spec.replication.maxLagForFailoverSeconds`: Async mode's RPO guard, and
    /// the most a switchover candidate may be behind.
    pub max_lag_for_failover: Duration,
    /// A replica whose applied heartbeat advanced within this time still sees
    /// the primary alive (three heartbeat intervals plus a second, as the lag
    /// measurement's staleness rule).
    pub heartbeat_fresh_within: Duration,
    /// Readings older than this are ignored: the vantage point is silent.
    /// Default: twice `heartbeat_fresh_within`, at least [`MIN_EVIDENCE_TTL`].
    pub evidence_ttl: Duration,
    /// Instance names in spec order (`spec.primary`, then `spec.replicas`):
    /// among equally advanced candidates, the earliest wins.
    pub instance_order: Vec<String>,
    /// `spec.failover.failback`: whether the primary returns to
    /// `spec.primary` (the first of `instance_order`) by itself.
    pub failback: FailbackPolicy,
}

impl DecisionSpec {
    /// The decision's view of `spec` for the DRMySQL named `drmysql_name`.
    pub fn new(drmysql_name: &str, spec: &DRMySQLSpec) -> Self {
        let interval = Duration::from_millis(u64::from(spec.lag.heartbeat_interval_millis));
        let heartbeat_fresh_within = HeartbeatConfig::new(interval).stale_after;
        let instance_order = std::iter::once(&spec.primary)
            .chain(&spec.replicas)
            .enumerate()
            .map(|(index, instance)| instance_name(drmysql_name, index, instance))
            .collect();
        Self {
            name: drmysql_name.to_owned(),
            policy: spec.failover.policy,
            mode: spec.replication.mode,
            detection: Duration::from_secs(u64::from(spec.failover.detection_seconds)),
            cooldown: Duration::from_secs(u64::from(spec.failover.cooldown_seconds)),
            max_lag_for_failover: Duration::from_secs(u64::from(
                spec.replication.max_lag_for_failover_seconds,
            )),
            heartbeat_fresh_within,
            evidence_ttl: (heartbeat_fresh_within * 2).max(MIN_EVIDENCE_TTL),
            instance_order,
            failback: spec.failover.failback,
        }
    }

    /// The decision's view of a DRMySQL.
    pub fn from_drmysql(drmysql: &DRMySQL) -> Self {
        Self::new(&drmysql.name_any(), &drmysql.spec)
    }

    /// The instance `spec.primary` places: where automatic failback returns.
    pub fn preferred_primary(&self) -> Option<&str> {
        self.instance_order.first().map(String::as_str)
    }

    /// Position of `instance` in spec order; unknown names sort last.
    pub fn rank(&self, instance: &str) -> usize {
        self.instance_order
            .iter()
            .position(|name| name == instance)
            .unwrap_or(usize::MAX)
    }
}

/// The status's record of primary changes: the one in progress and the
/// finished ones.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Transitions<'a> {
    /// `status.failover`: a failover or switchover being carried out.
    pub in_progress: Option<&'a FailoverProgress>,
    /// `status.history`: finished ones, newest last.
    pub history: &'a [FailoverRecord],
}

impl<'a> Transitions<'a> {
    /// Borrows the transition fields of a DRMySQL's status (none when there is
    /// no status yet).
    pub fn from_status(status: Option<&'a drmysql_api::drmysql::DRMySQLStatus>) -> Self {
        status.map_or_else(Self::default, |status| Self {
            in_progress: status.failover.as_ref(),
            history: &status.history,
        })
    }

    /// When the most recent successful failover finished: what the cooldown is
    /// measured from. Switchovers and failed or aborted failovers do not count:
    /// they left no new primary that could flap back.
    pub fn last_failover_finished(&self) -> Option<DateTime<Utc>> {
        self.history
            .iter()
            .filter(|record| {
                record.kind == TransitionKind::Failover && record.outcome == TransitionOutcome::Succeeded
            })
            .map(|record| record.finished_at)
            .max()
    }
}

impl Transitions<'_> {
    /// When the most recent transition of any kind and outcome finished: an
    /// automatic failback waits a cooldown after it, so that a failback that
    /// aborts is not retried at once.
    pub fn last_finished(&self) -> Option<DateTime<Utc>> {
        self.history.iter().map(|record| record.finished_at).max()
    }
}

/// `at + duration`, saturating at the end of representable time.
pub(crate) fn later(at: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| at.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `later - earlier`, zero when `later` is not later.
pub(crate) fn elapsed(earlier: DateTime<Utc>, later: DateTime<Utc>) -> Duration {
    (later - earlier).to_std().unwrap_or(Duration::ZERO)
}

/// Seconds with one decimal, for reasons people read.
pub(crate) fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}
