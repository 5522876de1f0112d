//! Property tests: random specs and random sequences of observations, with
//! the decision's invariants checked at every step against oracles written
//! independently of the implementation.
//!
//! Sequences repeat a base situation with occasional different steps, so that
//! evidence persists long enough to cross the detection window, and readings
//! carry random ages, so that expiry is exercised too.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use drmysql_api::drmysql::{
    FailbackPolicy, FailoverPolicy, FailoverProgress, FailoverRecord, InstanceRole, ReplicationMode,
    ThreadState, TransitionKind, TransitionOutcome, TransitionStep,
};
use proptest::prelude::*;

use super::testkit::{E, P, PRIMARY, t};
use super::*;

const NAMES: [&str; 3] = ["db-1", "db-2", "db-3"];

#[derive(Clone, Debug)]
struct RawServer {
    io: ThreadState,
    sql: ThreadState,
    heartbeat_age_ms: Option<u64>,
    heartbeat_behind_ms: Option<u64>,
    last_lag_ms: Option<u64>,
    executed: u64,
    extra_received: u64,
    errant: bool,
}

#[derive(Clone, Debug)]
struct RawReplica {
    role: InstanceRole,
    probe: Option<(Reachability, u64)>,
    server: Option<(RawServer, u64)>,
}

#[derive(Clone, Debug)]
struct RawStep {
    controller: Option<(Reachability, u64)>,
    primary_server: Option<(u64, bool, u64)>,
    pod: Option<(PodState, u64)>,
    node: Option<(NodeState, u64)>,
    replicas: Vec<RawReplica>,
    request: Option<(bool, usize, bool)>,
}

fn reachability() -> impl Strategy<Value = Reachability> {
    prop_oneof![
        3 => Just(Reachability::Alive),
        1 => Just(Reachability::Stalled),
        3 => Just(Reachability::Refused),
        2 => Just(Reachability::Timeout),
        2 => Just(Reachability::Unreachable),
    ]
}

fn thread() -> impl Strategy<Value = ThreadState> {
    prop_oneof![
        Just(ThreadState::Running),
        Just(ThreadState::Connecting),
        Just(ThreadState::Stopped)
    ]
}

/// A reading's age in milliseconds: mostly current, sometimes expired.
fn age() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..3_000, 1 => 3_000u64..15_000]
}

fn raw_server() -> impl Strategy<Value = RawServer> {
    (
        thread(),
        prop_oneof![5 => Just(ThreadState::Running), 1 => Just(ThreadState::Stopped)],
        proptest::option::weighted(0.9, 0u64..10_000),
        proptest::option::weighted(0.9, 0u64..40_000),
        proptest::option::weighted(0.8, 0u64..40_000),
        45u64..60,
        prop_oneof![2 => Just(0u64), 1 => 1u64..5],
        proptest::bool::weighted(0.15),
    )
        .prop_map(
            |(
                io,
                sql,
                heartbeat_age_ms,
                heartbeat_behind_ms,
                last_lag_ms,
                executed,
                extra_received,
                errant,
            )| {
                RawServer {
                    io,
                    sql,
                    heartbeat_age_ms,
                    heartbeat_behind_ms,
                    last_lag_ms,
                    executed,
                    extra_received,
                    errant,
                }
            },
        )
}

fn raw_replica() -> impl Strategy<Value = RawReplica> {
    (
        prop_oneof![
            8 => Just(InstanceRole::Replica),
            1 => Just(InstanceRole::Fenced),
            1 => Just(InstanceRole::Quarantined)
        ],
        proptest::option::weighted(0.8, (reachability(), age())),
        proptest::option::weighted(0.85, (raw_server(), age())),
    )
        .prop_map(|(role, probe, server)| RawReplica { role, probe, server })
}

fn raw_step() -> impl Strategy<Value = RawStep> {
    (
        proptest::option::weighted(0.9, (reachability(), age())),
        proptest::option::weighted(0.8, (45u64..60, proptest::bool::weighted(0.3), age())),
        proptest::option::weighted(
            0.8,
            (
                prop_oneof![
                    Just(PodState::Running),
                    Just(PodState::ContainerTerminated),
                    Just(PodState::ContainerRestarting),
                    Just(PodState::Deleted),
                    Just(PodState::Unknown)
                ],
                age(),
            ),
        ),
        proptest::option::weighted(
            0.8,
            (
                prop_oneof![
                    Just(NodeState::Ready),
                    Just(NodeState::NotReady),
                    Just(NodeState::Unknown)
                ],
                age(),
            ),
        ),
        prop::collection::vec(raw_replica(), 1..=3),
        proptest::option::weighted(0.2, (any::<bool>(), 0usize..4, proptest::bool::weighted(0.3))),
    )
        .prop_map(
            |(controller, primary_server, pod, node, replicas, request)| RawStep {
                controller,
                primary_server,
                pod,
                node,
                replicas,
                request,
            },
        )
}

/// A base step repeated, with about one step in four replaced, and the time
/// between steps.
fn sequence() -> impl Strategy<Value = Vec<(u64, RawStep)>> {
    (
        raw_step(),
        prop::collection::vec((0u64..6_000, proptest::option::weighted(0.25, raw_step())), 1..12),
    )
        .prop_map(|(base, steps)| {
            steps
                .into_iter()
                .map(|(dt, step)| (dt, step.unwrap_or_else(|| base.clone())))
                .collect()
        })
}

fn decision_spec() -> impl Strategy<Value = DecisionSpec> {
    (
        prop_oneof![Just(FailoverPolicy::Automatic), Just(FailoverPolicy::Manual)],
        prop_oneof![Just(ReplicationMode::Async), Just(ReplicationMode::Lossless)],
        1u64..15,
        0u64..600,
        0u64..60,
        5u64..15,
        prop_oneof![Just(FailbackPolicy::Manual), Just(FailbackPolicy::Automatic)],
        // Where spec.primary places: the current primary, or a replica (after
        // a failover), which an automatic failback returns to.
        0usize..=NAMES.len(),
    )
        .prop_map(
            |(policy, mode, detection, cooldown, max_lag, ttl, failback, preferred)| DecisionSpec {
                name: "db".to_owned(),
                policy,
                mode,
                detection: Duration::from_secs(detection),
                cooldown: Duration::from_secs(cooldown),
                max_lag_for_failover: Duration::from_secs(max_lag),
                heartbeat_fresh_within: Duration::from_secs(4),
                evidence_ttl: Duration::from_secs(ttl),
                instance_order: {
                    let mut order: Vec<String> =
                        std::iter::once(PRIMARY).chain(NAMES).map(str::to_owned).collect();
                    order.rotate_left(preferred);
                    order
                },
                failback,
            },
        )
}

fn history() -> impl Strategy<Value = Vec<FailoverRecord>> {
    proptest::option::weighted(
        0.5,
        (
            prop_oneof![Just(TransitionKind::Failover), Just(TransitionKind::Switchover)],
            prop_oneof![
                Just(TransitionOutcome::Succeeded),
                Just(TransitionOutcome::Aborted),
                Just(TransitionOutcome::Failed)
            ],
            0i64..900,
        ),
    )
    .prop_map(|record| {
        record
            .map(|(kind, outcome, ago)| super::testkit::record(kind, outcome, t(-ago)))
            .into_iter()
            .collect()
    })
}

fn before(now: DateTime<Utc>, millis: u64) -> DateTime<Utc> {
    now - TimeDelta::milliseconds(i64::try_from(millis).unwrap_or(i64::MAX))
}

fn materialise(raw: &RawStep, now: DateTime<Utc>) -> Observations {
    fn observed_at<T>(now: DateTime<Utc>) -> impl Fn(T, u64) -> Observed<T> {
        move |value, age_ms| Observed::new(value, before(now, age_ms))
    }
    let replicas = raw
        .replicas
        .iter()
        .zip(NAMES)
        .map(|(replica, name)| ReplicaObservation {
            name: name.to_owned(),
            role: replica.role,
            probe: replica.probe.map(|(value, age)| observed_at(now)(value, age)),
            server: replica.server.as_ref().map(|(server, age)| {
                let mut executed = format!("{P}:1-{}", server.executed);
                if server.errant {
                    executed.push_str(&format!(",{E}:1"));
                }
                Observed::new(
                    ReplicaServer {
                        io_thread: server.io,
                        sql_thread: server.sql,
                        heartbeat_age: server.heartbeat_age_ms.map(Duration::from_millis),
                        newest_heartbeat: server.heartbeat_behind_ms.map(|behind| before(now, behind)),
                        last_lag: server.last_lag_ms.map(Duration::from_millis),
                        executed,
                        received: format!("{P}:1-{}", server.executed + server.extra_received),
                    },
                    before(now, *age),
                )
            }),
        })
        .collect();
    let request = raw.request.map(|(failover, index, force)| {
        let to = NAMES.get(index).copied().unwrap_or(PRIMARY).to_owned();
        if failover {
            Request::FailOver { to, force }
        } else {
            Request::SwitchOver {
                to: (index < 3).then_some(to),
            }
        }
    });
    Observations {
        primary: PRIMARY.to_owned(),
        flavor: GtidFlavor::MySql,
        controller_check: raw.controller.map(|(value, age)| observed_at(now)(value, age)),
        primary_server: raw.primary_server.map(|(count, read_only, age)| {
            observed_at(now)(
                PrimaryServer {
                    gtids: format!("{P}:1-{count}"),
                    origin: GtidOrigin::ServerUuid(P.to_owned()),
                    read_only,
                    newest_heartbeat: Some(before(now, age)),
                },
                age,
            )
        }),
        pod: raw.pod.map(|(value, age)| observed_at(now)(value, age)),
        node: raw.node.map(|(value, age)| observed_at(now)(value, age)),
        replicas,
        request,
    }
}

// ---- oracles, written from the rules, not from the code ------------------------------

fn current(at: DateTime<Utc>, spec: &DecisionSpec, now: DateTime<Utc>) -> bool {
    (now - at).to_std().unwrap_or(Duration::ZERO) <= spec.evidence_ttl
}

fn seen_alive(observations: &Observations, spec: &DecisionSpec, now: DateTime<Utc>) -> bool {
    let controller = observations
        .controller_check
        .as_ref()
        .is_some_and(|c| c.value == Reachability::Alive && current(c.at, spec, now));
    let replica = observations.replicas.iter().any(|replica| {
        let probe = replica
            .probe
            .as_ref()
            .is_some_and(|p| p.value == Reachability::Alive && current(p.at, spec, now));
        let io = replica.server.as_ref().is_some_and(|s| {
            current(s.at, spec, now)
                && s.value.io_thread == ThreadState::Running
                && s.value
                    .heartbeat_age
                    .is_some_and(|age| age <= spec.heartbeat_fresh_within)
        });
        probe || io
    });
    controller || replica
}

/// Per vantage point that has no sign of life of its own:
/// `(earliest failing reading, newest failing reading, hard)`.
fn failing(
    observations: &Observations,
    spec: &DecisionSpec,
    now: DateTime<Utc>,
) -> BTreeMap<String, (DateTime<Utc>, DateTime<Utc>, bool)> {
    let mut result: BTreeMap<String, (DateTime<Utc>, DateTime<Utc>, bool)> = BTreeMap::new();
    let mut alive: Vec<String> = Vec::new();
    let mut add = |vantage: &str, at: DateTime<Utc>, hard: bool| {
        if !current(at, spec, now) {
            return;
        }
        let entry = result.entry(vantage.to_owned()).or_insert((at, at, hard));
        entry.0 = entry.0.min(at);
        entry.1 = entry.1.max(at);
        entry.2 |= hard;
    };
    if let Some(check) = &observations.controller_check
        && current(check.at, spec, now)
    {
        if check.value == Reachability::Alive {
            alive.push("host".to_owned());
        } else {
            add("host", check.at, check.value == Reachability::Refused);
        }
    }
    if let Some(pod) = &observations.pod
        && !matches!(pod.value, PodState::Running | PodState::Unknown)
    {
        add("host", pod.at, true);
    }
    if let Some(node) = &observations.node
        && node.value != NodeState::Ready
    {
        add("host", node.at, false);
    }
    for replica in &observations.replicas {
        if let Some(probe) = &replica.probe
            && current(probe.at, spec, now)
        {
            if probe.value == Reachability::Alive {
                alive.push(replica.name.clone());
            } else {
                add(&replica.name, probe.at, probe.value == Reachability::Refused);
            }
        }
        if let Some(server) = &replica.server
            && current(server.at, spec, now)
        {
            match server.value.io_thread {
                ThreadState::Connecting => add(&replica.name, server.at, false),
                ThreadState::Running
                    if server
                        .value
                        .heartbeat_age
                        .is_some_and(|age| age <= spec.heartbeat_fresh_within) =>
                {
                    alive.push(replica.name.clone());
                }
                _ => {}
            }
        }
    }
    result.retain(|vantage, _| !alive.contains(vantage));
    result
}

struct Oracle {
    /// Start of each vantage point's uninterrupted failing run.
    runs: BTreeMap<String, DateTime<Utc>>,
    newest_heartbeat: Option<DateTime<Utc>>,
}

impl Oracle {
    fn observe(&mut self, observations: &Observations, spec: &DecisionSpec, now: DateTime<Utc>) {
        self.runs = failing(observations, spec, now)
            .iter()
            .map(|(vantage, (earliest, _, _))| {
                let start = self
                    .runs
                    .get(vantage)
                    .map_or(*earliest, |start| (*start).min(*earliest));
                (vantage.clone(), start)
            })
            .collect();
        let heartbeats = observations
            .primary_server
            .iter()
            .filter_map(|s| s.value.newest_heartbeat)
            .chain(
                observations
                    .replicas
                    .iter()
                    .filter_map(|r| r.server.as_ref()?.value.newest_heartbeat),
            );
        self.newest_heartbeat = self.newest_heartbeat.into_iter().chain(heartbeats).max();
    }

    /// Vantage points convinced the primary is lost.
    fn convinced(&self, observations: &Observations, spec: &DecisionSpec, now: DateTime<Utc>) -> usize {
        failing(observations, spec, now)
            .iter()
            .filter(|(vantage, (_, newest, hard))| {
                *hard
                    || self.runs.get(*vantage).is_some_and(|start| {
                        let until = *start + TimeDelta::from_std(spec.detection).unwrap_or_default();
                        until <= now && *newest >= until
                    })
            })
            .count()
    }
}

fn lag_of(server: &ReplicaServer, newest_heartbeat: Option<DateTime<Utc>>) -> Option<Duration> {
    let gap = newest_heartbeat
        .zip(server.newest_heartbeat)
        .map(|(newest, applied)| (newest - applied).to_std().unwrap_or(Duration::ZERO));
    server.last_lag.into_iter().chain(gap).max()
}

fn check_step(
    spec: &DecisionSpec,
    observations: &Observations,
    memory: &Memory,
    transitions: &Transitions<'_>,
    oracle: &Oracle,
    now: DateTime<Utc>,
    decision: &Decision,
) -> Result<(), TestCaseError> {
    prop_assert!(!decision.reason().is_empty());
    prop_assert_eq!(
        decision,
        &decide(observations, spec, memory, transitions, now),
        "deterministic"
    );
    prop_assert_eq!(
        memory,
        &remember(memory, observations, spec, now),
        "remembering is idempotent"
    );

    if let Decision::SwitchOver { to, resume, .. } = decision {
        prop_assert!(to != PRIMARY);
        let requested = matches!(observations.request, Some(Request::SwitchOver { .. }));
        if resume.is_none() && !requested {
            // Only an automatic failback switches over unasked: to spec.primary,
            // a cooldown after the last transition.
            prop_assert_eq!(spec.failback, FailbackPolicy::Automatic, "unrequested switchover");
            prop_assert_eq!(Some(to.as_str()), spec.preferred_primary(), "failback elsewhere");
            if let Some(finished) = transitions.last_finished() {
                let until = finished + TimeDelta::from_std(spec.cooldown).unwrap_or_default();
                prop_assert!(now >= until, "failback within the cooldown");
            }
        }
        if decision.may_promote().is_some() {
            let fenced = observations
                .primary_server
                .as_ref()
                .is_some_and(|s| s.value.read_only && current(s.at, spec, now));
            prop_assert!(
                fenced,
                "a switchover promotes only after the old primary is read-only"
            );
        }
    }
    let Decision::FailOver {
        to,
        forced,
        resume: None,
        ..
    } = decision
    else {
        return Ok(());
    };
    // Never two writable primaries: the primary is lost by agreement.
    prop_assert!(
        !seen_alive(observations, spec, now),
        "failover while the primary is seen alive"
    );
    prop_assert!(
        oracle.convinced(observations, spec, now) >= 2,
        "failover without two convinced vantage points"
    );
    let target = observations.replica(to);
    prop_assert!(
        target.is_some_and(|r| r.role == InstanceRole::Replica),
        "target must be a replica"
    );
    let server = target
        .and_then(|r| r.server.as_ref())
        .map(|s| &s.value)
        .ok_or_else(|| TestCaseError::fail("the target was read"))?;
    prop_assert!(!server.executed.contains(E), "errant target {}", server.executed);
    let request = match &observations.request {
        Some(Request::FailOver { to, force }) => Some((to.clone(), *force)),
        _ => memory.approval.as_ref().map(|a| (a.to.clone(), a.force)),
    };
    if let Some((requested, force)) = &request {
        prop_assert_eq!(requested, to);
        prop_assert_eq!(force, forced);
    } else {
        prop_assert!(!forced);
        prop_assert_eq!(
            spec.policy,
            FailoverPolicy::Automatic,
            "Manual never promotes by itself"
        );
        if let Some(finished) = transitions.last_failover_finished() {
            let until = finished + TimeDelta::from_std(spec.cooldown).unwrap_or_default();
            prop_assert!(now >= until, "automatic failover within the cooldown");
        }
    }
    if spec.mode == ReplicationMode::Async && !forced {
        let lag = lag_of(server, oracle.newest_heartbeat);
        prop_assert!(
            lag.is_some_and(|lag| lag <= spec.max_lag_for_failover),
            "lag guard: {:?} > {:?}",
            lag,
            spec.max_lag_for_failover
        );
    }
    if spec.mode == ReplicationMode::Lossless && decision.may_promote().is_some() {
        prop_assert_eq!(server.io_thread, ThreadState::Stopped);
        prop_assert!(server.received == server.executed, "relay log not applied");
    }
    Ok(())
}

proptest! {
    // About one sequence in four ends in a failover; a thousand sequences check
    // a few hundred promotions in about a second (debug build).
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn every_decision_keeps_the_invariants(
        spec in decision_spec(),
        history in history(),
        steps in sequence(),
    ) {
        let transitions = Transitions { in_progress: None, history: &history };
        let mut memory = Memory::default();
        let mut oracle = Oracle { runs: BTreeMap::new(), newest_heartbeat: None };
        let mut now = t(0);
        for (dt, raw) in &steps {
            now += TimeDelta::milliseconds(i64::try_from(*dt).unwrap_or(0));
            let observations = materialise(raw, now);
            let (next, decision) = step(&memory, &observations, &spec, &transitions, now);
            memory = next;
            oracle.observe(&observations, &spec, now);
            check_step(&spec, &observations, &memory, &transitions, &oracle, now, &decision)?;
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn a_controller_only_partition_never_fails_over(
        spec in decision_spec(),
        steps in sequence(),
        lost in prop_oneof![Just(Reachability::Timeout), Just(Reachability::Unreachable), Just(Reachability::Refused)],
        witness in 0usize..3,
        by_probe in any::<bool>(),
    ) {
        let mut memory = Memory::default();
        let mut now = t(0);
        for (dt, raw) in &steps {
            now += TimeDelta::milliseconds(i64::try_from(*dt).unwrap_or(0));
            let mut observations = materialise(raw, now);
            observations.controller_check = Some(Observed::new(lost, now));
            observations.node = Some(Observed::new(NodeState::NotReady, now));
            let index = witness % observations.replicas.len();
            let replica = &mut observations.replicas[index];
            if by_probe {
                replica.probe = Some(Observed::new(Reachability::Alive, now));
            } else {
                let mut server = replica.server.clone().map_or_else(
                    || super::testkit::replica_server(&format!("{P}:1-50"), &format!("{P}:1-50")),
                    |server| server.value,
                );
                server.io_thread = ThreadState::Running;
                server.heartbeat_age = Some(Duration::from_millis(500));
                replica.server = Some(Observed::new(server, now));
            }
            let (next, decision) = step(&memory, &observations, &spec, &Transitions::default(), now);
            memory = next;
            prop_assert!(
                !matches!(decision, Decision::FailOver { .. }),
                "failed over on a controller-only partition: {:?}", decision
            );
        }
    }

    #[test]
    fn a_transition_in_progress_keeps_its_target(
        spec in decision_spec(),
        raw in raw_step(),
        target in 0usize..3,
        switchover in any::<bool>(),
        step_index in 0usize..7,
    ) {
        let steps = [
            TransitionStep::FenceOldPrimary,
            TransitionStep::CatchUp,
            TransitionStep::VerifyCandidate,
            TransitionStep::Promote,
            TransitionStep::MoveWriterEndpoint,
            TransitionStep::RepointReplicas,
            TransitionStep::RejoinOldPrimary,
        ];
        let progress = FailoverProgress {
            kind: if switchover { TransitionKind::Switchover } else { TransitionKind::Failover },
            from: PRIMARY.to_owned(),
            target: NAMES[target].to_owned(),
            step: steps[step_index],
            started_at: t(-3),
            reason: "test".to_owned(),
            forced: false,
            fenced_at: None,
            promoted_at: None,
            old_primary_gtids: None,
            promoted_gtids: None,
            lag_at_start_seconds: None,
        };
        let transitions = Transitions { in_progress: Some(&progress), history: &[] };
        let observations = materialise(&raw, t(0));
        let (_, decision) = step(&Memory::default(), &observations, &spec, &transitions, t(0));
        match &decision {
            Decision::FailOver { to, resume, .. } => {
                prop_assert!(!switchover);
                prop_assert_eq!((to.as_str(), *resume), (NAMES[target], Some(steps[step_index])));
            }
            Decision::SwitchOver { to, resume, .. } => {
                prop_assert!(switchover);
                prop_assert_eq!((to.as_str(), *resume), (NAMES[target], Some(steps[step_index])));
            }
            Decision::Refuse { .. } => prop_assert!(step_index < 3, "refused after promotion"),
            other => prop_assert!(false, "a transition in progress gave {:?}", other),
        }
    }
}
