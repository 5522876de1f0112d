//! Fixtures for the decision's tests: a three-instance DRMySQL `db` (primary
//! `db-0`, replicas `db-1` and `db-2`, MySQL GTIDs) in named situations, and a
//! runner that feeds a timed sequence of observations through
//! [`step`](super::step).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use drmysql_api::drmysql::{
    FailbackPolicy, FailoverPolicy, FailoverProgress, FailoverRecord, InstanceRole, ReplicationMode,
    ThreadState, TransitionKind, TransitionOutcome, TransitionStep,
};

use super::{
    Decision, DecisionSpec, GtidFlavor, GtidOrigin, Memory, NodeState, Observations, Observed, PodState,
    PrimaryServer, Reachability, ReplicaObservation, ReplicaServer, Transitions, step,
};

pub const PRIMARY: &str = "db-0";
pub const R1: &str = "db-1";
pub const R2: &str = "db-2";
/// The primary's server UUID: the origin of every legitimate transaction.
pub const P: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
/// Another server's UUID: a transaction from it is errant.
pub const E: &str = "7a07cd08-ac1b-11e2-9fcd-0800279c4fd9";

/// `seconds` after a fixed instant.
pub fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("a valid instant")
        + chrono::TimeDelta::seconds(seconds)
}

pub fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

/// Defaults of the CRD: Automatic, Async, 10 s detection, 300 s cooldown,
/// 30 s RPO guard, 1 s heartbeats.
pub fn spec(policy: FailoverPolicy, mode: ReplicationMode) -> DecisionSpec {
    DecisionSpec {
        name: "db".to_owned(),
        policy,
        mode,
        detection: secs(10),
        cooldown: secs(300),
        max_lag_for_failover: secs(30),
        heartbeat_fresh_within: secs(4),
        evidence_ttl: secs(8),
        instance_order: vec![PRIMARY.to_owned(), R1.to_owned(), R2.to_owned()],
        failback: FailbackPolicy::Manual,
    }
}

pub fn automatic() -> DecisionSpec {
    spec(FailoverPolicy::Automatic, ReplicationMode::Async)
}

/// `P:1-n`.
pub fn gtids(n: u64) -> String {
    format!("{P}:1-{n}")
}

pub fn replica_server(executed: &str, received: &str) -> ReplicaServer {
    ReplicaServer {
        io_thread: ThreadState::Running,
        sql_thread: ThreadState::Running,
        heartbeat_age: Some(Duration::from_millis(500)),
        newest_heartbeat: None,
        last_lag: Some(Duration::from_millis(200)),
        executed: executed.to_owned(),
        received: received.to_owned(),
    }
}

/// Everything fine at `at`: 100 transactions everywhere, heartbeats current.
pub fn healthy(at: DateTime<Utc>) -> Observations {
    let replica = |name: &str| ReplicaObservation {
        name: name.to_owned(),
        role: InstanceRole::Replica,
        probe: Some(Observed::new(Reachability::Alive, at)),
        server: Some(Observed::new(
            ReplicaServer {
                newest_heartbeat: Some(at),
                ..replica_server(&gtids(100), &gtids(100))
            },
            at,
        )),
    };
    Observations {
        primary: PRIMARY.to_owned(),
        flavor: GtidFlavor::MySql,
        controller_check: Some(Observed::new(Reachability::Alive, at)),
        primary_server: Some(Observed::new(
            PrimaryServer {
                gtids: gtids(100),
                origin: GtidOrigin::ServerUuid(P.to_owned()),
                read_only: false,
                newest_heartbeat: Some(at),
            },
            at,
        )),
        pod: Some(Observed::new(PodState::Running, at)),
        node: Some(Observed::new(NodeState::Ready, at)),
        replicas: vec![replica(R1), replica(R2)],
        request: None,
    }
}

/// mysqld killed at once: refused everywhere, the container restarting, the
/// replicas' IO threads reconnecting.
pub fn killed(at: DateTime<Utc>) -> Observations {
    let mut observations = healthy(at);
    observations.controller_check = Some(Observed::new(Reachability::Refused, at));
    observations.primary_server = None;
    observations.pod = Some(Observed::new(PodState::ContainerRestarting, at));
    for replica in &mut observations.replicas {
        replica.probe = Some(Observed::new(Reachability::Refused, at));
        lose_primary(replica);
    }
    observations
}

/// The primary's whole cluster cut off: only soft evidence everywhere.
pub fn site_lost(at: DateTime<Utc>) -> Observations {
    let mut observations = healthy(at);
    observations.controller_check = Some(Observed::new(Reachability::Timeout, at));
    observations.primary_server = None;
    observations.node = Some(Observed::new(NodeState::NotReady, at));
    for replica in &mut observations.replicas {
        replica.probe = Some(Observed::new(Reachability::Timeout, at));
        lose_primary(replica);
    }
    observations
}

/// Only the controller lost the primary: its check times out and the virtual
/// node went NotReady, while both replicas still replicate from it.
pub fn controller_partitioned(at: DateTime<Utc>) -> Observations {
    let mut observations = healthy(at);
    observations.controller_check = Some(Observed::new(Reachability::Timeout, at));
    observations.primary_server = None;
    observations.node = Some(Observed::new(NodeState::NotReady, at));
    observations
}

/// A replica that lost its source: IO thread reconnecting, heartbeat frozen.
pub fn lose_primary(replica: &mut ReplicaObservation) {
    if let Some(server) = &mut replica.server {
        server.value.io_thread = ThreadState::Connecting;
        server.value.heartbeat_age = Some(Duration::from_secs(30));
    }
}

pub fn replica_mut<'a>(observations: &'a mut Observations, name: &str) -> &'a mut ReplicaObservation {
    observations
        .replicas
        .iter_mut()
        .find(|replica| replica.name == name)
        .expect("the replica exists")
}

pub fn server_mut<'a>(observations: &'a mut Observations, name: &str) -> &'a mut ReplicaServer {
    &mut replica_mut(observations, name)
        .server
        .as_mut()
        .expect("the replica was read")
        .value
}

/// Feeds `steps` through `step` from `memory`, returning the final memory and
/// every decision.
pub fn run_from(
    memory: Memory,
    spec: &DecisionSpec,
    transitions: &Transitions<'_>,
    steps: impl IntoIterator<Item = (DateTime<Utc>, Observations)>,
) -> (Memory, Vec<Decision>) {
    let mut memory = memory;
    let mut decisions = Vec::new();
    for (now, observations) in steps {
        let (next, decision) = step(&memory, &observations, spec, transitions, now);
        memory = next;
        decisions.push(decision);
    }
    (memory, decisions)
}

/// A healthy history up to `t(0)` (so the primary's GTIDs and heartbeat are
/// known), then `steps`.
pub fn run(
    spec: &DecisionSpec,
    transitions: &Transitions<'_>,
    steps: impl IntoIterator<Item = (DateTime<Utc>, Observations)>,
) -> (Memory, Vec<Decision>) {
    let (memory, _) = run_from(Memory::default(), spec, transitions, [(t(-1), healthy(t(-1)))]);
    run_from(memory, spec, transitions, steps)
}

/// The last decision of `run`.
pub fn last(spec: &DecisionSpec, steps: impl IntoIterator<Item = (DateTime<Utc>, Observations)>) -> Decision {
    let (_, decisions) = run(spec, &Transitions::default(), steps);
    decisions.last().cloned().expect("at least one step")
}

pub fn record(
    kind: TransitionKind,
    outcome: TransitionOutcome,
    finished_at: DateTime<Utc>,
) -> FailoverRecord {
    FailoverRecord {
        kind,
        from: "db-9".to_owned(),
        to: PRIMARY.to_owned(),
        reason: "earlier".to_owned(),
        started_at: finished_at - chrono::TimeDelta::seconds(2),
        finished_at,
        outcome,
        message: None,
        lost_gtids: None,
        forced: false,
        duration_seconds: Some(2.0),
        promoted_gtids: None,
        rpo_seconds: None,
    }
}

pub fn progress(kind: TransitionKind, target: &str, step: TransitionStep) -> FailoverProgress {
    FailoverProgress {
        kind,
        from: PRIMARY.to_owned(),
        target: target.to_owned(),
        step,
        started_at: t(-5),
        reason: "the primary is lost".to_owned(),
        forced: false,
        fenced_at: None,
        promoted_at: None,
        old_primary_gtids: None,
        promoted_gtids: None,
        lag_at_start_seconds: None,
    }
}
