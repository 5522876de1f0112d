//! Following a request from the annotation to the controller's last word, as
//! a pure state machine fed one snapshot of the DRMySQL at a time.
//!
//! The answer is recognised by comparison with what the object held before
//! the request was written (the `Baseline`), never by the plugin's clock:
//! the annotation gone and a `status.lastRequest` of the right kind that
//! differs from the old one; for a started switchover or failover,
//! `status.failover` gone and a `status.history` record the old history did
//! not hold; for a tunnel check, a `checkedAt` newer than the newest before.
//! Keeping this apart from the watch that feeds it lets unit tests drive every
//! path, including the ones a timeout reports on.

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::{
    DRMySQL, DRMySQLStatus, FailoverRecord, RequestOutcome, RequestRecord, TunnelStatus,
};
use drmysql_api::names::condition;
use kube::ResourceExt;

use crate::report;
use crate::request::{self, Ask};
use crate::table;
use crate::validate::qualified;

/// What the object held before the request was written.
#[derive(Clone, Debug, Default)]
pub struct Baseline {
    /// The answer to the previous request.
    pub last_request: Option<RequestRecord>,
    /// The finished transitions.
    pub history: Vec<FailoverRecord>,
    /// The newest tunnel check, on the controller's clock.
    pub newest_check: Option<DateTime<Utc>>,
}

impl Baseline {
    /// The baseline of `drmysql` as read before writing.
    pub fn of(drmysql: &DRMySQL) -> Self {
        let status = drmysql.status.clone().unwrap_or_default();
        Self {
            newest_check: newest_check(&status.tunnel),
            last_request: status.last_request,
            history: status.history,
        }
    }
}

/// The newest `checkedAt` of `checks`.
pub fn newest_check(checks: &[TunnelStatus]) -> Option<DateTime<Utc>> {
    checks.iter().map(|check| check.checked_at).max()
}

/// How a request ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The controller refused it.
    Refused(RequestRecord),
    /// The controller answered; nothing further to follow. For a tunnel
    /// check, an answer that came without newer checks.
    Answered(RequestRecord),
    /// A switchover or failover ran to its end, successful or not.
    Finished {
        /// The controller's `Started` answer.
        answer: RequestRecord,
        /// The new `status.history` record (boxed: it is much larger than the
        /// other variants).
        record: Box<FailoverRecord>,
    },
    /// The tunnel probes ran.
    Checked {
        /// `status.tunnel` after the check.
        checks: Vec<TunnelStatus>,
    },
}

#[derive(Clone, Debug)]
enum Stage {
    /// Written; the controller has not removed the annotation yet.
    Asked,
    /// The annotation is gone but no answer is in `status.lastRequest` yet.
    Removed,
    /// A switchover or failover was started and is being followed.
    Started(RequestRecord),
}

/// Follows one request.
#[derive(Clone, Debug)]
pub struct Follower {
    ask: Ask,
    baseline: Baseline,
    stage: Stage,
    last_step: Option<String>,
    last_wait: Option<String>,
}

impl Follower {
    /// Follows `ask`, written over `baseline`.
    pub fn new(ask: Ask, baseline: Baseline) -> Self {
        Self {
            ask,
            baseline,
            stage: Stage::Asked,
            last_step: None,
            last_wait: None,
        }
    }

    /// Takes one snapshot: the progress lines it brings (for stderr), and the
    /// outcome once there is one.
    pub fn observe(&mut self, drmysql: &DRMySQL) -> (Vec<String>, Option<Outcome>) {
        let empty = DRMySQLStatus::default();
        let status = drmysql.status.as_ref().unwrap_or(&empty);
        let mut notes = Vec::new();
        if self.ask.moves_the_primary()
            && let Some(progress) = &status.failover
        {
            let line = report::step(progress);
            if self.last_step.as_ref() != Some(&line) {
                notes.push(line.clone());
                self.last_step = Some(line);
            }
        }
        if matches!(self.stage, Stage::Asked | Stage::Removed) {
            if drmysql.annotations().contains_key(self.ask.annotation()) {
                self.stage = Stage::Asked;
                if let Some(note) = self.waiting_for_failure(status) {
                    notes.push(note);
                }
                return (notes, None);
            }
            self.stage = Stage::Removed;
            let answer = status
                .last_request
                .as_ref()
                .filter(|answer| answer.kind == self.ask.kind())
                .filter(|answer| self.baseline.last_request.as_ref() != Some(*answer));
            if let Some(answer) = answer
                && answer.outcome == RequestOutcome::Refused
            {
                return (notes, Some(Outcome::Refused(answer.clone())));
            }
            if let Ask::CheckTunnel { .. } = self.ask {
                // The controller writes the checks with its answer, before it
                // removes the annotation: an answer without newer checks means
                // it ran none.
                let outcome = if newest_check(&status.tunnel) > self.baseline.newest_check {
                    Some(Outcome::Checked {
                        checks: status.tunnel.clone(),
                    })
                } else {
                    answer.cloned().map(Outcome::Answered)
                };
                return (notes, outcome);
            }
            let Some(answer) = answer else {
                return (notes, None);
            };
            if !(self.ask.moves_the_primary() && answer.outcome == RequestOutcome::Started) {
                return (notes, Some(Outcome::Answered(answer.clone())));
            }
            notes.push(format!("the controller answered: {}", report::answer(answer)));
            self.stage = Stage::Started(answer.clone());
        }
        let Stage::Started(answer) = &self.stage else {
            return (notes, None);
        };
        if status.failover.is_some() {
            return (notes, None);
        }
        let record = status
            .history
            .iter()
            .rev()
            .find(|record| !self.baseline.history.contains(record));
        let outcome = record.map(|record| Outcome::Finished {
            answer: answer.clone(),
            record: Box::new(record.clone()),
        });
        (notes, outcome)
    }

    /// For a failover request still waiting for the primary to be declared
    /// failed: why, once per change of the PrimaryAvailable condition.
    fn waiting_for_failure(&mut self, status: &DRMySQLStatus) -> Option<String> {
        if !matches!(self.ask, Ask::Failover { .. }) {
            return None;
        }
        let condition = status
            .conditions
            .iter()
            .find(|condition| condition.type_ == condition::PRIMARY_AVAILABLE)?;
        if condition.status == "False" && condition.reason == "PrimaryFailed" {
            return None;
        }
        let note = format!(
            "waiting: the failover acts once the primary is declared failed; {}",
            primary_available(status)
        );
        if self.last_wait.as_ref() == Some(&note) {
            return None;
        }
        self.last_wait = Some(note.clone());
        Some(note)
    }

    /// What is still pending, for the message of a timeout; `latest` is the
    /// newest snapshot seen, if any.
    pub fn pending(&self, drmysql: &DRMySQL) -> String {
        let empty = DRMySQLStatus::default();
        let status = drmysql.status.as_ref().unwrap_or(&empty);
        let (name, namespace) = (drmysql.name_any(), drmysql.namespace().unwrap_or_default());
        let follow = format!("`kubectl drmysql status {name} -n {namespace}`");
        match &self.stage {
            Stage::Asked => {
                let key = self.ask.annotation();
                let withdraw = request::withdraw_command(&name, &namespace, key);
                let why = if matches!(self.ask, Ask::Failover { .. }) {
                    format!(
                        "a failover request waits until the primary is declared failed, and {}",
                        primary_available(status)
                    )
                } else {
                    "is the drmysql controller running?".to_owned()
                };
                format!(
                    "the controller has not answered the {}: the annotation {key} is still on DRMySQL {}; {why}. \
                     The request stays pending; withdraw it with `{withdraw}`",
                    self.ask.describe(),
                    qualified(drmysql)
                )
            }
            Stage::Removed => match self.ask {
                Ask::CheckTunnel { .. } => format!(
                    "the annotation {} was removed, but status.tunnel holds no check newer than {}",
                    self.ask.annotation(),
                    self.baseline
                        .newest_check
                        .map_or_else(|| "none (no check at all)".to_owned(), table::time)
                ),
                _ => format!(
                    "the annotation {} was removed, but status.lastRequest holds no answer to the {} \
                     (did someone else remove it?); see {follow}",
                    self.ask.annotation(),
                    self.ask.describe()
                ),
            },
            Stage::Started(answer) => match &status.failover {
                Some(progress) => format!(
                    "{} is still in progress; it goes on without this command: follow it with {follow}",
                    report::progress(progress)
                ),
                None => format!(
                    "the controller started the {} ({}), but status.history holds no record of its end yet; \
                     see {follow}",
                    self.ask.describe(),
                    report::answer(answer)
                ),
            },
        }
    }
}

/// `PrimaryAvailable is True (Healthy): message`, or that it is not reported.
fn primary_available(status: &DRMySQLStatus) -> String {
    status
        .conditions
        .iter()
        .find(|condition| condition.type_ == condition::PRIMARY_AVAILABLE)
        .map_or_else(
            || "the PrimaryAvailable condition is not reported yet".to_owned(),
            |condition| {
                format!(
                    "PrimaryAvailable is {} ({}): {}",
                    condition.status, condition.reason, condition.message
                )
            },
        )
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
