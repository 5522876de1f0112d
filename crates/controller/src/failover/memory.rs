//! What the decision must remember between reconciles.
//!
//! Soft evidence counts only once it has persisted `detectionSeconds`, so the
//! decision must know since when each vantage point has suspected the primary.
//! The errant check and the lag guard run after the primary is gone, so the
//! primary's last known GTIDs and newest heartbeat must outlive it. A person's
//! failover approval may arrive before detection completes. That is all: the
//! memory is small and serialisable so that it can live in the DRMySQL status
//! and survive a controller restart. The cooldown is measured from
//! `status.history`, which is kept anyway.
//!
//! [`remember`] is pure and idempotent: the same observations at the same time
//! leave the memory unchanged.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::evidence::{VantagePoint, Verdict, views};
use super::gtids::{GtidFlavor, GtidOrigin};
use super::observations::{Observations, Request};
use super::spec::{DecisionSpec, elapsed};

/// State carried from one reconcile to the next.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// The primary this memory is about. A different primary starts afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// Vantage points whose verdict has been failing on every reconcile since
    /// `since`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspicions: Vec<Suspicion>,
    /// The newest GTID set read from the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_gtids: Option<GtidSnapshot>,
    /// The newest heartbeat known to have been written by the primary, on its
    /// clock: the primary's own, or the newest any replica applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_heartbeat: Option<DateTime<Utc>>,
    /// A failover a person asked for, kept until it can act, the primary is
    /// seen alive again, or the primary changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

/// Since when one vantage point has seen the primary failing.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Suspicion {
    /// Which.
    pub vantage: VantagePoint,
    /// Time of the earliest failing reading of this uninterrupted run.
    pub since: DateTime<Utc>,
}

/// The primary's GTIDs as last read.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GtidSnapshot {
    /// Notation.
    pub flavor: GtidFlavor,
    /// `gtid_executed` (MySQL) or `gtid_binlog_state` (MariaDB).
    pub gtids: String,
    /// Origin of the primary's own transactions.
    pub origin: GtidOrigin,
    /// When it was read.
    pub observed_at: DateTime<Utc>,
}

/// A person's `kubectl drmysql failover --to X [--force]`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// The instance to promote.
    pub to: String,
    /// Whether the data-loss guards are bypassed.
    pub force: bool,
    /// When the controller first saw the request.
    pub requested_at: DateTime<Utc>,
}

impl Memory {
    /// Since when `vantage` has been failing, if it has.
    pub fn suspected_since(&self, vantage: &VantagePoint) -> Option<DateTime<Utc>> {
        self.suspicions
            .iter()
            .find(|suspicion| &suspicion.vantage == vantage)
            .map(|suspicion| suspicion.since)
    }
}

/// The memory after this reconcile's observations at `now`.
///
/// - A vantage point whose verdict is failing keeps its `since` (or starts one
///   at its earliest current failing reading); any other verdict, silence
///   included, ends its suspicion: persistence means persisting in every look.
/// - The primary's GTIDs and heartbeat keep the newest reading.
/// - A failover request becomes the approval; the approval is dropped as soon as
///   any vantage point sees the primary alive.
pub fn remember(
    memory: &Memory,
    observations: &Observations,
    spec: &DecisionSpec,
    now: DateTime<Utc>,
) -> Memory {
    let mut next = if memory.primary.as_deref() == Some(observations.primary.as_str()) {
        memory.clone()
    } else {
        Memory {
            primary: Some(observations.primary.clone()),
            ..Memory::default()
        }
    };
    let views = views(observations, spec, now);
    next.suspicions = views
        .iter()
        .filter(|view| view.is_failing())
        .filter_map(|view| {
            let (earliest, _) = view.failing_span()?;
            let since = next
                .suspected_since(&view.vantage)
                .map_or(earliest, |since| since.min(earliest));
            Some(Suspicion {
                vantage: view.vantage.clone(),
                since,
            })
        })
        .collect();
    remember_primary(&mut next, observations, spec, now);
    if let Some(Request::FailOver { to, force }) = &observations.request {
        let same = next
            .approval
            .as_ref()
            .is_some_and(|approval| &approval.to == to && approval.force == *force);
        if !same {
            next.approval = Some(Approval {
                to: to.clone(),
                force: *force,
                requested_at: now,
            });
        }
    }
    if views.iter().any(|view| view.verdict == Verdict::Alive) {
        next.approval = None;
    }
    next
}

fn remember_primary(next: &mut Memory, observations: &Observations, spec: &DecisionSpec, now: DateTime<Utc>) {
    if let Some(server) = &observations.primary_server
        && elapsed(server.at, now) <= spec.evidence_ttl
        && next
            .primary_gtids
            .as_ref()
            .is_none_or(|known| known.observed_at <= server.at)
    {
        next.primary_gtids = Some(GtidSnapshot {
            flavor: observations.flavor,
            gtids: server.value.gtids.clone(),
            origin: server.value.origin.clone(),
            observed_at: server.at,
        });
    }
    let heartbeats = observations
        .primary_server
        .iter()
        .filter_map(|server| server.value.newest_heartbeat)
        .chain(
            observations
                .replicas
                .iter()
                .filter_map(|replica| replica.server.as_ref()?.value.newest_heartbeat),
        );
    next.newest_heartbeat = next.newest_heartbeat.into_iter().chain(heartbeats).max();
}
