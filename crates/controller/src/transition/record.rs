//! The transition's record in the status: started, advanced step by step,
//! finished into `status.history`. Pure, so the bookkeeping (durations, the
//! lost-transaction estimate, the history's bound) is unit-tested apart from
//! the steps that touch servers.
//!
//! The record is written before each step is carried out, so a controller
//! restarted at any point repeats the recorded step (every step is
//! idempotent) and goes on.

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::{
    FailoverProgress, FailoverRecord, HISTORY_LIMIT, TransitionKind, TransitionOutcome, TransitionStep,
};

use crate::failover::GtidFlavor;
use crate::failover::gtids::Holdings;

/// What a new transition starts from.
#[derive(Clone, Debug, PartialEq)]
pub struct Start {
    /// Failover or switchover.
    pub kind: TransitionKind,
    /// The primary being replaced.
    pub from: String,
    /// The instance to promote.
    pub target: String,
    /// Why (the decision's reason).
    pub reason: String,
    /// Whether the data-loss guards were bypassed.
    pub forced: bool,
    /// The old primary's last known GTIDs (the decision's memory).
    pub old_primary_gtids: Option<String>,
    /// The target's last measured lag in seconds.
    pub target_lag_seconds: Option<f64>,
}

/// The progress record of a transition starting at `now`.
pub fn start(start: Start, now: DateTime<Utc>) -> FailoverProgress {
    FailoverProgress {
        kind: start.kind,
        from: start.from,
        target: start.target,
        step: TransitionStep::FenceOldPrimary,
        started_at: now,
        reason: start.reason,
        forced: start.forced,
        fenced_at: None,
        promoted_at: None,
        old_primary_gtids: start.old_primary_gtids.filter(|gtids| !gtids.is_empty()),
        promoted_gtids: None,
        lag_at_start_seconds: start.target_lag_seconds,
    }
}

/// The steps in the order they run; the old primary's rejoin is left to
/// wiring once the transition is finished, so it is not among them.
pub const ORDER: [TransitionStep; 6] = [
    TransitionStep::FenceOldPrimary,
    TransitionStep::CatchUp,
    TransitionStep::VerifyCandidate,
    TransitionStep::Promote,
    TransitionStep::MoveWriterEndpoint,
    TransitionStep::RepointReplicas,
];

/// Whether `step` comes at or after `mark` in [`ORDER`].
pub fn reached(step: TransitionStep, mark: TransitionStep) -> bool {
    let position = |step| {
        ORDER
            .iter()
            .position(|candidate| *candidate == step)
            .unwrap_or(ORDER.len())
    };
    position(step) >= position(mark)
}

/// GTIDs the old primary had that the promoted server lacks: an Async
/// failover's loss. `None` when either set is unknown or unreadable.
pub fn lost_gtids(flavor: GtidFlavor, old_primary: Option<&str>, promoted: Option<&str>) -> Option<String> {
    let old = Holdings::parse(flavor, &[old_primary?]).ok()?;
    let new = Holdings::parse(flavor, &[promoted?]).ok()?;
    Some(new.lacking(&old))
}

/// The history record of a transition that ended at `now`.
pub fn finish(
    progress: &FailoverProgress,
    outcome: TransitionOutcome,
    message: Option<String>,
    lost: Option<String>,
    now: DateTime<Utc>,
) -> FailoverRecord {
    let duration = (now - progress.started_at).to_std().unwrap_or_default();
    let succeeded = outcome == TransitionOutcome::Succeeded;
    FailoverRecord {
        kind: progress.kind,
        from: progress.from.clone(),
        to: progress.target.clone(),
        reason: progress.reason.clone(),
        started_at: progress.started_at,
        finished_at: now,
        outcome,
        message,
        lost_gtids: lost.filter(|lost| succeeded && !lost.is_empty()),
        forced: progress.forced,
        duration_seconds: Some(duration.as_secs_f64()),
        promoted_gtids: progress.promoted_gtids.clone().filter(|_| succeeded),
        rpo_seconds: match (succeeded, progress.kind) {
            (false, _) => None,
            (true, TransitionKind::Switchover) => Some(0.0),
            (true, TransitionKind::Failover) => progress.lag_at_start_seconds,
        },
    }
}

/// `history` with `record` appended, keeping the newest [`HISTORY_LIMIT`].
pub fn append(history: &[FailoverRecord], record: FailoverRecord) -> Vec<FailoverRecord> {
    let mut next: Vec<FailoverRecord> = history.to_vec();
    next.push(record);
    let excess = next.len().saturating_sub(HISTORY_LIMIT);
    next.drain(..excess);
    next
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(second: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + second, 0)
            .single()
            .expect("time")
    }

    fn started(kind: TransitionKind) -> FailoverProgress {
        start(
            Start {
                kind,
                from: "db-0".into(),
                target: "db-1".into(),
                reason: "primary failed".into(),
                forced: false,
                old_primary_gtids: Some(String::new()),
                target_lag_seconds: Some(0.4),
            },
            at(0),
        )
    }

    #[test]
    fn a_transition_starts_at_fencing_with_empty_positions_dropped() {
        let progress = started(TransitionKind::Failover);
        assert_eq!(progress.step, TransitionStep::FenceOldPrimary);
        assert_eq!(progress.old_primary_gtids, None);
        assert_eq!(progress.lag_at_start_seconds, Some(0.4));
    }

    #[test]
    fn steps_are_ordered() {
        assert!(reached(TransitionStep::Promote, TransitionStep::CatchUp));
        assert!(reached(TransitionStep::Promote, TransitionStep::Promote));
        assert!(!reached(TransitionStep::VerifyCandidate, TransitionStep::Promote));
    }

    #[test]
    fn a_finished_failover_records_duration_position_and_rpo() {
        let mut progress = started(TransitionKind::Failover);
        progress.promoted_gtids = Some("0-2-10".into());
        let record = finish(
            &progress,
            TransitionOutcome::Succeeded,
            None,
            Some("0-1-9".into()),
            at(3),
        );
        assert_eq!(record.duration_seconds, Some(3.0));
        assert_eq!(record.promoted_gtids.as_deref(), Some("0-2-10"));
        assert_eq!(record.rpo_seconds, Some(0.4));
        assert_eq!(record.lost_gtids.as_deref(), Some("0-1-9"));
        let aborted = finish(
            &progress,
            TransitionOutcome::Aborted,
            Some("refused".into()),
            Some("0-1-9".into()),
            at(3),
        );
        assert_eq!(aborted.promoted_gtids, None);
        assert_eq!(aborted.rpo_seconds, None);
        assert_eq!(aborted.lost_gtids, None);
        let switchover = finish(
            &started(TransitionKind::Switchover),
            TransitionOutcome::Succeeded,
            None,
            Some(String::new()),
            at(1),
        );
        assert_eq!(switchover.rpo_seconds, Some(0.0));
        assert_eq!(switchover.lost_gtids, None);
    }

    #[test]
    fn lost_gtids_are_what_the_old_primary_had_beyond_the_promoted_one() {
        assert_eq!(
            lost_gtids(GtidFlavor::MariaDb, Some("0-1-12"), Some("0-1-10,0-2-3")).as_deref(),
            Some("0-1-12")
        );
        assert_eq!(
            lost_gtids(GtidFlavor::MariaDb, Some("0-1-10"), Some("0-1-10")).as_deref(),
            Some("")
        );
        assert_eq!(lost_gtids(GtidFlavor::MariaDb, None, Some("0-1-10")), None);
        assert_eq!(
            lost_gtids(GtidFlavor::MariaDb, Some("garbage"), Some("0-1-10")),
            None
        );
    }

    #[test]
    fn the_history_keeps_the_newest_sixteen() {
        let progress = started(TransitionKind::Switchover);
        let mut history = Vec::new();
        for second in 0..20 {
            history = append(
                &history,
                finish(&progress, TransitionOutcome::Succeeded, None, None, at(second)),
            );
        }
        assert_eq!(history.len(), HISTORY_LIMIT);
        assert_eq!(history.first().map(|record| record.finished_at), Some(at(4)));
        assert_eq!(history.last().map(|record| record.finished_at), Some(at(19)));
    }
}
