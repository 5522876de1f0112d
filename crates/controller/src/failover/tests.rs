//! One test per rule of the failover decision, over the fixtures in
//! `testkit`: detection and its vetoes, candidate choice, the guards, the
//! Lossless gate, cooldown, Manual policy, transitions in progress,
//! switchover, quarantine, and the memory.

use std::time::Duration;

use drmysql_api::drmysql::{
    FailbackPolicy, FailoverPolicy, FailoverRecord, InstanceRole, ReplicationMode, ThreadState,
    TransitionKind, TransitionOutcome, TransitionStep,
};

use super::testkit::*;
use super::*;

fn assert_fails_over_to(decision: &Decision, expected: &str) {
    match decision {
        Decision::FailOver { to, resume: None, .. } => assert_eq!(to, expected, "{decision:?}"),
        other => panic!("expected a failover to {expected}, got {other:?}"),
    }
}

fn assert_no_promotion(decisions: &[Decision]) {
    for decision in decisions {
        assert!(
            !matches!(decision, Decision::FailOver { .. } | Decision::SwitchOver { .. }),
            "unexpected promotion: {decision:?}"
        );
    }
}

// ---- detection -------------------------------------------------------------

#[test]
fn a_healthy_primary_needs_nothing() {
    let decision = last(&automatic(), [(t(0), healthy(t(0)))]);
    assert!(matches!(decision, Decision::NoAction { .. }), "{decision:?}");
    assert!(decision.reason().contains("alive"), "{}", decision.reason());
}

#[test]
fn a_killed_mysqld_fails_over_at_once_on_two_hard_vantage_points() {
    let decision = last(&automatic(), [(t(0), killed(t(0)))]);
    assert_fails_over_to(&decision, R1);
    assert!(
        decision.reason().contains("hard evidence"),
        "{}",
        decision.reason()
    );
    assert_eq!(decision.may_promote(), Some(R1));
}

#[test]
fn hard_evidence_counts_per_vantage_point_not_per_signal() {
    // Controller refused and container restarting are both the host's view: one
    // vantage point. With the replicas silent, nothing may happen.
    let mut silent_replicas = killed(t(0));
    for replica in &mut silent_replicas.replicas {
        replica.probe = None;
        replica.server = None;
    }
    let steps = (0..60).map(|s| {
        (t(s), {
            let mut o = silent_replicas.clone();
            o.controller_check = o.controller_check.map(|c| Observed::new(c.value, t(s)));
            o.pod = o.pod.map(|p| Observed::new(p.value, t(s)));
            o
        })
    });
    let (_, decisions) = run(&automatic(), &Transitions::default(), steps);
    assert_no_promotion(&decisions);
    let decision = decisions.last().expect("decided");
    assert!(
        matches!(decision, Decision::Wait { until: None, .. }),
        "{decision:?}"
    );
    assert!(decision.reason().contains("second independent vantage point"));
}

#[test]
fn two_replicas_alone_may_agree() {
    let mut observations = killed(t(0));
    observations.controller_check = None;
    observations.pod = None;
    observations.node = None;
    assert_fails_over_to(&last(&automatic(), [(t(0), observations)]), R1);
}

#[test]
fn soft_evidence_must_persist_the_detection_window() {
    let spec = automatic();
    let steps = (0..=10).step_by(2).map(|s| (t(s), site_lost(t(s))));
    let (_, decisions) = run(&spec, &Transitions::default(), steps);
    for decision in &decisions[..decisions.len() - 1] {
        match decision {
            Decision::Wait { until, .. } => assert_eq!(*until, Some(t(10)), "{decision:?}"),
            other => panic!("expected to wait, got {other:?}"),
        }
    }
    let decision = decisions.last().expect("decided");
    assert_fails_over_to(decision, R1);
    assert!(decision.reason().contains("persistent"), "{}", decision.reason());
}

#[test]
fn one_hard_and_one_soft_vantage_point_wait_for_the_soft_one() {
    // Host: refused (hard). Replicas: only their IO threads reconnecting (soft).
    let at = |s: i64| {
        let mut o = killed(t(s));
        for replica in &mut o.replicas {
            replica.probe = None;
        }
        (t(s), o)
    };
    let (_, decisions) = run(&automatic(), &Transitions::default(), [at(0), at(5), at(9)]);
    assert_no_promotion(&decisions);
    assert!(matches!(decisions[0], Decision::Wait { until: Some(until), .. } if until == t(10)));
    let (_, decisions) = run(&automatic(), &Transitions::default(), [at(0), at(5), at(10)]);
    assert_fails_over_to(decisions.last().expect("decided"), R1);
}

#[test]
fn a_wan_blip_shorter_than_the_window_does_not_fail_over() {
    let spec = automatic();
    let mut steps = Vec::new();
    for s in 0..60 {
        // Eight seconds lost, two seconds back, again and again.
        let observations = if s % 10 < 8 {
            site_lost(t(s))
        } else {
            healthy(t(s))
        };
        steps.push((t(s), observations));
    }
    let (_, decisions) = run(&spec, &Transitions::default(), steps);
    assert_no_promotion(&decisions);
}

#[test]
fn the_controller_alone_losing_the_primary_never_fails_over() {
    let spec = automatic();
    let steps = (0..600).step_by(3).map(|s| (t(s), controller_partitioned(t(s))));
    let (_, decisions) = run(&spec, &Transitions::default(), steps);
    assert_no_promotion(&decisions);
    let decision = decisions.last().expect("decided");
    assert!(matches!(decision, Decision::NoAction { .. }), "{decision:?}");
    assert!(decision.reason().contains("partition"), "{}", decision.reason());
}

#[test]
fn any_single_sign_of_life_vetoes() {
    type Edit = fn(&mut Observations);
    let cases: [(&str, Edit); 3] = [
        ("a replica's probe", |o| {
            replica_mut(o, R2).probe = Some(Observed::new(
                Reachability::Alive,
                o.node.as_ref().expect("node").at,
            ));
        }),
        ("a replica's IO thread with a fresh heartbeat", |o| {
            let server = server_mut(o, R2);
            server.io_thread = ThreadState::Running;
            server.heartbeat_age = Some(Duration::from_secs(1));
        }),
        ("the controller's check", |o| {
            o.controller_check = Some(Observed::new(
                Reachability::Alive,
                o.node.as_ref().expect("node").at,
            ));
        }),
    ];
    for (name, edit) in cases {
        let steps = (0..120).step_by(5).map(|s| {
            let mut observations = killed(t(s));
            edit(&mut observations);
            (t(s), observations)
        });
        let (_, decisions) = run(&automatic(), &Transitions::default(), steps);
        assert_no_promotion(&decisions);
        assert!(
            decisions.last().expect("decided").reason().contains("partition"),
            "{name}: {decisions:?}"
        );
    }
}

#[test]
fn neutral_readings_neither_veto_nor_accuse() {
    // IO thread running but the heartbeat is stale: neutral. Pod running: neutral.
    // So the host's refusal plus the replicas' refused probes still decide.
    let mut observations = killed(t(0));
    observations.pod = Some(Observed::new(PodState::Running, t(0)));
    for replica in &mut observations.replicas {
        let server = &mut replica.server.as_mut().expect("read").value;
        server.io_thread = ThreadState::Running;
        server.heartbeat_age = Some(Duration::from_secs(20));
    }
    assert_fails_over_to(&last(&automatic(), [(t(0), observations)]), R1);
}

#[test]
fn a_stalled_primary_that_still_answers_probes_is_not_failed_over() {
    let steps = (0..60).step_by(5).map(|s| {
        let mut observations = healthy(t(s));
        observations.controller_check = Some(Observed::new(Reachability::Stalled, t(s)));
        for replica in &mut observations.replicas {
            replica.server.as_mut().expect("read").value.heartbeat_age = Some(Duration::from_secs(30));
        }
        (t(s), observations)
    });
    let (_, decisions) = run(&automatic(), &Transitions::default(), steps);
    assert_no_promotion(&decisions);
}

#[test]
fn readings_that_stopped_arriving_do_not_count() {
    // The replicas' refusals were read 20 s ago: expired, so only the host speaks.
    let mut observations = killed(t(20));
    for replica in &mut observations.replicas {
        replica.probe = Some(Observed::new(Reachability::Refused, t(0)));
        replica.server = replica
            .server
            .take()
            .map(|server| Observed::new(server.value, t(0)));
    }
    let decision = last(&automatic(), [(t(20), observations)]);
    assert!(
        matches!(decision, Decision::Wait { until: None, .. }),
        "{decision:?}"
    );
}

#[test]
fn a_single_old_soft_reading_proves_no_persistence() {
    let mut spec = automatic();
    spec.evidence_ttl = secs(60);
    // The same readings, taken at t(0), looked at again 15 s later.
    let (_, decisions) = run(
        &spec,
        &Transitions::default(),
        [(t(0), site_lost(t(0))), (t(15), site_lost(t(0)))],
    );
    assert_no_promotion(&decisions);
    assert!(matches!(decisions[1], Decision::Wait { .. }), "{decisions:?}");
}

#[test]
fn silence_interrupts_a_suspicion() {
    let spec = automatic();
    let mut silent = site_lost(t(6));
    for replica in &mut silent.replicas {
        replica.probe = None;
        replica.server = None;
    }
    let steps = [
        (t(0), site_lost(t(0))),
        (t(6), silent),
        (t(10), site_lost(t(10))),
        (t(14), site_lost(t(14))),
    ];
    let (memory, decisions) = run(&spec, &Transitions::default(), steps);
    assert_no_promotion(&decisions);
    assert_eq!(
        memory.suspected_since(&VantagePoint::Replica(R1.to_owned())),
        Some(t(10))
    );
    assert_eq!(memory.suspected_since(&VantagePoint::Host), Some(t(0)));
}

#[test]
fn node_not_ready_alone_on_the_host_side_is_soft() {
    let mut observations = site_lost(t(0));
    observations.controller_check = None;
    for replica in &mut observations.replicas {
        replica.probe = Some(Observed::new(Reachability::Refused, t(0)));
    }
    // Host soft (Node NotReady) + two hard replicas: the replicas already agree.
    assert_fails_over_to(&last(&automatic(), [(t(0), observations)]), R1);
}

// ---- candidates ------------------------------------------------------------

#[test]
fn the_most_advanced_replica_wins_counting_received_transactions() {
    let cases = [
        // (R1 executed, R1 received, R2 executed, R2 received, winner)
        (gtids(100), gtids(100), gtids(105), gtids(105), R2),
        (gtids(100), gtids(110), gtids(105), gtids(105), R1),
        (gtids(100), gtids(100), gtids(100), gtids(100), R1),
        (gtids(90), gtids(100), gtids(100), gtids(100), R1),
    ];
    for (r1_executed, r1_received, r2_executed, r2_received, winner) in cases {
        let mut observations = killed(t(0));
        *server_mut(&mut observations, R1) = ReplicaServer {
            io_thread: ThreadState::Connecting,
            newest_heartbeat: Some(t(-1)),
            ..testkit::replica_server(&r1_executed, &r1_received)
        };
        *server_mut(&mut observations, R2) = ReplicaServer {
            io_thread: ThreadState::Connecting,
            newest_heartbeat: Some(t(-1)),
            ..testkit::replica_server(&r2_executed, &r2_received)
        };
        assert_fails_over_to(&last(&automatic(), [(t(0), observations)]), winner);
    }
}

#[test]
fn equally_advanced_replicas_are_ordered_by_the_spec() {
    let mut spec = automatic();
    spec.instance_order = vec![PRIMARY.to_owned(), R2.to_owned(), R1.to_owned()];
    assert_fails_over_to(&last(&spec, [(t(0), killed(t(0)))]), R2);
}

#[test]
fn a_replica_with_errant_transactions_is_never_promoted() {
    let mut observations = killed(t(0));
    let errant = format!("{},{E}:1-2", gtids(105));
    server_mut(&mut observations, R1).executed = errant.clone();
    server_mut(&mut observations, R1).received = gtids(105);
    assert_fails_over_to(&last(&automatic(), [(t(0), observations.clone())]), R2);

    server_mut(&mut observations, R2).executed = errant;
    let decision = last(&automatic(), [(t(0), observations.clone())]);
    assert!(matches!(decision, Decision::Refuse { .. }), "{decision:?}");
    assert!(decision.reason().contains("errant"), "{}", decision.reason());

    // Not even when a person forces it.
    observations.request = Some(Request::FailOver {
        to: R1.to_owned(),
        force: true,
    });
    let decision = last(&automatic(), [(t(0), observations)]);
    assert!(matches!(decision, Decision::Refuse { .. }), "{decision:?}");
}

#[test]
fn transactions_in_flight_from_the_primary_are_not_errant() {
    let mut observations = killed(t(0));
    // R1 received and applied transactions the primary wrote after its last read.
    server_mut(&mut observations, R1).executed = gtids(104);
    server_mut(&mut observations, R1).received = gtids(104);
    assert_fails_over_to(&last(&automatic(), [(t(0), observations)]), R1);
}

#[test]
fn errant_transactions_cannot_be_ruled_out_without_the_primarys_gtids() {
    let (_, decisions) = run_from(
        Memory::default(),
        &automatic(),
        &Transitions::default(),
        [(t(0), killed(t(0)))],
    );
    let decision = decisions.last().expect("decided");
    assert!(matches!(decision, Decision::Refuse { .. }), "{decision:?}");
    assert!(decision.reason().contains("never read"), "{}", decision.reason());
}

#[test]
fn unfit_replicas_are_skipped_with_their_reasons() {
    type Edit = fn(&mut Observations);
    let cases: [(&str, Edit, &str); 4] = [
        (
            "fenced former primary",
            |o| replica_mut(o, R1).role = InstanceRole::Fenced,
            "Fenced",
        ),
        ("unreadable", |o| replica_mut(o, R1).server = None, "cannot read"),
        (
            "applier stopped",
            |o| server_mut(o, R1).sql_thread = ThreadState::Stopped,
            "SQL thread",
        ),
        (
            "garbage GTIDs",
            |o| server_mut(o, R1).executed = "nonsense".to_owned(),
            "unreadable",
        ),
    ];
    for (name, edit, words) in cases {
        let mut observations = killed(t(0));
        edit(&mut observations);
        assert_fails_over_to(&last(&automatic(), [(t(0), observations.clone())]), R2);
        replica_mut(&mut observations, R2).server = None;
        let decision = last(&automatic(), [(t(0), observations)]);
        assert!(
            matches!(decision, Decision::Refuse { .. }),
            "{name}: {decision:?}"
        );
        assert!(decision.reason().contains(words), "{name}: {}", decision.reason());
    }
}

#[test]
fn when_no_replica_holds_everything_async_takes_the_largest_and_lossless_refuses() {
    let mut observations = killed(t(0));
    // Each lacks one transaction the other has (a parallel applier's gaps).
    let r1 = format!("{P}:1-99:101-103");
    let r2 = format!("{P}:1-100");
    *server_mut(&mut observations, R1) = ReplicaServer {
        io_thread: ThreadState::Stopped,
        newest_heartbeat: Some(t(-1)),
        ..testkit::replica_server(&r1, &r1)
    };
    *server_mut(&mut observations, R2) = ReplicaServer {
        io_thread: ThreadState::Stopped,
        newest_heartbeat: Some(t(-1)),
        ..testkit::replica_server(&r2, &r2)
    };
    let decision = last(&automatic(), [(t(0), observations.clone())]);
    assert_fails_over_to(&decision, R1);
    assert!(
        decision.reason().contains("no replica holds everything"),
        "{}",
        decision.reason()
    );

    let lossless = spec(FailoverPolicy::Automatic, ReplicationMode::Lossless);
    let decision = last(&lossless, [(t(0), observations)]);
    assert!(matches!(decision, Decision::Refuse { .. }), "{decision:?}");
}

#[test]
fn mariadb_positions_compare_per_domain_and_server() {
    let mut observations = killed(t(0));
    observations.flavor = GtidFlavor::MariaDb;
    let mut before = healthy(t(-1));
    before.flavor = GtidFlavor::MariaDb;
    if let Some(server) = &mut before.primary_server {
        server.value.gtids = "0-1-100".to_owned();
        server.value.origin = GtidOrigin::ServerId(1);
    }
    for replica in &mut before.replicas {
        let server = &mut replica.server.as_mut().expect("read").value;
        server.executed = "0-1-100".to_owned();
        server.received = "0-1-100".to_owned();
    }
    for (name, executed) in [(R1, "0-1-100"), (R2, "0-1-104")] {
        let server = server_mut(&mut observations, name);
        server.executed = executed.to_owned();
        server.received = executed.to_owned();
    }
    let spec = automatic();
    let (memory, _) = run_from(
        Memory::default(),
        &spec,
        &Transitions::default(),
        [(t(-1), before)],
    );
    let (_, decisions) = run_from(
        memory.clone(),
        &spec,
        &Transitions::default(),
        [(t(0), observations.clone())],
    );
    assert_fails_over_to(decisions.last().expect("decided"), R2);

    // A write from server 7 that the primary never had is errant.
    server_mut(&mut observations, R2).executed = "0-1-104,0-7-3".to_owned();
    let (_, decisions) = run_from(memory, &spec, &Transitions::default(), [(t(0), observations)]);
    assert_fails_over_to(decisions.last().expect("decided"), R1);
}

// ---- the RPO guard (Async) -------------------------------------------------

#[test]
fn async_never_promotes_past_the_lag_guard_unless_forced() {
    type Edit = fn(&mut ReplicaServer);
    let cases: [(&str, Edit, &str); 3] = [
        (
            "measured lag",
            |s| s.last_lag = Some(Duration::from_secs(45)),
            "45.0s behind",
        ),
        (
            "heartbeat gap",
            |s| s.newest_heartbeat = Some(t(-61)),
            "60.0s behind",
        ),
        (
            "unknown lag",
            |s| {
                s.last_lag = None;
                s.newest_heartbeat = None;
            },
            "lag is unknown",
        ),
    ];
    for (name, edit, words) in cases {
        let mut observations = killed(t(0));
        edit(server_mut(&mut observations, R1));
        assert_fails_over_to(&last(&automatic(), [(t(0), observations.clone())]), R2);

        edit(server_mut(&mut observations, R2));
        let decision = last(&automatic(), [(t(0), observations.clone())]);
        assert!(
            matches!(decision, Decision::Refuse { .. }),
            "{name}: {decision:?}"
        );
        assert!(decision.reason().contains(words), "{name}: {}", decision.reason());

        observations.request = Some(Request::FailOver {
            to: R2.to_owned(),
            force: true,
        });
        let decision = last(&automatic(), [(t(0), observations.clone())]);
        match &decision {
            Decision::FailOver {
                to,
                forced: true,
                reason,
                ..
            } => {
                assert_eq!(to, R2);
                assert!(
                    reason.contains("FORCED") && reason.contains(words),
                    "{name}: {reason}"
                );
            }
            other => panic!("{name}: expected a forced failover, got {other:?}"),
        }

        observations.request = Some(Request::FailOver {
            to: R2.to_owned(),
            force: false,
        });
        let decision = last(&automatic(), [(t(0), observations)]);
        assert!(
            matches!(decision, Decision::Refuse { .. }),
            "{name}: {decision:?}"
        );
    }
}

#[test]
fn the_heartbeat_gap_does_not_grow_while_the_primary_is_gone() {
    // A Manual approval an hour after the loss judges the lag at the loss.
    let manual = spec(FailoverPolicy::Manual, ReplicationMode::Async);
    let mut later_look = killed(t(3600));
    for replica in &mut later_look.replicas {
        replica.server.as_mut().expect("read").value.last_lag = None;
        replica.server.as_mut().expect("read").value.newest_heartbeat = Some(t(-1));
    }
    later_look.request = Some(Request::FailOver {
        to: R1.to_owned(),
        force: false,
    });
    let decision = last(&manual, [(t(0), killed(t(0))), (t(3600), later_look)]);
    assert_fails_over_to(&decision, R1);
}

#[test]
fn lossless_ignores_the_lag_guard() {
    let lossless = spec(FailoverPolicy::Automatic, ReplicationMode::Lossless);
    let mut observations = killed(t(0));
    for replica in &mut observations.replicas {
        replica.server.as_mut().expect("read").value.last_lag = Some(Duration::from_secs(300));
    }
    assert_fails_over_to(&last(&lossless, [(t(0), observations)]), R1);
}

// ---- the Lossless gate -----------------------------------------------------

#[test]
fn lossless_promotes_only_after_io_threads_stop_and_the_relay_log_is_applied() {
    let lossless = spec(FailoverPolicy::Automatic, ReplicationMode::Lossless);
    let mut observations = killed(t(0));
    server_mut(&mut observations, R1).received = gtids(103);
    let decision = last(&lossless, [(t(0), observations.clone())]);
    match &decision {
        Decision::FailOver { to, gate, .. } => {
            assert_eq!(to, R1);
            assert_eq!(
                gate.unmet,
                vec![
                    Precondition::IoThreadStopped {
                        instance: R1.to_owned()
                    },
                    Precondition::IoThreadStopped {
                        instance: R2.to_owned()
                    },
                    Precondition::RelayLogApplied {
                        instance: R1.to_owned()
                    },
                ]
            );
        }
        other => panic!("expected a gated failover, got {other:?}"),
    }
    assert_eq!(decision.may_promote(), None);

    // The executor recorded the failover and stopped the IO threads; the
    // relay log is still being applied.
    let progress = progress(TransitionKind::Failover, R1, TransitionStep::CatchUp);
    let transitions = Transitions {
        in_progress: Some(&progress),
        history: &[],
    };
    for replica in &mut observations.replicas {
        replica.server.as_mut().expect("read").value.io_thread = ThreadState::Stopped;
    }
    let (_, decisions) = run(&lossless, &transitions, [(t(1), observations.clone())]);
    match decisions.last().expect("decided") {
        Decision::FailOver {
            to,
            gate,
            resume: Some(TransitionStep::CatchUp),
            ..
        } => {
            assert_eq!(to, R1);
            assert_eq!(
                gate.unmet,
                vec![Precondition::RelayLogApplied {
                    instance: R1.to_owned()
                }]
            );
        }
        other => panic!("expected the failover to go on, gated, got {other:?}"),
    }

    server_mut(&mut observations, R1).executed = gtids(103);
    let (_, decisions) = run(&lossless, &transitions, [(t(2), observations)]);
    assert_eq!(decisions.last().expect("decided").may_promote(), Some(R1));
}

#[test]
fn lossless_refuses_while_a_replica_that_may_hold_acknowledged_transactions_is_unreachable() {
    let lossless = spec(FailoverPolicy::Automatic, ReplicationMode::Lossless);
    let mut observations = killed(t(0));
    replica_mut(&mut observations, R2).server = None;
    let decision = last(&lossless, [(t(0), observations.clone())]);
    assert!(matches!(decision, Decision::Refuse { .. }), "{decision:?}");
    assert!(decision.reason().contains(R2), "{}", decision.reason());

    observations.request = Some(Request::FailOver {
        to: R1.to_owned(),
        force: true,
    });
    let decision = last(&lossless, [(t(0), observations)]);
    assert!(
        matches!(decision, Decision::FailOver { forced: true, .. }),
        "{decision:?}"
    );
    // Forcing never opens the Lossless gate.
    assert_eq!(decision.may_promote(), None);
}

#[test]
fn async_has_no_promotion_gate() {
    assert!(matches!(
        last(&automatic(), [(t(0), killed(t(0)))]),
        Decision::FailOver { gate, .. } if gate.is_open()
    ));
}

// ---- cooldown --------------------------------------------------------------

#[test]
fn cooldown_holds_automatic_failover_after_a_successful_one() {
    let cases = [
        // (kind, outcome, finished, holds)
        (
            TransitionKind::Failover,
            TransitionOutcome::Succeeded,
            t(-100),
            true,
        ),
        (
            TransitionKind::Failover,
            TransitionOutcome::Succeeded,
            t(-300),
            false,
        ),
        (
            TransitionKind::Failover,
            TransitionOutcome::Aborted,
            t(-100),
            false,
        ),
        (
            TransitionKind::Failover,
            TransitionOutcome::Failed,
            t(-100),
            false,
        ),
        (
            TransitionKind::Switchover,
            TransitionOutcome::Succeeded,
            t(-100),
            false,
        ),
    ];
    for (kind, outcome, finished, holds) in cases {
        let history = [record(kind, outcome, finished)];
        let transitions = Transitions {
            in_progress: None,
            history: &history,
        };
        let (_, decisions) = run(&automatic(), &transitions, [(t(0), killed(t(0)))]);
        let decision = decisions.last().expect("decided");
        if holds {
            assert_eq!(
                decision,
                &Decision::Wait {
                    reason: decision.reason().to_owned(),
                    until: Some(t(200))
                }
            );
            assert!(decision.reason().contains("cooldown"), "{}", decision.reason());
        } else {
            assert_fails_over_to(decision, R1);
        }
    }
}

#[test]
fn a_persons_request_is_not_held_by_the_cooldown() {
    let history = [record(
        TransitionKind::Failover,
        TransitionOutcome::Succeeded,
        t(-10),
    )];
    let transitions = Transitions {
        in_progress: None,
        history: &history,
    };
    let mut observations = killed(t(0));
    observations.request = Some(Request::FailOver {
        to: R2.to_owned(),
        force: false,
    });
    let (_, decisions) = run(&automatic(), &transitions, [(t(0), observations)]);
    assert_fails_over_to(decisions.last().expect("decided"), R2);
}

// ---- Manual policy ---------------------------------------------------------

#[test]
fn manual_policy_awaits_approval_then_fails_over_to_the_approved_replica() {
    let manual = spec(FailoverPolicy::Manual, ReplicationMode::Async);
    let (memory, decisions) = run(
        &manual,
        &Transitions::default(),
        (0..30).map(|s| (t(s), killed(t(s)))),
    );
    assert_no_promotion(&decisions);
    match decisions.last().expect("decided") {
        Decision::AwaitApproval { reason, suggested } => {
            assert!(
                reason.starts_with("primary failed, failover needs approval"),
                "{reason}"
            );
            assert!(
                reason.contains("kubectl drmysql failover db --to db-1"),
                "{reason}"
            );
            assert_eq!(suggested.as_deref(), Some(R1));
        }
        other => panic!("expected to await approval, got {other:?}"),
    }
    let mut approved = killed(t(30));
    approved.request = Some(Request::FailOver {
        to: R2.to_owned(),
        force: false,
    });
    let (memory, decisions) = run_from(memory, &manual, &Transitions::default(), [(t(30), approved)]);
    assert_fails_over_to(decisions.last().expect("decided"), R2);
    // The approval is remembered until it acts, even if the request goes away.
    let (_, decisions) = run_from(memory, &manual, &Transitions::default(), [(t(31), killed(t(31)))]);
    assert_fails_over_to(decisions.last().expect("decided"), R2);
}

#[test]
fn an_approval_given_early_waits_for_the_declaration_and_dies_with_a_sign_of_life() {
    let manual = spec(FailoverPolicy::Manual, ReplicationMode::Async);
    let mut early = site_lost(t(0));
    early.request = Some(Request::FailOver {
        to: R1.to_owned(),
        force: false,
    });
    let (memory, decisions) = run(&manual, &Transitions::default(), [(t(0), early)]);
    assert!(matches!(decisions[0], Decision::Wait { until: Some(until), .. } if until == t(10)));
    assert!(memory.approval.is_some());

    let (_, decisions) = run_from(
        memory.clone(),
        &manual,
        &Transitions::default(),
        [(t(10), site_lost(t(10)))],
    );
    assert_fails_over_to(decisions.last().expect("decided"), R1);

    let (memory, _) = run_from(memory, &manual, &Transitions::default(), [(t(5), healthy(t(5)))]);
    assert_eq!(memory.approval, None);
}

#[test]
fn manual_approval_keeps_every_guard() {
    let manual = spec(FailoverPolicy::Manual, ReplicationMode::Async);
    let mut observations = killed(t(0));
    server_mut(&mut observations, R1).last_lag = Some(Duration::from_secs(90));
    observations.request = Some(Request::FailOver {
        to: R1.to_owned(),
        force: false,
    });
    let decision = last(&manual, [(t(0), observations)]);
    assert!(matches!(decision, Decision::Refuse { .. }), "{decision:?}");
}

#[test]
fn a_failover_request_for_a_live_primary_is_refused_or_waits() {
    let mut alive = healthy(t(0));
    alive.request = Some(Request::FailOver {
        to: R1.to_owned(),
        force: true,
    });
    let decision = last(&automatic(), [(t(0), alive)]);
    assert!(matches!(decision, Decision::Refuse { .. }), "{decision:?}");
    assert!(
        decision.reason().contains("two writable primaries"),
        "{}",
        decision.reason()
    );

    let mut partitioned = controller_partitioned(t(0));
    partitioned.request = Some(Request::FailOver {
        to: R1.to_owned(),
        force: true,
    });
    assert!(matches!(
        last(&automatic(), [(t(0), partitioned)]),
        Decision::Refuse { .. }
    ));

    let mut suspected = site_lost(t(0));
    suspected.request = Some(Request::FailOver {
        to: R1.to_owned(),
        force: false,
    });
    assert!(matches!(
        last(&automatic(), [(t(0), suspected)]),
        Decision::Wait { until: Some(until), .. } if until == t(10)
    ));
}

#[test]
fn a_request_for_an_unknown_instance_is_refused_by_name() {
    let mut observations = killed(t(0));
    observations.request = Some(Request::FailOver {
        to: "db-7".to_owned(),
        force: false,
    });
    let decision = last(&automatic(), [(t(0), observations)]);
    assert!(
        decision.reason().contains("db-7 is not a replica"),
        "{decision:?}"
    );
}

// ---- a transition in progress ----------------------------------------------

#[test]
fn a_transition_in_progress_is_continued_never_replaced() {
    for observations in [healthy(t(0)), killed(t(0)), controller_partitioned(t(0))] {
        for step in [TransitionStep::FenceOldPrimary, TransitionStep::RepointReplicas] {
            let progress = progress(TransitionKind::Failover, R2, step);
            let transitions = Transitions {
                in_progress: Some(&progress),
                history: &[],
            };
            let (_, decisions) = run(&automatic(), &transitions, [(t(0), observations.clone())]);
            match decisions.last().expect("decided") {
                Decision::FailOver { to, resume, .. } => {
                    assert_eq!((to.as_str(), *resume), (R2, Some(step)));
                }
                other => panic!("expected the failover to go on, got {other:?}"),
            }
        }
    }
    let progress = progress(TransitionKind::Switchover, R1, TransitionStep::MoveWriterEndpoint);
    let transitions = Transitions {
        in_progress: Some(&progress),
        history: &[],
    };
    let (_, decisions) = run(&automatic(), &transitions, [(t(0), killed(t(0)))]);
    assert!(matches!(
        decisions.last().expect("decided"),
        Decision::SwitchOver { to, resume: Some(TransitionStep::MoveWriterEndpoint), gate, .. }
            if to == R1 && gate.is_open()
    ));
}

#[test]
fn a_target_that_turned_errant_is_refused_before_promotion_only() {
    let mut observations = killed(t(0));
    server_mut(&mut observations, R2).executed = format!("{},{E}:1", gtids(100));
    let before = progress(TransitionKind::Failover, R2, TransitionStep::VerifyCandidate);
    let transitions = Transitions {
        in_progress: Some(&before),
        history: &[],
    };
    let (_, decisions) = run(&automatic(), &transitions, [(t(0), observations.clone())]);
    let decision = decisions.last().expect("decided");
    assert!(matches!(decision, Decision::Refuse { .. }), "{decision:?}");
    assert!(
        decision.reason().contains("must stop before promotion"),
        "{}",
        decision.reason()
    );

    let after = progress(TransitionKind::Failover, R2, TransitionStep::Promote);
    let transitions = Transitions {
        in_progress: Some(&after),
        history: &[],
    };
    let (_, decisions) = run(&automatic(), &transitions, [(t(0), observations)]);
    assert!(matches!(
        decisions.last().expect("decided"),
        Decision::FailOver { .. }
    ));
}

// ---- switchover ------------------------------------------------------------

#[test]
fn a_switchover_request_promotes_only_a_caught_up_replica_of_a_read_only_primary() {
    let mut observations = healthy(t(0));
    observations.request = Some(Request::switchover_from_annotation(" db-2 "));
    let decision = last(&automatic(), [(t(0), observations.clone())]);
    match &decision {
        Decision::SwitchOver {
            to,
            gate,
            resume: None,
            ..
        } => {
            assert_eq!(to, R2);
            assert_eq!(
                gate.unmet,
                vec![Precondition::PrimaryReadOnly {
                    instance: PRIMARY.to_owned()
                }]
            );
        }
        other => panic!("expected a switchover, got {other:?}"),
    }

    // Fenced, but the candidate has not executed the primary's last two.
    let progress = progress(TransitionKind::Switchover, R2, TransitionStep::CatchUp);
    let transitions = Transitions {
        in_progress: Some(&progress),
        history: &[],
    };
    if let Some(server) = &mut observations.primary_server {
        server.value.read_only = true;
        server.value.gtids = gtids(102);
    }
    server_mut(&mut observations, R2).received = gtids(102);
    let (_, decisions) = run(&automatic(), &transitions, [(t(1), observations.clone())]);
    assert!(matches!(
        decisions.last().expect("decided"),
        Decision::SwitchOver { gate, .. } if gate.unmet == vec![Precondition::CaughtUp { instance: R2.to_owned() }]
    ));
    server_mut(&mut observations, R2).executed = gtids(102);
    let (_, decisions) = run(&automatic(), &transitions, [(t(2), observations)]);
    assert_eq!(decisions.last().expect("decided").may_promote(), Some(R2));
}

#[test]
fn a_switchover_refuses_unfit_candidates_and_a_lost_primary() {
    type Edit = fn(&mut Observations);
    let cases: [(&str, Edit, &str); 4] = [
        (
            "too far behind",
            |o| server_mut(o, R1).last_lag = Some(Duration::from_secs(60)),
            "behind",
        ),
        (
            "not replicating",
            |o| server_mut(o, R1).io_thread = ThreadState::Connecting,
            "IO thread",
        ),
        (
            "errant",
            |o| server_mut(o, R1).executed = format!("{},{E}:9", gtids(100)),
            "errant",
        ),
        (
            "primary unreachable",
            |o| {
                o.controller_check = Some(Observed::new(
                    Reachability::Timeout,
                    o.node.as_ref().expect("node").at,
                ));
            },
            "reachable",
        ),
    ];
    for (name, edit, words) in cases {
        let mut observations = healthy(t(0));
        observations.request = Some(Request::SwitchOver {
            to: Some(R1.to_owned()),
        });
        edit(&mut observations);
        let decision = last(&automatic(), [(t(0), observations)]);
        assert!(
            matches!(decision, Decision::Refuse { .. }),
            "{name}: {decision:?}"
        );
        assert!(decision.reason().contains(words), "{name}: {}", decision.reason());
    }
}

#[test]
fn a_switchover_without_a_target_chooses_and_to_the_primary_does_nothing() {
    let mut observations = healthy(t(0));
    observations.request = Some(Request::switchover_from_annotation(""));
    assert_eq!(
        last(&automatic(), [(t(0), observations.clone())]).target(),
        Some(R1)
    );
    observations.request = Some(Request::switchover_from_annotation(PRIMARY));
    assert!(matches!(
        last(&automatic(), [(t(0), observations)]),
        Decision::NoAction { .. }
    ));
}

// ---- quarantine ------------------------------------------------------------

#[test]
fn a_replica_or_returned_primary_with_errant_transactions_is_quarantined_once() {
    for role in [InstanceRole::Replica, InstanceRole::Fenced] {
        let mut observations = healthy(t(0));
        replica_mut(&mut observations, R2).role = role;
        server_mut(&mut observations, R2).executed = format!("{},{E}:1-3", gtids(100));
        let decision = last(&automatic(), [(t(0), observations.clone())]);
        assert_eq!(
            decision,
            Decision::Quarantine {
                instance: R2.to_owned(),
                errant: format!("{E}:1-3"),
                reason: decision.reason().to_owned(),
            }
        );
        assert!(decision.reason().contains("kubectl drmysql rebuild db db-2"));
        replica_mut(&mut observations, R2).role = InstanceRole::Quarantined;
        assert!(matches!(
            last(&automatic(), [(t(0), observations)]),
            Decision::NoAction { .. }
        ));
    }
}

// ---- failback ---------------------------------------------------------------

/// `failback: Automatic` with spec.primary placing R1, while PRIMARY (which a
/// failover promoted) is the primary.
fn failing_back() -> DecisionSpec {
    let mut spec = automatic();
    spec.failback = FailbackPolicy::Automatic;
    spec.instance_order = vec![R1.to_owned(), PRIMARY.to_owned(), R2.to_owned()];
    spec
}

fn decide_after(spec: &DecisionSpec, history: &[FailoverRecord], observations: Observations) -> Decision {
    let transitions = Transitions {
        in_progress: None,
        history,
    };
    let (_, decisions) = run(spec, &transitions, [(t(0), observations)]);
    decisions.last().cloned().expect("a decision")
}

#[test]
fn automatic_failback_switches_back_to_spec_primary_after_the_cooldown() {
    let long_ago = [record(
        TransitionKind::Failover,
        TransitionOutcome::Succeeded,
        t(-400),
    )];
    let decision = decide_after(&failing_back(), &long_ago, healthy(t(0)));
    match &decision {
        Decision::SwitchOver {
            to,
            resume: None,
            gate,
            reason,
        } => {
            assert_eq!(to, R1);
            assert!(
                reason.starts_with("automatic failback: planned switchover"),
                "{reason}"
            );
            assert!(!gate.is_open(), "the old primary is not read-only yet: {gate}");
        }
        other => panic!("expected a failback switchover, got {other:?}"),
    }

    // Any transition, an aborted failback included, restarts the cooldown.
    for kind in [TransitionKind::Failover, TransitionKind::Switchover] {
        for outcome in [TransitionOutcome::Succeeded, TransitionOutcome::Aborted] {
            let recent = [record(kind, outcome, t(-100))];
            let decision = decide_after(&failing_back(), &recent, healthy(t(0)));
            assert!(matches!(decision, Decision::NoAction { .. }), "{decision:?}");
            assert!(
                decision.reason().contains("waits for cooldownSeconds"),
                "{}",
                decision.reason()
            );
        }
    }
}

#[test]
fn automatic_failback_waits_for_a_fit_spec_primary_and_manual_never_fails_back() {
    let mut lagging = healthy(t(0));
    server_mut(&mut lagging, R1).last_lag = Some(Duration::from_secs(60));
    server_mut(&mut lagging, R1).newest_heartbeat = Some(t(-60));
    let decision = decide_after(&failing_back(), &[], lagging);
    assert!(matches!(decision, Decision::NoAction { .. }), "{decision:?}");
    assert!(
        decision.reason().contains("automatic failback to db-1 waits"),
        "{}",
        decision.reason()
    );

    let mut stopped = healthy(t(0));
    server_mut(&mut stopped, R1).sql_thread = ThreadState::Stopped;
    let decision = decide_after(&failing_back(), &[], stopped);
    assert!(matches!(decision, Decision::NoAction { .. }), "{decision:?}");

    let mut errant = healthy(t(0));
    server_mut(&mut errant, R1).executed = format!("{},{E}:1-3", gtids(100));
    let decision = decide_after(&failing_back(), &[], errant);
    assert!(
        matches!(decision, Decision::Quarantine { .. }),
        "errant comes first: {decision:?}"
    );

    let mut manual = failing_back();
    manual.failback = FailbackPolicy::Manual;
    let decision = decide_after(&manual, &[], healthy(t(0)));
    assert!(matches!(decision, Decision::NoAction { .. }), "{decision:?}");
    assert!(!decision.reason().contains("failback"), "{}", decision.reason());

    let at_home = decide_after(&automatic_with_failback(), &[], healthy(t(0)));
    assert!(matches!(at_home, Decision::NoAction { .. }), "{at_home:?}");
}

fn automatic_with_failback() -> DecisionSpec {
    let mut spec = automatic();
    spec.failback = FailbackPolicy::Automatic;
    spec
}

// ---- spec, memory, results -------------------------------------------------

#[test]
fn the_decision_spec_follows_the_crd_defaults_and_spec_order() {
    let spec: drmysql_api::drmysql::DRMySQLSpec = serde_json::from_value(serde_json::json!({
        "engine": {"image": "mariadb:11.4"},
        "primary": {"node": "a"},
        "replicas": [{"node": "b", "name": "dr"}, {"node": "c"}],
    }))
    .expect("a valid spec");
    let decision_spec = DecisionSpec::new("shop", &spec);
    assert_eq!(decision_spec.instance_order, ["shop-0", "shop-dr", "shop-2"]);
    assert_eq!(decision_spec.policy, FailoverPolicy::Automatic);
    assert_eq!(decision_spec.mode, ReplicationMode::Async);
    assert_eq!(
        (
            decision_spec.detection,
            decision_spec.cooldown,
            decision_spec.max_lag_for_failover
        ),
        (secs(10), secs(300), secs(30))
    );
    assert_eq!(decision_spec.heartbeat_fresh_within, secs(4));
    assert_eq!(decision_spec.evidence_ttl, secs(8));
    assert_eq!(decision_spec.rank("shop-2"), 2);
    assert_eq!(decision_spec.rank("other"), usize::MAX);
}

#[test]
fn memory_survives_serialisation_and_remembering_twice_changes_nothing() {
    let spec = automatic();
    let mut observations = site_lost(t(3));
    observations.request = Some(Request::FailOver {
        to: R1.to_owned(),
        force: true,
    });
    let (memory, _) = run(&spec, &Transitions::default(), [(t(3), observations.clone())]);
    assert_eq!(remember(&memory, &observations, &spec, t(3)), memory);
    let json = serde_json::to_value(&memory).expect("serialises");
    assert_eq!(
        json["suspicions"][1]["vantage"],
        serde_json::json!({"replica": R1})
    );
    assert_eq!(json["approval"]["force"], serde_json::json!(true));
    let back: Memory = serde_json::from_value(json).expect("deserialises");
    assert_eq!(back, memory);
    assert_eq!(
        serde_json::to_value(Memory::default()).expect("serialises"),
        serde_json::json!({})
    );
}

#[test]
fn a_new_primary_starts_a_new_memory() {
    let spec = automatic();
    let (memory, _) = run(&spec, &Transitions::default(), [(t(0), site_lost(t(0)))]);
    assert!(!memory.suspicions.is_empty() && memory.primary_gtids.is_some());
    let mut promoted = healthy(t(1));
    promoted.primary = R1.to_owned();
    promoted.primary_server = None;
    let memory = remember(&memory, &promoted, &spec, t(1));
    assert_eq!(memory.primary.as_deref(), Some(R1));
    assert!(memory.suspicions.is_empty() && memory.primary_gtids.is_none());
}

#[test]
fn every_decision_names_its_kind() {
    let cases = [
        (Decision::NoAction { reason: "r".into() }, "NoAction"),
        (
            Decision::Wait {
                reason: "r".into(),
                until: None,
            },
            "Wait",
        ),
        (
            Decision::AwaitApproval {
                reason: "r".into(),
                suggested: None,
            },
            "AwaitApproval",
        ),
        (Decision::Refuse { reason: "r".into() }, "Refuse"),
        (
            Decision::Quarantine {
                instance: "i".into(),
                errant: "e".into(),
                reason: "r".into(),
            },
            "Quarantine",
        ),
    ];
    for (decision, kind) in cases {
        assert_eq!((decision.kind(), decision.reason()), (kind, "r"));
        assert_eq!((decision.target(), decision.may_promote()), (None, None));
    }
}
