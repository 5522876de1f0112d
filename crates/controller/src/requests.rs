//! A person's requests, read from the DRMySQL's annotations, and the
//! controller's answers to them.
//!
//! `kubectl drmysql switchover|failover|rebuild|check-tunnel` (or a person with
//! `kubectl annotate`) writes one of the `drmysql.io/...` request annotations;
//! the controller answers in `status.lastRequest` and removes the annotation,
//! so every request is carried out at most once and the plugin knows when to
//! read the answer. A failover request that must wait for the primary to be
//! declared failed stays unanswered (it is the approval the decision keeps).
//! Pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::{RequestKind, RequestOutcome, RequestRecord};
use drmysql_api::names::request;

use crate::failover::{Decision, Request};

/// The switchover or failover request on a DRMySQL, if any. A failover
/// request wins over a switchover request: it is the more urgent one.
pub fn transition_request(annotations: &BTreeMap<String, String>) -> Option<Request> {
    if let Some(to) = annotations.get(request::FAILOVER_TO) {
        return Some(Request::FailOver {
            to: to.trim().to_owned(),
            force: annotations
                .get(request::FAILOVER_FORCE)
                .is_some_and(|force| force.trim().eq_ignore_ascii_case("true")),
        });
    }
    annotations
        .get(request::SWITCHOVER_TO)
        .map(|to| Request::switchover_from_annotation(to))
}

/// The annotations that carry `request`.
pub fn annotations_of(request: &Request) -> &'static [&'static str] {
    match request {
        Request::FailOver { .. } => &[request::FAILOVER_TO, request::FAILOVER_FORCE],
        Request::SwitchOver { .. } => &[request::SWITCHOVER_TO],
    }
}

/// The answer to `request` given this reconcile's `decision`; `None` while it
/// must wait (a failover before the primary is declared failed, or any request
/// while a transition is being carried out).
pub fn answer(request: &Request, decision: &Decision, now: DateTime<Utc>) -> Option<RequestRecord> {
    let (kind, target, forced) = match request {
        Request::FailOver { to, force } => (RequestKind::Failover, Some(to.clone()), *force),
        Request::SwitchOver { to } => (RequestKind::Switchover, to.clone(), false),
    };
    let record = |outcome, message: String| RequestRecord {
        kind,
        target: target.clone(),
        forced,
        outcome,
        message,
        answered_at: now,
    };
    match (kind, decision) {
        (_, Decision::FailOver { resume: Some(_), .. } | Decision::SwitchOver { resume: Some(_), .. }) => {
            None
        }
        (RequestKind::Failover, Decision::FailOver { to, reason, .. }) => Some(record(
            RequestOutcome::Started,
            format!("failover to {to} started: {reason}"),
        )),
        (RequestKind::Switchover, Decision::SwitchOver { to, reason, .. }) => Some(record(
            RequestOutcome::Started,
            format!("switchover to {to} started: {reason}"),
        )),
        (_, Decision::Refuse { reason }) => Some(record(RequestOutcome::Refused, reason.clone())),
        (RequestKind::Failover, Decision::Wait { .. }) => None,
        (RequestKind::Switchover, Decision::NoAction { reason }) => {
            Some(record(RequestOutcome::Done, reason.clone()))
        }
        (_, other) => Some(record(
            RequestOutcome::Refused,
            format!("the request cannot be carried out now: {}", other.reason()),
        )),
    }
}

/// The instance a rebuild request names, if any.
pub fn rebuild_request(annotations: &BTreeMap<String, String>) -> Option<String> {
    annotations
        .get(request::REBUILD)
        .map(|instance| instance.trim().to_owned())
}

/// Whether a tunnel check was asked for.
pub fn tunnel_check_requested(annotations: &BTreeMap<String, String>) -> bool {
    annotations.contains_key(request::CHECK_TUNNEL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::Gate;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn a_failover_request_wins_and_force_must_say_true() {
        let both = annotations(&[
            (request::SWITCHOVER_TO, "db-1"),
            (request::FAILOVER_TO, " db-2 "),
            (request::FAILOVER_FORCE, "TRUE"),
        ]);
        assert_eq!(
            transition_request(&both),
            Some(Request::FailOver {
                to: "db-2".into(),
                force: true
            })
        );
        let unforced = annotations(&[(request::FAILOVER_TO, "db-2"), (request::FAILOVER_FORCE, "yes")]);
        assert_eq!(
            transition_request(&unforced),
            Some(Request::FailOver {
                to: "db-2".into(),
                force: false
            })
        );
        let any = annotations(&[(request::SWITCHOVER_TO, "")]);
        assert_eq!(transition_request(&any), Some(Request::SwitchOver { to: None }));
        assert_eq!(transition_request(&BTreeMap::new()), None);
    }

    #[test]
    fn answers_follow_the_decision() {
        let now = Utc::now();
        let failover = Request::FailOver {
            to: "db-1".into(),
            force: false,
        };
        let started = Decision::FailOver {
            to: "db-1".into(),
            forced: false,
            reason: "primary failed".into(),
            resume: None,
            gate: Gate::open(),
        };
        let answer_started = answer(&failover, &started, now).expect("answered");
        assert_eq!(answer_started.outcome, RequestOutcome::Started);
        assert_eq!(answer_started.kind, RequestKind::Failover);
        let waiting = Decision::Wait {
            reason: "suspected".into(),
            until: None,
        };
        assert_eq!(answer(&failover, &waiting, now), None, "the approval waits");
        let refused = Decision::Refuse {
            reason: "errant".into(),
        };
        let answer_refused = answer(&failover, &refused, now).expect("answered");
        assert_eq!(answer_refused.outcome, RequestOutcome::Refused);
        assert_eq!(answer_refused.message, "errant");
        let resuming = Decision::SwitchOver {
            to: "db-1".into(),
            reason: "continuing".into(),
            resume: Some(drmysql_api::drmysql::TransitionStep::CatchUp),
            gate: Gate::open(),
        };
        let switchover = Request::SwitchOver { to: None };
        assert_eq!(
            answer(&switchover, &resuming, now),
            None,
            "one transition at a time"
        );
        let nothing = Decision::NoAction {
            reason: "db-1 is already the primary".into(),
        };
        assert_eq!(
            answer(&switchover, &nothing, now).map(|record| record.outcome),
            Some(RequestOutcome::Done)
        );
        let manual = Decision::AwaitApproval {
            reason: "primary failed, failover needs approval".into(),
            suggested: None,
        };
        let answer_manual = answer(&switchover, &manual, now).expect("answered");
        assert_eq!(answer_manual.outcome, RequestOutcome::Refused);
        assert!(answer_manual.message.contains("needs approval"));
    }

    #[test]
    fn rebuild_and_tunnel_check_requests_are_read() {
        let pending = annotations(&[(request::REBUILD, "db-2\n"), (request::CHECK_TUNNEL, "now")]);
        assert_eq!(rebuild_request(&pending).as_deref(), Some("db-2"));
        assert!(tunnel_check_requested(&pending));
        assert_eq!(
            annotations_of(&Request::SwitchOver { to: None }),
            [request::SWITCHOVER_TO]
        );
    }
}
