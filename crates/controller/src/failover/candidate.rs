//! Which replica may become primary, and which one should.
//!
//! Every non-primary instance is assessed: is it a replica of this primary at
//! all, can the controller read it, does its applier run, what does it hold
//! (executed plus received GTIDs), does it have errant transactions against the
//! primary's last known set, and how far behind was it. The lag is the larger
//! of the last measured lag and the *heartbeat gap*: how far its newest applied
//! heartbeat is behind the newest heartbeat known to exist (the primary's
//! clock on both sides, so no two clocks are compared). The heartbeat gap does
//! not grow while the primary is gone, so a failover a person approves an hour
//! later is judged on the lag at the moment of failure.
//!
//! Choosing: among the eligible candidates, the one that holds a superset of
//! every *comparable* replica (reachable, readable, not errant) wins, the
//! earliest in spec order among equals. When none holds everything:
//! - a failover in Lossless mode refuses (the missing transactions may have
//!   been acknowledged to clients), unless forced;
//! - otherwise the one holding the most is chosen, the earliest in spec order
//!   among equals, and the reason names what it lacks: the replicas that hold
//!   more will be found errant when they are re-pointed, and quarantined rather
//!   than silently diverge.
//!
//! In Lossless mode a failover also refuses, unless forced, while a replica is
//! unreachable: it may hold acknowledged transactions no reachable one has.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::{InstanceRole, ReplicationMode, ThreadState};

use super::gtids::{Holdings, errant, relay_log_applied};
use super::memory::Memory;
use super::observations::{Observations, ReplicaObservation};
use super::spec::{DecisionSpec, elapsed, seconds};

/// Why an instance may not be promoted (or, for lag, may not unless forced).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// It is not a replica of the current primary (fenced or quarantined).
    NotAReplica(InstanceRole),
    /// The controller has no current reading of it.
    Unreachable,
    /// Its SQL thread is stopped: it cannot apply what it received.
    SqlThreadStopped,
    /// Its IO thread does not run: it cannot catch up with a live primary
    /// (switchover only).
    IoThreadNotRunning,
    /// Its GTIDs could not be parsed.
    GtidsUnreadable(String),
    /// It executed transactions the primary never had.
    Errant(String),
    /// Errant transactions cannot be ruled out.
    ErrantUnknown(String),
    /// It was further behind than the RPO guard allows.
    LagTooHigh {
        /// How far behind.
        lag: Duration,
        /// `maxLagForFailoverSeconds`.
        max: Duration,
    },
    /// Neither a measured lag nor a heartbeat is known.
    LagUnknown,
}

impl Problem {
    /// Whether `--force` may bypass it.
    pub fn is_lag(&self) -> bool {
        matches!(self, Self::LagTooHigh { .. } | Self::LagUnknown)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAReplica(role) => write!(f, "it is {role:?}, not a replica of the primary"),
            Self::Unreachable => f.write_str("the controller cannot read it"),
            Self::SqlThreadStopped => f.write_str("its SQL thread is stopped"),
            Self::IoThreadNotRunning => f.write_str("its IO thread is not running"),
            Self::GtidsUnreadable(why) => write!(f, "its GTIDs are unreadable ({why})"),
            Self::Errant(gtids) => write!(f, "it has errant transactions {gtids}"),
            Self::ErrantUnknown(why) => write!(f, "errant transactions cannot be ruled out ({why})"),
            Self::LagTooHigh { lag, max } => write!(
                f,
                "it was {} behind, more than maxLagForFailoverSeconds ({})",
                seconds(*lag),
                seconds(*max)
            ),
            Self::LagUnknown => f.write_str("its lag is unknown"),
        }
    }
}

/// One non-primary instance, assessed as a candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Instance name.
    pub name: String,
    /// Executed plus received transactions, when readable.
    pub holdings: Option<Holdings>,
    /// How far behind it was (see the module header), when known.
    pub lag: Option<Duration>,
    /// Its IO thread, when read.
    pub io_thread: Option<ThreadState>,
    /// Whether it applied everything it received, when known.
    pub relay_log_applied: Option<bool>,
    /// Its executed transactions, as read.
    pub executed: Option<String>,
    /// Everything that speaks against promoting it.
    pub problems: Vec<Problem>,
}

/// What a candidate is wanted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Replacing a lost primary.
    Failover {
        /// Whether the data-loss guards are bypassed.
        forced: bool,
    },
    /// A planned move from a live primary.
    Switchover,
}

impl Candidate {
    /// The problems that rule it out for `purpose` in `mode`.
    pub fn blockers(&self, purpose: Purpose, mode: ReplicationMode) -> Vec<&Problem> {
        self.problems
            .iter()
            .filter(|problem| match purpose {
                Purpose::Failover { forced } => {
                    !problem.is_lag() || (mode == ReplicationMode::Async && !forced)
                }
                Purpose::Switchover => true,
            })
            .filter(|problem| purpose == Purpose::Switchover || **problem != Problem::IoThreadNotRunning)
            .collect()
    }

    /// Whether it is reachable, readable, a replica and free of errant
    /// transactions: its holdings count when asking who is most advanced.
    pub fn is_comparable(&self) -> bool {
        self.holdings.is_some()
            && !self.problems.iter().any(|problem| {
                matches!(
                    problem,
                    Problem::NotAReplica(_) | Problem::Unreachable | Problem::Errant(_)
                )
            })
    }

    fn explain(&self, purpose: Purpose, mode: ReplicationMode) -> String {
        let blockers: Vec<String> = self
            .blockers(purpose, mode)
            .iter()
            .map(ToString::to_string)
            .collect();
        format!("{}: {}", self.name, blockers.join(", "))
    }
}

/// Every non-primary instance, assessed, in observation order.
pub fn assess(
    observations: &Observations,
    spec: &DecisionSpec,
    memory: &Memory,
    now: DateTime<Utc>,
) -> Vec<Candidate> {
    let newest_heartbeat = memory
        .newest_heartbeat
        .into_iter()
        .chain(
            observations
                .primary_server
                .iter()
                .filter_map(|server| server.value.newest_heartbeat),
        )
        .chain(
            observations
                .replicas
                .iter()
                .filter_map(|replica| replica.server.as_ref()?.value.newest_heartbeat),
        )
        .max();
    observations
        .replicas
        .iter()
        .map(|replica| assess_one(replica, observations, spec, memory, newest_heartbeat, now))
        .collect()
}

fn assess_one(
    replica: &ReplicaObservation,
    observations: &Observations,
    spec: &DecisionSpec,
    memory: &Memory,
    newest_heartbeat: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Candidate {
    let mut candidate = Candidate {
        name: replica.name.clone(),
        holdings: None,
        lag: None,
        io_thread: None,
        relay_log_applied: None,
        executed: None,
        problems: Vec::new(),
    };
    if replica.role != InstanceRole::Replica {
        candidate.problems.push(Problem::NotAReplica(replica.role));
    }
    let Some(server) = replica
        .server
        .as_ref()
        .filter(|server| elapsed(server.at, now) <= spec.evidence_ttl)
    else {
        candidate.problems.push(Problem::Unreachable);
        return candidate;
    };
    let server = &server.value;
    let flavor = observations.flavor;
    candidate.io_thread = Some(server.io_thread);
    candidate.executed = Some(server.executed.clone());
    if server.sql_thread != ThreadState::Running {
        candidate.problems.push(Problem::SqlThreadStopped);
    }
    if server.io_thread != ThreadState::Running {
        candidate.problems.push(Problem::IoThreadNotRunning);
    }
    match Holdings::parse(flavor, &[&server.executed, &server.received]) {
        Ok(holdings) => candidate.holdings = Some(holdings),
        Err(why) => candidate.problems.push(Problem::GtidsUnreadable(why)),
    }
    candidate.relay_log_applied = relay_log_applied(flavor, &server.executed, &server.received).ok();
    match &memory.primary_gtids {
        None => candidate.problems.push(Problem::ErrantUnknown(
            "the primary's GTIDs were never read".to_owned(),
        )),
        Some(known) if known.flavor != flavor => candidate.problems.push(Problem::ErrantUnknown(
            "the primary's known GTIDs are of another flavor".to_owned(),
        )),
        Some(known) => match errant(flavor, &server.executed, &known.gtids, &known.origin) {
            Ok(report) if report.has_errant() => candidate.problems.push(Problem::Errant(report.errant)),
            Ok(_) => {}
            Err(why) => candidate.problems.push(Problem::ErrantUnknown(why)),
        },
    }
    let heartbeat_gap = newest_heartbeat
        .zip(server.newest_heartbeat)
        .map(|(newest, applied)| elapsed(applied, newest));
    candidate.lag = server.last_lag.into_iter().chain(heartbeat_gap).max();
    match candidate.lag {
        None => candidate.problems.push(Problem::LagUnknown),
        Some(lag) if lag > spec.max_lag_for_failover => candidate.problems.push(Problem::LagTooHigh {
            lag,
            max: spec.max_lag_for_failover,
        }),
        Some(_) => {}
    }
    candidate
}

/// The outcome of choosing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Promote `name`.
    Chosen {
        /// The candidate.
        name: String,
        /// Why it, for people.
        why: String,
    },
    /// No candidate may be promoted.
    NoneEligible {
        /// Why not, naming every candidate's problems.
        reason: String,
    },
}

/// Chooses the instance to promote for `purpose`: `requested` if a person
/// named one and it is eligible, otherwise the most advanced eligible one.
pub fn choose(
    candidates: &[Candidate],
    spec: &DecisionSpec,
    purpose: Purpose,
    requested: Option<&str>,
) -> Choice {
    let lossless_failover =
        spec.mode == ReplicationMode::Lossless && purpose == Purpose::Failover { forced: false };
    if lossless_failover
        && let Some(missing) = candidates.iter().find(|candidate| {
            !candidate
                .problems
                .iter()
                .any(|problem| matches!(problem, Problem::NotAReplica(_)))
                && candidate.holdings.is_none()
        })
    {
        return Choice::NoneEligible {
            reason: format!(
                "Lossless mode: replica {} cannot be read and may hold acknowledged transactions no reachable \
                 replica has; promoting another could lose them (force to accept that)",
                missing.name
            ),
        };
    }
    let comparable: Vec<&Candidate> = candidates.iter().filter(|c| c.is_comparable()).collect();
    let lacking = |candidate: &Candidate| -> Vec<String> {
        let Some(mine) = &candidate.holdings else {
            return Vec::new();
        };
        comparable
            .iter()
            .filter(|other| other.name != candidate.name)
            .filter_map(|other| {
                let theirs = other.holdings.as_ref()?;
                (!mine.covers(theirs)).then(|| format!("{} holds {}", other.name, mine.lacking(theirs)))
            })
            .collect()
    };
    if let Some(name) = requested {
        let Some(candidate) = candidates.iter().find(|candidate| candidate.name == name) else {
            return Choice::NoneEligible {
                reason: format!("{name} is not a replica of this DRMySQL"),
            };
        };
        if !candidate.blockers(purpose, spec.mode).is_empty() {
            return Choice::NoneEligible {
                reason: format!(
                    "{name} cannot be promoted: {}",
                    candidate.explain(purpose, spec.mode)
                ),
            };
        }
        let lacks = lacking(candidate);
        if lacks.is_empty() || purpose == Purpose::Switchover {
            return Choice::Chosen {
                name: name.to_owned(),
                why: format!("{name}, as requested"),
            };
        }
        if lossless_failover {
            return Choice::NoneEligible {
                reason: format!(
                    "Lossless mode: {name} lacks transactions other replicas hold ({}); promoting it could \
                     lose acknowledged transactions (force to accept that)",
                    lacks.join("; ")
                ),
            };
        }
        return Choice::Chosen {
            name: name.to_owned(),
            why: format!(
                "{name}, as requested, although it lacks transactions ({})",
                lacks.join("; ")
            ),
        };
    }
    let mut eligible: Vec<&Candidate> = candidates
        .iter()
        .filter(|candidate| candidate.blockers(purpose, spec.mode).is_empty())
        .collect();
    if eligible.is_empty() {
        let reasons: Vec<String> = candidates
            .iter()
            .map(|candidate| candidate.explain(purpose, spec.mode))
            .collect();
        return Choice::NoneEligible {
            reason: if reasons.is_empty() {
                "there is no replica".to_owned()
            } else {
                format!("no replica can be promoted ({})", reasons.join("; "))
            },
        };
    }
    eligible.sort_by_key(|candidate| (spec.rank(&candidate.name), candidate.name.clone()));
    if let Some(best) = eligible.iter().find(|candidate| lacking(candidate).is_empty()) {
        return Choice::Chosen {
            name: best.name.clone(),
            why: format!("{}, the most advanced eligible replica", best.name),
        };
    }
    if lossless_failover {
        return Choice::NoneEligible {
            reason: "Lossless mode: no eligible replica holds every transaction the others hold; promoting \
                     any could lose acknowledged transactions (force to accept that)"
                .to_owned(),
        };
    }
    let size = |candidate: &Candidate| candidate.holdings.as_ref().map_or(0, Holdings::size);
    let most = eligible
        .iter()
        .map(|candidate| size(candidate))
        .max()
        .unwrap_or(0);
    match eligible.iter().find(|candidate| size(candidate) == most) {
        Some(best) => Choice::Chosen {
            name: best.name.clone(),
            why: format!(
                "{}, the eligible replica holding the most, although no replica holds everything ({})",
                best.name,
                lacking(best).join("; ")
            ),
        },
        None => Choice::NoneEligible {
            reason: "no replica can be promoted".to_owned(),
        },
    }
}
