//! What the agent reports in `NodeConfig.status` after each sync: when it last
//! compared the kernel with the spec, when the applied state last changed, how
//! many entries are in place and which failed, and why.

use chrono::{DateTime, Utc};
use drmysql_api::clusterlink::{EntryError, NodeConfigStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The outcome of one sync, as the status needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Entries in place after the sync.
    pub applied: usize,
    /// Entries created or deleted by the sync.
    pub changes: usize,
    /// Entries that could not be applied.
    pub errors: Vec<EntryError>,
}

/// The status after a sync of `generation` at `now`.
pub fn status_after(
    previous: Option<&NodeConfigStatus>,
    outcome: &SyncOutcome,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> NodeConfigStatus {
    let now_time = Time(to_timestamp(now));
    let errors_changed = previous.is_none_or(|previous| previous.errors != outcome.errors);
    let last_change_time = if outcome.changes > 0 || errors_changed {
        Some(now_time.clone())
    } else {
        previous.and_then(|previous| previous.last_change_time.clone())
    };
    NodeConfigStatus {
        last_change_time,
        last_sync_time: Some(now_time),
        observed_generation: generation,
        applied: Some(saturating_i32(outcome.applied)),
        failed: Some(saturating_i32(outcome.errors.len())),
        errors: outcome.errors.clone(),
    }
}

/// Errors of `outcome` that `previous` did not list: the ones worth an Event.
pub fn new_errors<'a>(previous: Option<&NodeConfigStatus>, outcome: &'a SyncOutcome) -> Vec<&'a EntryError> {
    outcome
        .errors
        .iter()
        .filter(|error| previous.is_none_or(|previous| !previous.errors.contains(error)))
        .collect()
}

fn saturating_i32(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn to_timestamp(now: DateTime<Utc>) -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::new(now.timestamp(), 0).unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drmysql_api::clusterlink::EntryKind;

    fn error(entry: &str) -> EntryError {
        EntryError {
            kind: EntryKind::Route,
            entry: entry.to_owned(),
            message: "invalid CIDR".to_owned(),
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).expect("valid time")
    }

    #[test]
    fn a_first_sync_records_counts_times_and_errors() {
        let outcome = SyncOutcome {
            applied: 12,
            changes: 12,
            errors: vec![error("10.0.0.0/33 via 220.0.0.2 dev vx-bridge")],
        };
        let status = status_after(None, &outcome, Some(3), at(1_000));
        assert_eq!(status.applied, Some(12));
        assert_eq!(status.failed, Some(1));
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(status.last_sync_time, status.last_change_time);
        assert_eq!(status.errors, outcome.errors);
    }

    #[test]
    fn a_quiet_resync_moves_only_the_sync_time() {
        let outcome = SyncOutcome {
            applied: 12,
            changes: 0,
            errors: vec![error("a")],
        };
        let first = status_after(None, &outcome, Some(3), at(1_000));
        let second = status_after(Some(&first), &outcome, Some(3), at(1_030));
        assert_eq!(second.last_change_time, first.last_change_time);
        assert_ne!(second.last_sync_time, first.last_sync_time);
        assert!(
            new_errors(Some(&first), &outcome).is_empty(),
            "no repeated Events"
        );
    }

    #[test]
    fn a_drift_repair_or_a_new_error_is_a_change() {
        let quiet = SyncOutcome {
            applied: 12,
            changes: 0,
            errors: vec![],
        };
        let first = status_after(None, &quiet, Some(3), at(1_000));
        let repaired = SyncOutcome {
            changes: 2,
            ..quiet.clone()
        };
        assert_eq!(
            status_after(Some(&first), &repaired, Some(3), at(1_030)).last_change_time,
            Some(Time(k8s_openapi::jiff::Timestamp::new(1_030, 0).expect("time")))
        );
        let failing = SyncOutcome {
            errors: vec![error("b")],
            ..quiet
        };
        assert_eq!(new_errors(Some(&first), &failing).len(), 1);
        assert_eq!(
            status_after(Some(&first), &failing, Some(3), at(1_060)).last_change_time,
            Some(Time(k8s_openapi::jiff::Timestamp::new(1_060, 0).expect("time")))
        );
    }
}
