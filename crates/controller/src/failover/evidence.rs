//! Readings about the primary, sorted into independent vantage points.
//!
//! A single view of a remote server cannot tell "the server died" from "my
//! path to it broke". GitHub's 43-second partition in 2018 promoted primaries
//! that were still writing. So every reading is classified, and readings are
//! grouped by *where they are taken from*, because readings from one place
//! fail together:
//!
//! - **Host**: the controller's own MySQL check, the primary Pod's status and
//!   its Node's Ready condition. All three are the host cluster's view and
//!   travel over the same host ↔ member link (a virtual node's Pod and Node
//!   status are mirrored over it), so a partition of that link silences or
//!   fails all of them at once: they are **one** vantage point.
//! - **Replica R**, for each replica: its sidecar's probe of the primary and
//!   its replication IO thread with its heartbeat age. Both use R's own path to
//!   the primary: **one** vantage point per replica. Replicas sit on distinct
//!   nodes, normally in distinct clusters, so their paths are independent.
//!
//! Each reading is *alive*, *failing hard*, *failing soft* or *neutral*:
//!
//! | reading | classified |
//! |---|---|
//! | MySQL check or probe `Alive` | alive |
//! | `Refused` (the host answers, nothing listens) | hard |
//! | `Stalled` (answers, heartbeat not visible), `Timeout`, `Unreachable` | soft |
//! | Pod container terminated or restarting, Pod deleted | hard |
//! | Pod `Running` or `Unknown` | neutral: a running container may be hung |
//! | Node `NotReady` or `Unknown` | soft: the host lost contact, which a WAN blip also causes |
//! | Node `Ready` | neutral |
//! | IO thread `Running`, heartbeat advanced within `heartbeat_fresh_within` | alive |
//! | IO thread `Connecting` | soft |
//! | IO thread `Running` with a stale or unknown heartbeat, or `Stopped` | neutral |
//!
//! A vantage point's verdict is *alive* if any of its readings is, else
//! *failing hard* if any reading is hard, else *failing soft* if any is soft,
//! else *silent*. Readings older than `evidence_ttl` are dropped first, so a
//! vantage point that stopped reporting is silent, not failing.

use std::fmt;

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::ThreadState;
use serde::{Deserialize, Serialize};

use super::observations::{Observations, Observed, ReplicaObservation};
use super::spec::{DecisionSpec, elapsed, seconds};

/// Outcome of a MySQL-level check of the primary, by the controller or by a
/// replica's sidecar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reachability {
    /// It connected and answered (for the controller: and its heartbeat write
    /// is visible).
    Alive,
    /// It connected and answered queries, but its heartbeat is not advancing:
    /// the server may be hung on writes. Soft.
    Stalled,
    /// The connection was refused while the host answered: nothing listens on
    /// the MySQL port. Hard.
    Refused,
    /// The connection or the query timed out. Soft.
    Timeout,
    /// No route, or the host did not answer. Soft.
    Unreachable,
}

/// The primary Pod, as the API server shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PodState {
    /// The database container is running.
    Running,
    /// The database container terminated. Hard.
    ContainerTerminated,
    /// The database container is restarting (waiting, or it restarted since
    /// the last look). Hard.
    ContainerRestarting,
    /// The Pod is gone or being deleted. Hard.
    Deleted,
    /// Pending, or its status is not known.
    Unknown,
}

/// The Ready condition of the primary's Node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// `Ready=True`.
    Ready,
    /// `Ready=False`: for a virtual node, the member cluster is lost. Soft.
    NotReady,
    /// `Ready=Unknown` (the node stopped reporting) or no condition. Soft.
    Unknown,
}

/// How strongly a failing reading says the primary is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strength {
    /// Also produced by a network blip: must persist `detectionSeconds`.
    Soft,
    /// Only produced by a dead server: acts at once.
    Hard,
}

/// Where readings come from; readings from one vantage point fail together.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub enum VantagePoint {
    /// The host cluster: the controller's check, the Pod and its Node.
    Host,
    /// One replica: its sidecar's probe and its replication IO thread.
    Replica(String),
}

impl fmt::Display for VantagePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host => f.write_str("the host cluster"),
            Self::Replica(name) => write!(f, "replica {name}"),
        }
    }
}

/// What one reading says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// The primary answers.
    Alive,
    /// The primary looks gone.
    Failing(Strength),
    /// Says nothing either way.
    Neutral,
}

/// One classified reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signal {
    /// What it says.
    pub reading: Reading,
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// For people: where it came from and what it was.
    pub detail: String,
}

/// A vantage point's verdict on the primary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// At least one reading shows the primary answering.
    Alive,
    /// No reading shows it answering, and at least one shows it gone.
    Failing(Strength),
    /// No current reading says anything.
    Silent,
}

/// The readings of one vantage point and its verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// Where.
    pub vantage: VantagePoint,
    /// Its current (not expired) readings.
    pub signals: Vec<Signal>,
    /// What they add up to.
    pub verdict: Verdict,
}

impl View {
    fn new(vantage: VantagePoint, signals: Vec<Signal>) -> Self {
        let any = |wanted: Reading| signals.iter().any(|signal| signal.reading == wanted);
        let verdict = if any(Reading::Alive) {
            Verdict::Alive
        } else if any(Reading::Failing(Strength::Hard)) {
            Verdict::Failing(Strength::Hard)
        } else if any(Reading::Failing(Strength::Soft)) {
            Verdict::Failing(Strength::Soft)
        } else {
            Verdict::Silent
        };
        Self {
            vantage,
            signals,
            verdict,
        }
    }

    /// Whether the verdict is failing, hard or soft.
    pub fn is_failing(&self) -> bool {
        matches!(self.verdict, Verdict::Failing(_))
    }

    /// The earliest and newest time a current reading showed the primary gone.
    pub fn failing_span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let times = self
            .signals
            .iter()
            .filter(|signal| matches!(signal.reading, Reading::Failing(_)))
            .map(|signal| signal.at);
        let earliest = times.clone().min()?;
        Some((earliest, times.max()?))
    }

    /// The readings that led to the verdict, for reasons.
    pub fn describe(&self) -> String {
        let wanted = |signal: &&Signal| match self.verdict {
            Verdict::Alive => signal.reading == Reading::Alive,
            Verdict::Failing(_) => matches!(signal.reading, Reading::Failing(_)),
            Verdict::Silent => false,
        };
        let details: Vec<&str> = self
            .signals
            .iter()
            .filter(wanted)
            .map(|signal| signal.detail.as_str())
            .collect();
        format!("{} ({})", self.vantage, details.join(", "))
    }
}

/// Every vantage point's view of the primary at `now`: the host first, then the
/// replicas in observation order.
pub fn views(observations: &Observations, spec: &DecisionSpec, now: DateTime<Utc>) -> Vec<View> {
    let current = |at: DateTime<Utc>| elapsed(at, now) <= spec.evidence_ttl;
    let mut host = Vec::new();
    if let Some(check) = &observations.controller_check {
        host.push(reachability_signal("controller check", check));
    }
    if let Some(pod) = &observations.pod {
        host.push(pod_signal(pod));
    }
    if let Some(node) = &observations.node {
        host.push(node_signal(node));
    }
    host.retain(|signal| current(signal.at));
    let replicas = observations.replicas.iter().map(|replica| {
        let mut signals = replica_signals(replica, spec);
        signals.retain(|signal| current(signal.at));
        View::new(VantagePoint::Replica(replica.name.clone()), signals)
    });
    std::iter::once(View::new(VantagePoint::Host, host))
        .chain(replicas)
        .collect()
}

fn reachability_signal(source: &str, observed: &Observed<Reachability>) -> Signal {
    let (reading, what) = match observed.value {
        Reachability::Alive => (Reading::Alive, "alive"),
        Reachability::Stalled => (
            Reading::Failing(Strength::Soft),
            "answers but its heartbeat is stalled",
        ),
        Reachability::Refused => (Reading::Failing(Strength::Hard), "connection refused"),
        Reachability::Timeout => (Reading::Failing(Strength::Soft), "timed out"),
        Reachability::Unreachable => (Reading::Failing(Strength::Soft), "unreachable"),
    };
    Signal {
        reading,
        at: observed.at,
        detail: format!("{source}: {what}"),
    }
}

fn pod_signal(observed: &Observed<PodState>) -> Signal {
    let (reading, what) = match observed.value {
        PodState::Running => (Reading::Neutral, "Pod running"),
        PodState::ContainerTerminated => (Reading::Failing(Strength::Hard), "database container terminated"),
        PodState::ContainerRestarting => (Reading::Failing(Strength::Hard), "database container restarting"),
        PodState::Deleted => (Reading::Failing(Strength::Hard), "Pod deleted"),
        PodState::Unknown => (Reading::Neutral, "Pod status unknown"),
    };
    Signal {
        reading,
        at: observed.at,
        detail: what.to_owned(),
    }
}

fn node_signal(observed: &Observed<NodeState>) -> Signal {
    let (reading, what) = match observed.value {
        NodeState::Ready => (Reading::Neutral, "Node Ready"),
        NodeState::NotReady => (Reading::Failing(Strength::Soft), "Node NotReady"),
        NodeState::Unknown => (Reading::Failing(Strength::Soft), "Node readiness unknown"),
    };
    Signal {
        reading,
        at: observed.at,
        detail: what.to_owned(),
    }
}

fn replica_signals(replica: &ReplicaObservation, spec: &DecisionSpec) -> Vec<Signal> {
    let mut signals = Vec::new();
    if let Some(probe) = &replica.probe {
        signals.push(reachability_signal("sidecar probe", probe));
    }
    if let Some(server) = &replica.server {
        let heartbeat = server.value.heartbeat_age;
        let fresh = heartbeat.is_some_and(|age| age <= spec.heartbeat_fresh_within);
        let (reading, detail) = match server.value.io_thread {
            ThreadState::Running if fresh => (
                Reading::Alive,
                format!(
                    "IO thread running, heartbeat {} old",
                    seconds(heartbeat.unwrap_or_default())
                ),
            ),
            ThreadState::Running => (
                Reading::Neutral,
                match heartbeat {
                    Some(age) => format!("IO thread running, heartbeat stale ({} old)", seconds(age)),
                    None => "IO thread running, heartbeat age unknown".to_owned(),
                },
            ),
            ThreadState::Connecting => (
                Reading::Failing(Strength::Soft),
                "IO thread reconnecting".to_owned(),
            ),
            ThreadState::Stopped => (Reading::Neutral, "IO thread stopped".to_owned()),
        };
        signals.push(Signal {
            reading,
            at: server.at,
            detail,
        });
    }
    signals
}
