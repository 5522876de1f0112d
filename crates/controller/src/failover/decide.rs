//! The rules: from observations, spec, memory and the transition record to one
//! [`Decision`].
//!
//! In order, first match wins:
//!
//! 1. A failover or switchover in progress (`status.failover`) is continued
//!    with its recorded target, never replaced by a second one. Before the
//!    promotion step the target is checked again (errant transactions, the
//!    guards it started under); a target that fails is refused, so the
//!    executor aborts instead of promoting.
//! 2. A primary declared failed (see [`super::detection`]) is
//!    replaced:
//!    - with a person's failover request or remembered approval: by the named
//!      instance, subject to every guard (`force` bypasses only the data-loss
//!      guards), whatever the policy and the cooldown;
//!    - else with policy Manual: [`Decision::AwaitApproval`];
//!    - else within `cooldownSeconds` of the last successful failover:
//!      [`Decision::Wait`] until the cooldown ends;
//!    - else by the most advanced eligible replica, or [`Decision::Refuse`].
//! 3. A switchover request is carried out when the controller reaches the
//!    primary and the candidate is healthy, replicating and within the lag
//!    limit; refused otherwise.
//! 4. A failover request while the primary is not declared failed waits for the
//!    declaration, or is refused when the primary is seen alive (it would leave
//!    two writable primaries).
//! 5. With a healthy primary, a replica (or returned former primary) with
//!    errant transactions is quarantined.
//! 6. With a healthy primary and `failback: Automatic`, when the primary is
//!    not the instance `spec.primary` places and `cooldownSeconds` have
//!    passed since the last transition of any kind, a switchover back to it,
//!    once it is an eligible switchover candidate (healthy, replicating,
//!    within the lag limit, no errant transactions); until then no action,
//!    with the reason it waits.
//! 7. Otherwise: [`Decision::Wait`] while the primary is suspected, else
//!    [`Decision::NoAction`].

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::{
    FailbackPolicy, FailoverPolicy, FailoverProgress, InstanceRole, ReplicationMode, ThreadState,
    TransitionKind, TransitionStep,
};

use super::candidate::{self, Candidate, Choice, Problem, Purpose};
use super::decision::{Decision, Gate, Precondition};
use super::detection::{self, PrimaryHealth};
use super::evidence::Reachability;
use super::gtids::Holdings;
use super::memory::Memory;
use super::observations::{Observations, Request};
use super::spec::{DecisionSpec, Transitions, elapsed, later, seconds};

/// Decides what to do about the primary. Pure: the same arguments give the
/// same decision. `memory` should be [`remember`](super::remember)ed with the
/// same observations first ([`step`](super::step) does both).
pub fn decide(
    observations: &Observations,
    spec: &DecisionSpec,
    memory: &Memory,
    transitions: &Transitions<'_>,
    now: DateTime<Utc>,
) -> Decision {
    if let Some(progress) = transitions.in_progress {
        return resume(progress, observations, spec, memory, now);
    }
    let health = detection::assess(observations, spec, memory, now);
    if health.is_failed() {
        return replace_lost_primary(&health, observations, spec, memory, transitions, now);
    }
    match &observations.request {
        Some(Request::SwitchOver { to }) => {
            return switch_over(to.as_deref(), observations, spec, memory, now);
        }
        Some(Request::FailOver { to, .. }) => return premature_failover_request(to, &health),
        None => {}
    }
    match health {
        PrimaryHealth::Healthy { .. } => quarantine(observations, spec, memory, now)
            .or_else(|| failback(observations, spec, memory, transitions, now))
            .unwrap_or_else(|| Decision::NoAction {
                reason: health.describe(),
            }),
        PrimaryHealth::Suspected { declared_at, .. } => Decision::Wait {
            reason: health.describe(),
            until: declared_at,
        },
        PrimaryHealth::Unobserved | PrimaryHealth::Disputed { .. } | PrimaryHealth::Failed { .. } => {
            Decision::NoAction {
                reason: health.describe(),
            }
        }
    }
}

fn replace_lost_primary(
    health: &PrimaryHealth,
    observations: &Observations,
    spec: &DecisionSpec,
    memory: &Memory,
    transitions: &Transitions<'_>,
    now: DateTime<Utc>,
) -> Decision {
    let candidates = candidate::assess(observations, spec, memory, now);
    let approval = match &observations.request {
        Some(Request::FailOver { to, force }) => Some((to.clone(), *force)),
        _ => memory
            .approval
            .as_ref()
            .map(|approval| (approval.to.clone(), approval.force)),
    };
    let evidence = health.describe();
    if let Some((to, forced)) = approval {
        let purpose = Purpose::Failover { forced };
        return match candidate::choose(&candidates, spec, purpose, Some(&to)) {
            Choice::Chosen { name, why } => fail_over(
                name,
                forced,
                format!("{evidence}; failover requested to {why}"),
                &candidates,
                spec,
            ),
            Choice::NoneEligible { reason } => Decision::Refuse {
                reason: format!("{evidence}; the requested failover is refused: {reason}"),
            },
        };
    }
    let unforced = Purpose::Failover { forced: false };
    if spec.policy == FailoverPolicy::Manual {
        let (suggested, advice) = match candidate::choose(&candidates, spec, unforced, None) {
            Choice::Chosen { name, .. } => {
                let advice = format!("run `kubectl drmysql failover {} --to {name}`", spec.name);
                (Some(name), advice)
            }
            Choice::NoneEligible { reason } => {
                (None, format!("no replica can be promoted unforced: {reason}"))
            }
        };
        return Decision::AwaitApproval {
            reason: format!("primary failed, failover needs approval: {evidence}; {advice}"),
            suggested,
        };
    }
    if let Some(finished) = transitions.last_failover_finished() {
        let until = later(finished, spec.cooldown);
        if now < until {
            return Decision::Wait {
                reason: format!(
                    "{evidence}; the last failover finished at {}, and cooldownSeconds ({}) holds automatic \
                     failover until {}; `kubectl drmysql failover {} --to INSTANCE` overrides it",
                    finished.to_rfc3339(),
                    seconds(spec.cooldown),
                    until.to_rfc3339(),
                    spec.name
                ),
                until: Some(until),
            };
        }
    }
    match candidate::choose(&candidates, spec, unforced, None) {
        Choice::Chosen { name, why } => fail_over(
            name,
            false,
            format!("{evidence}; promoting {why}"),
            &candidates,
            spec,
        ),
        Choice::NoneEligible { reason } => Decision::Refuse {
            reason: format!("{evidence}; automatic failover is refused: {reason}"),
        },
    }
}

fn fail_over(
    to: String,
    forced: bool,
    why: String,
    candidates: &[Candidate],
    spec: &DecisionSpec,
) -> Decision {
    let mut reason = why;
    if forced {
        reason.push_str("; FORCED: the data-loss guards are bypassed");
        let overridden: Vec<String> = candidates
            .iter()
            .filter(|candidate| candidate.name == to && spec.mode == ReplicationMode::Async)
            .flat_map(|candidate| candidate.problems.iter().filter(|problem| problem.is_lag()))
            .map(ToString::to_string)
            .collect();
        if !overridden.is_empty() {
            reason.push_str(&format!(
                " ({}); transactions {to} had not received are lost",
                overridden.join(", ")
            ));
        }
    }
    let gate = failover_gate(&to, candidates, spec);
    if !gate.is_open() {
        reason.push_str(&format!("; {gate}"));
    }
    Decision::FailOver {
        to,
        forced,
        reason,
        resume: None,
        gate,
    }
}

/// Lossless mode: every replica's IO thread stopped (the target's first) and
/// the target's relay log applied. Async mode: nothing.
fn failover_gate(to: &str, candidates: &[Candidate], spec: &DecisionSpec) -> Gate {
    if spec.mode != ReplicationMode::Lossless {
        return Gate::open();
    }
    let receiving = |candidate: &&Candidate| {
        candidate
            .io_thread
            .is_some_and(|thread| thread != ThreadState::Stopped)
    };
    let mut unmet: Vec<Precondition> = Vec::new();
    let target = candidates.iter().find(|candidate| candidate.name == to);
    if target.is_none_or(|candidate| candidate.io_thread != Some(ThreadState::Stopped)) {
        unmet.push(Precondition::IoThreadStopped {
            instance: to.to_owned(),
        });
    }
    unmet.extend(
        candidates
            .iter()
            .filter(|candidate| candidate.name != to)
            .filter(|candidate| {
                !candidate
                    .problems
                    .iter()
                    .any(|p| matches!(p, Problem::NotAReplica(_)))
            })
            .filter(receiving)
            .map(|candidate| Precondition::IoThreadStopped {
                instance: candidate.name.clone(),
            }),
    );
    if target.is_none_or(|candidate| candidate.relay_log_applied != Some(true)) {
        unmet.push(Precondition::RelayLogApplied {
            instance: to.to_owned(),
        });
    }
    Gate { unmet }
}

/// The old primary read-only, and the candidate holding everything it
/// executed, both read from a current reading of the old primary.
fn switchover_gate(
    from: &str,
    to: &str,
    observations: &Observations,
    candidates: &[Candidate],
    spec: &DecisionSpec,
    now: DateTime<Utc>,
) -> Gate {
    let primary = observations
        .primary_server
        .as_ref()
        .filter(|_| observations.primary == from)
        .filter(|server| elapsed(server.at, now) <= spec.evidence_ttl)
        .map(|server| &server.value);
    let mut unmet = Vec::new();
    if !primary.is_some_and(|primary| primary.read_only) {
        unmet.push(Precondition::PrimaryReadOnly {
            instance: from.to_owned(),
        });
    }
    let caught_up = primary.is_some_and(|primary| {
        let executed = candidates
            .iter()
            .find(|candidate| candidate.name == to)
            .and_then(|candidate| candidate.executed.as_deref());
        match (
            executed.map(|executed| Holdings::parse(observations.flavor, &[executed])),
            Holdings::parse(observations.flavor, &[&primary.gtids]),
        ) {
            (Some(Ok(candidate)), Ok(primary)) => candidate.covers(&primary),
            _ => false,
        }
    });
    if !caught_up {
        unmet.push(Precondition::CaughtUp {
            instance: to.to_owned(),
        });
    }
    Gate { unmet }
}

fn resume(
    progress: &FailoverProgress,
    observations: &Observations,
    spec: &DecisionSpec,
    memory: &Memory,
    now: DateTime<Utc>,
) -> Decision {
    let kind = match progress.kind {
        TransitionKind::Failover => "failover",
        TransitionKind::Switchover => "switchover",
    };
    let target = progress.target.clone();
    let mut reason = format!(
        "continuing the {kind} from {} to {target} at step {:?}, started {}: {}",
        progress.from,
        progress.step,
        progress.started_at.to_rfc3339(),
        progress.reason
    );
    let before_promotion = matches!(
        progress.step,
        TransitionStep::FenceOldPrimary | TransitionStep::CatchUp | TransitionStep::VerifyCandidate
    );
    let candidates = candidate::assess(observations, spec, memory, now);
    let purpose = match progress.kind {
        TransitionKind::Failover => Purpose::Failover {
            forced: progress.forced,
        },
        TransitionKind::Switchover => Purpose::Switchover,
    };
    if before_promotion
        && let Choice::NoneEligible { reason: why } =
            candidate::choose(&candidates, spec, purpose, Some(&target))
    {
        return Decision::Refuse {
            reason: format!(
                "the {kind} from {} to {target} must stop before promotion: {why}",
                progress.from
            ),
        };
    }
    let gate = match (before_promotion, progress.kind) {
        (false, _) => Gate::open(),
        (true, TransitionKind::Failover) => failover_gate(&target, &candidates, spec),
        (true, TransitionKind::Switchover) => {
            switchover_gate(&progress.from, &target, observations, &candidates, spec, now)
        }
    };
    if !gate.is_open() {
        reason.push_str(&format!("; {gate}"));
    }
    match progress.kind {
        TransitionKind::Failover => Decision::FailOver {
            to: target,
            forced: progress.forced,
            reason,
            resume: Some(progress.step),
            gate,
        },
        TransitionKind::Switchover => Decision::SwitchOver {
            to: target,
            reason,
            resume: Some(progress.step),
            gate,
        },
    }
}

fn switch_over(
    requested: Option<&str>,
    observations: &Observations,
    spec: &DecisionSpec,
    memory: &Memory,
    now: DateTime<Utc>,
) -> Decision {
    let primary = &observations.primary;
    if requested == Some(primary.as_str()) {
        return Decision::NoAction {
            reason: format!("{primary} is already the primary; the switchover request has nothing to do"),
        };
    }
    let reachable = observations.controller_check.as_ref().is_some_and(|check| {
        check.value == Reachability::Alive && elapsed(check.at, now) <= spec.evidence_ttl
    }) && observations
        .primary_server
        .as_ref()
        .is_some_and(|server| elapsed(server.at, now) <= spec.evidence_ttl);
    if !reachable {
        return Decision::Refuse {
            reason: format!(
                "a switchover needs the primary {primary} reachable by the controller, and it is not; if it is \
                 lost, use `kubectl drmysql failover {} --to INSTANCE`",
                spec.name
            ),
        };
    }
    let candidates = candidate::assess(observations, spec, memory, now);
    match candidate::choose(&candidates, spec, Purpose::Switchover, requested) {
        Choice::Chosen { name, why } => {
            let gate = switchover_gate(primary, &name, observations, &candidates, spec, now);
            Decision::SwitchOver {
                reason: format!("planned switchover from {primary} to {why}; {gate}"),
                to: name,
                resume: None,
                gate,
            }
        }
        Choice::NoneEligible { reason } => Decision::Refuse {
            reason: format!("switchover refused: {reason}"),
        },
    }
}

fn premature_failover_request(to: &str, health: &PrimaryHealth) -> Decision {
    match health {
        PrimaryHealth::Healthy { .. } | PrimaryHealth::Disputed { .. } => Decision::Refuse {
            reason: format!(
                "failover to {to} refused: {}; promoting now would leave two writable primaries. Use \
                 `kubectl drmysql switchover` for a planned move",
                health.describe()
            ),
        },
        PrimaryHealth::Suspected { declared_at, .. } => Decision::Wait {
            reason: format!(
                "failover to {to} requested; it proceeds once the primary is declared failed: {}",
                health.describe()
            ),
            until: *declared_at,
        },
        PrimaryHealth::Unobserved | PrimaryHealth::Failed { .. } => Decision::Wait {
            reason: format!(
                "failover to {to} requested; it proceeds once the primary is declared failed: {}",
                health.describe()
            ),
            until: None,
        },
    }
}

fn quarantine(
    observations: &Observations,
    spec: &DecisionSpec,
    memory: &Memory,
    now: DateTime<Utc>,
) -> Option<Decision> {
    let mut candidates = candidate::assess(observations, spec, memory, now);
    candidates.sort_by_key(|candidate| (spec.rank(&candidate.name), candidate.name.clone()));
    candidates.into_iter().find_map(|candidate| {
        let role = observations.replica(&candidate.name)?.role;
        if matches!(role, InstanceRole::Quarantined | InstanceRole::Primary) {
            return None;
        }
        let errant = candidate.problems.iter().find_map(|problem| match problem {
            Problem::Errant(gtids) => Some(gtids.clone()),
            _ => None,
        })?;
        Some(Decision::Quarantine {
            reason: format!(
                "{} has errant transactions {errant} that the primary {} never had; it is kept out of every \
                 Service. Rebuild it with `kubectl drmysql rebuild {} {}`",
                candidate.name, observations.primary, spec.name, candidate.name
            ),
            instance: candidate.name,
            errant,
        })
    })
}

/// `failback: Automatic`: a switchover back to the instance `spec.primary`
/// places, when the primary is healthy and elsewhere (see rule 6).
fn failback(
    observations: &Observations,
    spec: &DecisionSpec,
    memory: &Memory,
    transitions: &Transitions<'_>,
    now: DateTime<Utc>,
) -> Option<Decision> {
    if spec.failback != FailbackPolicy::Automatic {
        return None;
    }
    let preferred = spec.preferred_primary()?;
    if observations.primary == preferred {
        return None;
    }
    if let Some(finished) = transitions.last_finished() {
        let until = later(finished, spec.cooldown);
        if now < until {
            return Some(Decision::NoAction {
                reason: format!(
                    "the primary {} is healthy; automatic failback to {preferred} waits for cooldownSeconds ({}) \
                     after the last transition, until {}",
                    observations.primary,
                    seconds(spec.cooldown),
                    until.to_rfc3339()
                ),
            });
        }
    }
    Some(
        match switch_over(Some(preferred), observations, spec, memory, now) {
            Decision::SwitchOver {
                to,
                reason,
                resume,
                gate,
            } => Decision::SwitchOver {
                to,
                reason: format!("automatic failback: {reason}"),
                resume,
                gate,
            },
            other => Decision::NoAction {
                reason: format!(
                    "the primary {} is healthy; automatic failback to {preferred} waits: {}",
                    observations.primary,
                    other.reason()
                ),
            },
        },
    )
}
