//! The decision's result: what the executor should do next, and why.
//!
//! Every variant carries a human-readable reason for the FailoverInProgress
//! condition and the Event. A promotion comes with a [`Gate`]: the
//! preconditions the executor must establish, and see established in a later
//! observation, before it makes the candidate writable. The gate is how the
//! pure decision enforces Lossless mode's "never promote before the
//! candidate's IO thread is stopped and its relay log applied", and a
//! switchover's "never promote before the old primary is read-only and the
//! candidate has caught up": the executor performs the steps, observes again,
//! and promotes only when [`Decision::may_promote`] says so.

use std::fmt;

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::TransitionStep;

/// What to do about the primary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing: the primary is fine, or there is nothing to act on.
    NoAction {
        /// Why.
        reason: String,
    },
    /// Not yet: decide again at `until`, or at the next observation when
    /// `None`.
    Wait {
        /// Why, and for what.
        reason: String,
        /// When the situation may change by itself (the detection window or the
        /// cooldown ends).
        until: Option<DateTime<Utc>>,
    },
    /// Replace the lost primary with `to`.
    FailOver {
        /// The instance to promote.
        to: String,
        /// Whether a person bypassed the data-loss guards.
        forced: bool,
        /// Why: the evidence, the choice, and any guard overridden.
        reason: String,
        /// `None` to start a new failover (record it in `status.failover`
        /// first); the recorded step to resume from otherwise.
        resume: Option<TransitionStep>,
        /// What must hold before `to` is made writable.
        gate: Gate,
    },
    /// Move the live primary to `to` without losing a transaction.
    SwitchOver {
        /// The instance to promote.
        to: String,
        /// Why.
        reason: String,
        /// As for [`Decision::FailOver`].
        resume: Option<TransitionStep>,
        /// What must hold before `to` is made writable.
        gate: Gate,
    },
    /// Keep `instance` out of every Service: it has errant transactions.
    Quarantine {
        /// The instance.
        instance: String,
        /// Its errant GTIDs.
        errant: String,
        /// Why, for people, with what to do.
        reason: String,
    },
    /// The primary is lost and policy Manual needs a person to approve.
    AwaitApproval {
        /// "primary failed, failover needs approval", the evidence, and the
        /// command to run.
        reason: String,
        /// The replica drmysql would promote, if any is eligible.
        suggested: Option<String>,
    },
    /// A failover or switchover is called for, or was asked for, but is unsafe.
    Refuse {
        /// Why, naming what to fix.
        reason: String,
    },
}

impl Decision {
    /// The human-readable reason.
    pub fn reason(&self) -> &str {
        match self {
            Self::NoAction { reason }
            | Self::Wait { reason, .. }
            | Self::FailOver { reason, .. }
            | Self::SwitchOver { reason, .. }
            | Self::Quarantine { reason, .. }
            | Self::AwaitApproval { reason, .. }
            | Self::Refuse { reason } => reason,
        }
    }

    /// The variant's name, for logs and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoAction { .. } => "NoAction",
            Self::Wait { .. } => "Wait",
            Self::FailOver { .. } => "FailOver",
            Self::SwitchOver { .. } => "SwitchOver",
            Self::Quarantine { .. } => "Quarantine",
            Self::AwaitApproval { .. } => "AwaitApproval",
            Self::Refuse { .. } => "Refuse",
        }
    }

    /// The instance being promoted, for a failover or switchover.
    pub fn target(&self) -> Option<&str> {
        match self {
            Self::FailOver { to, .. } | Self::SwitchOver { to, .. } => Some(to),
            _ => None,
        }
    }

    /// The instance the executor may make writable now: the target of a
    /// failover or switchover whose gate is open.
    pub fn may_promote(&self) -> Option<&str> {
        match self {
            Self::FailOver { to, gate, .. } | Self::SwitchOver { to, gate, .. } if gate.is_open() => Some(to),
            _ => None,
        }
    }
}

/// Preconditions of a promotion that are not met yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gate {
    /// What is still missing; empty when the promotion may proceed.
    pub unmet: Vec<Precondition>,
}

impl Gate {
    /// Nothing is missing.
    pub fn open() -> Self {
        Self::default()
    }

    /// Whether the promotion may proceed.
    pub fn is_open(&self) -> bool {
        self.unmet.is_empty()
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unmet.is_empty() {
            return f.write_str("ready to promote");
        }
        let unmet: Vec<String> = self.unmet.iter().map(ToString::to_string).collect();
        write!(f, "before promoting: {}", unmet.join("; "))
    }
}

/// One thing the executor must establish before promoting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Stop this replica's IO thread (Lossless: every replica's, so that the
    /// old primary gets no acknowledgement and the choice cannot go stale).
    IoThreadStopped {
        /// The replica.
        instance: String,
    },
    /// Let this replica apply everything it received.
    RelayLogApplied {
        /// The replica.
        instance: String,
    },
    /// Make the old primary read-only (switchover).
    PrimaryReadOnly {
        /// The old primary.
        instance: String,
    },
    /// Let the candidate execute every transaction the read-only old primary
    /// has (switchover).
    CaughtUp {
        /// The candidate.
        instance: String,
    },
}

impl fmt::Display for Precondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IoThreadStopped { instance } => write!(f, "stop the IO thread of {instance}"),
            Self::RelayLogApplied { instance } => write!(f, "let {instance} apply its relay log"),
            Self::PrimaryReadOnly { instance } => write!(f, "make {instance} read-only"),
            Self::CaughtUp { instance } => {
                write!(f, "let {instance} execute every transaction of the old primary")
            }
        }
    }
}
