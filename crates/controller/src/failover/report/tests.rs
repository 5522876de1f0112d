//! The decision as reported: from the observe stage's readings, through the
//! mapping, the memory kept in the status and the decision, to the condition
//! and its Events, reconcile after reconcile.

use std::collections::BTreeMap;
use std::time::Duration;

use drmysql_api::drmysql::{DRMySQLStatus, TunnelStatus};
use drmysql_mysql::ThreadState;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use super::*;
use crate::failover::view::tests::{
    at, crash_waiting, instances, node, pod, previous, probe, running, server, spec,
};
use crate::failover::view::{Inputs, PrimaryHeartbeat, observations};
use crate::status::InstanceObservation;

/// The primary as one reconcile sees it.
#[derive(Clone, Copy, Debug)]
enum Primary {
    Alive,
    /// mysqld killed: refused from everywhere, its container restarting.
    Killed,
    /// mysqld hung or the path cut: timeouts from everywhere.
    Silent,
    /// The controller alone cannot reach it; the replica still can.
    CutFromController,
}

struct Reconciles {
    spec: DecisionSpec,
    stored: Option<FailoverMemory>,
    condition: Option<Condition>,
}

struct Reported {
    outcome: Outcome,
    condition: Condition,
    events: Vec<EventSpec>,
}

impl Reconciles {
    fn new(extra: Value) -> Self {
        Self {
            spec: spec(extra),
            stored: None,
            condition: None,
        }
    }

    /// One reconcile at `second`: observe, decide from the stored memory,
    /// store the new memory, set the condition, raise Events.
    fn at(&mut self, second: i64, primary: Primary) -> Reported {
        let (instances, tunnel, pod_state): (Vec<InstanceObservation>, Vec<TunnelStatus>, Pod) = match primary
        {
            Primary::Alive => (
                instances(Ok(server(true, ThreadState::Stopped)), ThreadState::Running),
                probe(true, None),
                pod(running(), 0),
            ),
            Primary::Killed => (
                instances(
                    Err("cannot connect to 10.0.0.2:3306: Connection refused (os error 111)".into()),
                    ThreadState::Connecting,
                ),
                probe(false, Some("connect failed: Connection refused (os error 111)")),
                pod(crash_waiting(), 1),
            ),
            Primary::Silent => (
                instances(
                    Err("connect on 10.0.0.2:3306 did not finish within 3s".into()),
                    ThreadState::Running,
                ),
                probe(false, Some("no MySQL greeting within 2.4s after the TCP connect")),
                pod(running(), 0),
            ),
            Primary::CutFromController => (
                instances(
                    Err("connect on 10.0.0.2:3306 did not finish within 3s".into()),
                    ThreadState::Running,
                ),
                probe(true, None),
                pod(running(), 0),
            ),
        };
        let pods = BTreeMap::from([("orders-0".to_owned(), pod_state)]);
        let nodes: BTreeMap<String, Node> = BTreeMap::from([("vm-0-7".to_owned(), node("True"))]);
        let previous: DRMySQLStatus = previous();
        let alive = matches!(primary, Primary::Alive);
        let now = at(second);
        let inputs = Inputs {
            primary: "orders-0",
            instances: &instances,
            tunnel: &tunnel,
            heartbeat: PrimaryHeartbeat {
                newest: alive.then(|| at(second)),
                age: alive.then_some(Duration::from_millis(300)),
            },
            pods: &pods,
            nodes: &nodes,
            previous: &previous,
            roles: &Default::default(),
            remembered_flavor: None,
            now,
        };
        let observations = observations(&inputs, &self.spec);
        let outcome = run(
            self.stored.as_ref(),
            &observations,
            &self.spec,
            &Transitions::default(),
            now,
        );
        // Through JSON, as the status is written and read back.
        let stored = persist::to_status(&outcome.memory);
        self.stored =
            serde_json::from_value(serde_json::to_value(&stored).expect("serializes")).expect("deserializes");
        let (available, reason, message) = outcome.condition();
        let condition = Condition {
            type_: "PrimaryAvailable".into(),
            status: if available { "True" } else { "False" }.into(),
            reason: reason.into(),
            message,
            last_transition_time: crate::status::to_time(now),
            observed_generation: None,
        };
        let events = outcome.events(self.condition.as_ref(), &condition);
        self.condition = Some(condition.clone());
        Reported {
            outcome,
            condition,
            events,
        }
    }
}

fn reasons(events: &[EventSpec]) -> Vec<&'static str> {
    events.iter().map(|event| event.reason).collect()
}

#[test]
fn a_killed_primary_under_manual_policy_is_failed_at_once_and_awaits_approval() {
    let mut reconciles = Reconciles::new(json!({"failover": {"policy": "Manual"}}));
    let alive = reconciles.at(0, Primary::Alive);
    assert_eq!(
        (alive.condition.status.as_str(), alive.condition.reason.as_str()),
        ("True", REASON_ALIVE)
    );
    assert!(alive.events.is_empty(), "a healthy first look raises nothing");
    assert_eq!(alive.outcome.decision.kind(), "NoAction");

    assert!(!alive.outcome.needs_close_watch());

    let killed = reconciles.at(1, Primary::Killed);
    assert!(
        killed.outcome.primary_failed(),
        "two hard vantage points act at once"
    );
    assert!(
        killed.outcome.needs_close_watch(),
        "a failed primary is watched closely"
    );
    assert_eq!(
        (killed.condition.status.as_str(), killed.condition.reason.as_str()),
        ("False", REASON_FAILED)
    );
    assert!(
        matches!(&killed.outcome.decision, Decision::AwaitApproval { suggested: Some(to), .. } if to == "orders-1"),
        "{:?}",
        killed.outcome.decision
    );
    assert_eq!(reasons(&killed.events), [REASON_FAILED]);
    let event = &killed.events[0];
    assert!(event.warning);
    assert!(
        event.note.contains("primary failed, failover needs approval")
            && event
                .note
                .contains("kubectl drmysql failover orders --to orders-1"),
        "{}",
        event.note
    );

    let still = reconciles.at(2, Primary::Killed);
    assert_eq!(still.condition.reason, REASON_FAILED);
    assert!(still.events.is_empty(), "no second Event while it stays failed");

    let back = reconciles.at(5, Primary::Alive);
    assert_eq!(
        (back.condition.status.as_str(), back.condition.reason.as_str()),
        ("True", REASON_ALIVE)
    );
    assert_eq!(reasons(&back.events), [EVENT_RECOVERED]);
    assert!(!back.events[0].warning);
}

#[test]
fn soft_evidence_is_suspected_until_it_persisted_detection_seconds_across_restarts() {
    let mut reconciles = Reconciles::new(json!({"failover": {"policy": "Manual", "detectionSeconds": 6}}));
    reconciles.at(0, Primary::Alive);
    for second in [1, 3, 5] {
        let look = reconciles.at(second, Primary::Silent);
        assert_eq!(
            (look.condition.status.as_str(), look.condition.reason.as_str()),
            ("False", REASON_SUSPECTED),
            "at {second}s: {}",
            look.condition.message
        );
        assert!(look.events.is_empty(), "a suspicion raises no Event");
        assert_eq!(look.outcome.decision.kind(), "Wait");
        let stored = reconciles.stored.as_ref().expect("the suspicion is stored");
        assert_eq!(stored.suspicions.len(), 2, "the host and the replica");
        assert!(stored.suspicions.iter().all(|s| s.since == at(1)));
    }
    let failed = reconciles.at(7, Primary::Silent);
    assert_eq!(
        failed.condition.reason, REASON_FAILED,
        "{}",
        failed.condition.message
    );
    assert_eq!(reasons(&failed.events), [REASON_FAILED]);
    assert!(failed.events[0].note.contains("needs approval"));
}

#[test]
fn a_blip_shorter_than_detection_seconds_is_never_declared() {
    let mut reconciles = Reconciles::new(json!({"failover": {"policy": "Manual", "detectionSeconds": 10}}));
    reconciles.at(0, Primary::Alive);
    assert_eq!(
        reconciles.at(1, Primary::Silent).condition.reason,
        REASON_SUSPECTED
    );
    assert_eq!(
        reconciles.at(5, Primary::Silent).condition.reason,
        REASON_SUSPECTED
    );
    let back = reconciles.at(7, Primary::Alive);
    assert_eq!(back.condition.reason, REASON_ALIVE);
    assert!(
        back.events.is_empty(),
        "recovering from a suspicion raises nothing"
    );
    assert!(
        reconciles
            .stored
            .as_ref()
            .is_some_and(|stored| stored.suspicions.is_empty()),
        "a sign of life ends the suspicion"
    );
    // A new outage starts its own window: 10 s after 12, not after 1.
    assert_eq!(
        reconciles.at(12, Primary::Silent).condition.reason,
        REASON_SUSPECTED
    );
    assert_eq!(
        reconciles.at(20, Primary::Silent).condition.reason,
        REASON_SUSPECTED
    );
    assert_eq!(reconciles.at(22, Primary::Silent).condition.reason, REASON_FAILED);
}

#[test]
fn the_controller_alone_losing_the_primary_keeps_it_available() {
    let mut reconciles = Reconciles::new(json!({"failover": {"detectionSeconds": 2}}));
    reconciles.at(0, Primary::Alive);
    for second in [1, 5, 30] {
        let look = reconciles.at(second, Primary::CutFromController);
        assert_eq!(
            (look.condition.status.as_str(), look.condition.reason.as_str()),
            ("True", REASON_ALIVE),
            "{}",
            look.condition.message
        );
        assert!(look.condition.message.contains("a partition, not a failure"));
        assert!(look.events.is_empty());
    }
}

#[test]
fn automatic_policy_reports_the_failover_it_makes_and_why() {
    let mut reconciles = Reconciles::new(json!({}));
    reconciles.at(0, Primary::Alive);
    let killed = reconciles.at(1, Primary::Killed);
    assert!(
        matches!(&killed.outcome.decision, Decision::FailOver { to, .. } if to == "orders-1"),
        "{:?}",
        killed.outcome.decision
    );
    assert_eq!(reasons(&killed.events), [REASON_FAILED]);
    assert!(
        killed.events[0].note.contains("promoting orders-1"),
        "{}",
        killed.events[0].note
    );
}

#[test]
fn a_refused_failover_raises_failover_refused_with_the_reason() {
    // Seen alive with some lag, then lost: a guard of no lag at all refuses
    // every candidate.
    let mut reconciles = Reconciles::new(json!({"replication": {"maxLagForFailoverSeconds": 0}}));
    reconciles.at(0, Primary::Alive);
    let killed = reconciles.at(1, Primary::Killed);
    assert!(
        matches!(killed.outcome.decision, Decision::Refuse { .. }),
        "{:?}",
        killed.outcome.decision
    );
    assert_eq!(reasons(&killed.events), [REASON_FAILED, EVENT_REFUSED]);
    assert_eq!(killed.events[1].note, killed.outcome.decision.reason());
    assert!(killed.events.iter().all(|event| event.warning));
}

#[test]
fn a_primary_never_seen_alive_is_still_provisioning_not_lost() {
    // Refused from both sides while it boots: nothing to fail over yet.
    let mut reconciles = Reconciles::new(json!({}));
    let booting = reconciles.at(0, Primary::Killed);
    assert_eq!(booting.condition.reason, REASON_UNOBSERVED);
    assert!(booting.events.is_empty(), "{:?}", booting.events);
    assert!(!booting.outcome.primary_failed());
}

#[test]
fn nothing_observed_is_reported_as_unobserved() {
    let spec = spec(json!({}));
    let observations = Observations {
        primary: "orders-0".into(),
        flavor: crate::failover::GtidFlavor::MariaDb,
        controller_check: None,
        primary_server: None,
        pod: None,
        node: None,
        replicas: Vec::new(),
        request: None,
    };
    let outcome = run(None, &observations, &spec, &Transitions::default(), at(0));
    let (available, reason, _) = outcome.condition();
    assert_eq!((available, reason), (false, REASON_UNOBSERVED));
    assert!(!outcome.primary_failed());
    assert!(
        !outcome.needs_close_watch(),
        "nothing is being timed: the normal resync is enough"
    );
}
