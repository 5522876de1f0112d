//! The decision as it is reported: computed on every reconcile and published
//! as the `PrimaryAvailable` condition, Events on its transitions, and
//! metrics. Carrying a failover or switchover out is [`crate::transition`]'s
//! business; nothing here changes a role, label or server. Pure.
//!
//! | primary's health | `PrimaryAvailable` | reason |
//! |---|---|---|
//! | seen alive (also when disputed: alive from one side, lost from another) | True | `PrimaryAlive` |
//! | failing, not yet agreed on by two vantage points or not yet persisted `detectionSeconds` | False | `PrimarySuspected` |
//! | declared failed | False | `PrimaryFailed` |
//! | no current reading from anywhere | False | `PrimaryUnobserved` |
//!
//! The message is the decision's reason. Events, on transitions of the
//! condition only (the condition is in the status, so a restarted controller
//! raises none twice): `PrimaryFailed` (Warning) when the primary is declared
//! failed, with the decision's reason; with it `FailoverRefused` (Warning)
//! when the decision refuses; `PrimaryRecovered` (Normal) when a primary that
//! was declared failed is seen alive again.

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::{FailoverMemory, FailoverPolicy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::decision::Decision;
use super::detection::{self, PrimaryHealth};
use super::memory::Memory;
use super::observations::Observations;
use super::spec::{DecisionSpec, Transitions};
use super::{persist, step};
use crate::status::EventSpec;

/// `PrimaryAvailable` reason: the primary is seen alive.
pub const REASON_ALIVE: &str = "PrimaryAlive";
/// `PrimaryAvailable` reason: failing evidence, not yet conclusive.
pub const REASON_SUSPECTED: &str = "PrimarySuspected";
/// `PrimaryAvailable` reason and Event: the primary is declared failed.
pub const REASON_FAILED: &str = "PrimaryFailed";
/// `PrimaryAvailable` reason: nothing current is known about the primary.
pub const REASON_UNOBSERVED: &str = "PrimaryUnobserved";
/// Event: the decision refuses a failover.
pub const EVENT_REFUSED: &str = "FailoverRefused";
/// Event: a primary declared failed is alive again.
pub const EVENT_RECOVERED: &str = "PrimaryRecovered";

/// Every decision kind, for the `drmysql_failover_decision` state set.
pub const DECISION_KINDS: [&str; 7] = [
    "NoAction",
    "Wait",
    "FailOver",
    "SwitchOver",
    "Quarantine",
    "AwaitApproval",
    "Refuse",
];

/// One reconcile's decision, with what it is reported from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The memory to keep in the status.
    pub memory: Memory,
    /// The decision.
    pub decision: Decision,
    /// The primary's health the decision saw.
    pub health: PrimaryHealth,
    /// `spec.failover.policy`.
    pub policy: FailoverPolicy,
    /// How the servers write GTIDs (for the transition's loss estimate).
    pub flavor: super::GtidFlavor,
}

/// Runs the decision on this reconcile's observations, starting from the
/// memory stored in the status.
pub fn run(
    stored: Option<&FailoverMemory>,
    observations: &Observations,
    spec: &DecisionSpec,
    transitions: &Transitions<'_>,
    now: DateTime<Utc>,
) -> Outcome {
    let (memory, decision) = step(
        &persist::from_status(stored),
        observations,
        spec,
        transitions,
        now,
    );
    let health = detection::assess(observations, spec, &memory, now);
    Outcome {
        memory,
        decision,
        health,
        policy: spec.policy,
        flavor: observations.flavor,
    }
}

impl Outcome {
    /// Whether the primary is declared failed.
    pub fn primary_failed(&self) -> bool {
        self.health.is_failed()
    }

    /// Whether the primary is suspected or declared failed: then the
    /// detection window must be measured, and a recovery reported, sooner
    /// than the resync. A primary not observed at all (its Pod has no IP
    /// yet) is not watched closely: nothing is being timed.
    pub fn needs_close_watch(&self) -> bool {
        matches!(
            self.health,
            PrimaryHealth::Suspected { .. } | PrimaryHealth::Failed { .. }
        )
    }

    /// `PrimaryAvailable`: status, reason and message.
    pub fn condition(&self) -> (bool, &'static str, String) {
        let reason = self.message();
        match &self.health {
            PrimaryHealth::Healthy { .. } | PrimaryHealth::Disputed { .. } => (true, REASON_ALIVE, reason),
            PrimaryHealth::Suspected { .. } => (false, REASON_SUSPECTED, reason),
            PrimaryHealth::Failed { .. } => (false, REASON_FAILED, reason),
            PrimaryHealth::Unobserved => (false, REASON_UNOBSERVED, reason),
        }
    }

    /// The decision's reason, which says what is done about it.
    pub fn message(&self) -> String {
        self.decision.reason().to_owned()
    }

    /// The Events that the change from `old` to `new` (this outcome's
    /// `PrimaryAvailable`) raises.
    pub fn events(&self, old: Option<&Condition>, new: &Condition) -> Vec<EventSpec> {
        let was = old.map(|c| c.reason.as_str());
        let mut events = Vec::new();
        if new.reason == REASON_FAILED && was != Some(REASON_FAILED) {
            events.push(EventSpec {
                reason: REASON_FAILED,
                warning: true,
                note: new.message.clone(),
            });
            if let Decision::Refuse { reason } = &self.decision {
                events.push(EventSpec {
                    reason: EVENT_REFUSED,
                    warning: true,
                    note: reason.clone(),
                });
            }
        }
        if new.reason == REASON_ALIVE && was == Some(REASON_FAILED) {
            events.push(EventSpec {
                reason: EVENT_RECOVERED,
                warning: false,
                note: new.message.clone(),
            });
        }
        events
    }
}

#[cfg(test)]
mod tests;
