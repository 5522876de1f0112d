//! Is the primary lost? The agreement rule over the vantage points' verdicts.
//!
//! - Any vantage point that sees the primary **alive** vetoes: the primary is
//!   not lost, whatever the others say. This is what keeps a controller that is
//!   cut off from the primary (while a replica still replicates from it) from
//!   promoting a second writer.
//! - Otherwise a failing vantage point is **convinced** when its verdict is
//!   hard, or when it has been failing since at least `detectionSeconds` ago
//!   (per [`Memory`]) and its newest failing reading is at least that late: a
//!   single old reading proves no persistence.
//! - The primary is **failed** once at least two vantage points are convinced.
//!   Two hard verdicts therefore act at once; a WAN blip, which only produces
//!   soft evidence, must outlast the detection window on two paths.

use chrono::{DateTime, Utc};

use super::evidence::{Strength, VantagePoint, Verdict, View, views};
use super::memory::Memory;
use super::observations::Observations;
use super::spec::{DecisionSpec, later};

/// How many independent vantage points must agree before the primary is
/// declared failed.
pub const REQUIRED_AGREEMENT: usize = 2;

/// The primary's health, as the decision sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrimaryHealth {
    /// No current reading from anywhere.
    Unobserved,
    /// Seen alive, and no vantage point sees it failing.
    Healthy {
        /// Who sees it alive, with their readings.
        seen_by: Vec<String>,
    },
    /// Seen alive from somewhere and failing from elsewhere: a partition
    /// between some vantage point and the primary, not a lost primary.
    Disputed {
        /// Who sees it alive.
        alive: Vec<String>,
        /// Who sees it failing.
        failing: Vec<String>,
    },
    /// Failing, not yet agreed on or not yet persisted.
    Suspected {
        /// Who sees it failing.
        failing: Vec<String>,
        /// When the primary will be declared failed if the evidence goes on as
        /// it is; `None` while fewer than two vantage points see it failing.
        declared_at: Option<DateTime<Utc>>,
    },
    /// Declared failed.
    Failed {
        /// The convinced vantage points, with their readings.
        convinced: Vec<String>,
        /// Whether at least two of them saw hard evidence.
        hard: bool,
    },
}

impl PrimaryHealth {
    /// Whether the primary is declared failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }

    /// One sentence for conditions and Events.
    pub fn describe(&self) -> String {
        match self {
            Self::Unobserved => "no current reading of the primary from any vantage point".to_owned(),
            Self::Healthy { seen_by } => format!("the primary is alive: {}", seen_by.join("; ")),
            Self::Disputed { alive, failing } => format!(
                "the primary is alive according to {} while {} cannot reach it: a partition, not a failure",
                alive.join("; "),
                failing.join("; ")
            ),
            Self::Suspected { failing, declared_at } => match declared_at {
                Some(at) => format!(
                    "the primary is suspected lost by {}; it is declared failed if this persists until {}",
                    failing.join("; "),
                    at.to_rfc3339()
                ),
                None => format!(
                    "the primary is suspected lost by {} only; a second independent vantage point must agree",
                    failing.join("; ")
                ),
            },
            Self::Failed { convinced, hard } => format!(
                "the primary is lost ({} evidence from {} independent vantage points: {})",
                if *hard { "hard" } else { "persistent" },
                convinced.len(),
                convinced.join("; ")
            ),
        }
    }
}

/// The primary's health from the observations and the memory at `now`.
/// `memory` should already include these observations (see
/// [`remember`](super::remember)); a vantage point it has no suspicion for
/// counts as suspecting since `now`.
pub fn assess(
    observations: &Observations,
    spec: &DecisionSpec,
    memory: &Memory,
    now: DateTime<Utc>,
) -> PrimaryHealth {
    let views = views(observations, spec, now);
    let alive: Vec<String> = views
        .iter()
        .filter(|view| view.verdict == Verdict::Alive)
        .map(View::describe)
        .collect();
    let failing: Vec<&View> = views.iter().filter(|view| view.is_failing()).collect();
    let described = |list: &[&View]| list.iter().map(|view| view.describe()).collect::<Vec<_>>();
    if !alive.is_empty() {
        return if failing.is_empty() {
            PrimaryHealth::Healthy { seen_by: alive }
        } else {
            PrimaryHealth::Disputed {
                alive,
                failing: described(&failing),
            }
        };
    }
    // A primary never read (no GTIDs, no heartbeat remembered) is still
    // being provisioned: refusals while it boots are not a loss.
    let never_seen = memory.primary_gtids.is_none() && memory.newest_heartbeat.is_none();
    if failing.is_empty() || never_seen {
        return PrimaryHealth::Unobserved;
    }
    let mut ready: Vec<(Readiness, &View)> = failing
        .iter()
        .map(|view| (readiness(view, spec, memory, now), *view))
        .collect();
    ready.sort_by(|left, right| {
        left.0
            .at
            .cmp(&right.0.at)
            .then_with(|| left.1.vantage.cmp(&right.1.vantage))
    });
    let convinced: Vec<&View> = ready
        .iter()
        .filter(|(readiness, _)| readiness.convinced)
        .map(|(_, view)| *view)
        .collect();
    if convinced.len() >= REQUIRED_AGREEMENT {
        let hard = convinced
            .iter()
            .filter(|view| view.verdict == Verdict::Failing(Strength::Hard))
            .count()
            >= REQUIRED_AGREEMENT;
        return PrimaryHealth::Failed {
            convinced: described(&convinced),
            hard,
        };
    }
    PrimaryHealth::Suspected {
        failing: described(&failing),
        declared_at: ready
            .get(REQUIRED_AGREEMENT - 1)
            .map(|(readiness, _)| readiness.at),
    }
}

/// Whether a failing vantage point is convinced, and since (or from) when.
struct Readiness {
    convinced: bool,
    at: DateTime<Utc>,
}

/// Hard evidence convinces at once. Soft evidence convinces `detection` after
/// the suspicion began, and only once a failing reading at least that late
/// shows it still holds; until then `at` is the earliest it could.
fn readiness(view: &View, spec: &DecisionSpec, memory: &Memory, now: DateTime<Utc>) -> Readiness {
    if view.verdict == Verdict::Failing(Strength::Hard) {
        return Readiness {
            convinced: true,
            at: now,
        };
    }
    let since = memory.suspected_since(&view.vantage).unwrap_or(now).min(now);
    let persisted_until = later(since, spec.detection);
    let newest_failing = view.failing_span().map_or(since, |(_, newest)| newest.min(now));
    if newest_failing >= persisted_until {
        Readiness {
            convinced: true,
            at: persisted_until,
        }
    } else {
        Readiness {
            convinced: false,
            at: persisted_until.max(now),
        }
    }
}

/// Every vantage point that currently sees the primary alive.
pub fn seen_alive_by(
    observations: &Observations,
    spec: &DecisionSpec,
    now: DateTime<Utc>,
) -> Vec<VantagePoint> {
    views(observations, spec, now)
        .into_iter()
        .filter(|view| view.verdict == Verdict::Alive)
        .map(|view| view.vantage)
        .collect()
}
