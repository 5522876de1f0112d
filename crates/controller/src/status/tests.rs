//! Tests of status computation and condition transitions.

use std::time::Duration;

use chrono::TimeZone;
use drmysql_mysql::status::BinlogSettings;
use drmysql_mysql::{ReplicaStatus, SemiSyncStatus, ServerVersion};
use serde_json::json;

use super::*;
use crate::build::tests::orders;

fn at(second: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + second, 0)
        .single()
        .expect("valid")
}

fn server(writable: bool, replicating: bool) -> InstanceStatus {
    InstanceStatus {
        version: ServerVersion::parse("10.11.19-MariaDB").expect("version"),
        server_id: 1,
        server_uuid: None,
        read_only: !writable,
        super_read_only: None,
        gtid_executed: "0-1-10".into(),
        gtid_binlog_state: Some("0-1-10".into()),
        gtid_replica_pos: None,
        settings: BinlogSettings::default(),
        replica: (!writable).then(|| ReplicaStatus {
            source_host: "10.0.0.2".into(),
            source_port: 3306,
            io_thread: if replicating {
                drmysql_mysql::ThreadState::Running
            } else {
                drmysql_mysql::ThreadState::Connecting
            },
            sql_thread: drmysql_mysql::ThreadState::Running,
            last_io_errno: if replicating { 0 } else { 2003 },
            last_io_error: (!replicating).then(|| "Can't connect to MySQL server on '10.0.0.2'".into()),
            last_sql_errno: 0,
            last_sql_error: None,
            seconds_behind: Some(0),
            retrieved_gtids: String::new(),
            gtid_auto_position: true,
            sql_delay: Duration::ZERO,
        }),
        semi_sync: SemiSyncStatus::default(),
        uptime: Duration::from_secs(100),
    }
}

fn observation(lag_seconds: f64, replicating: bool, tunnel_ok: bool) -> Observation {
    with_failover(bare_observation(lag_seconds, replicating, tunnel_ok))
}

/// `observation` with the failover decision run on it, as the reconcile does.
fn with_failover(mut observation: Observation) -> Observation {
    let drmysql = drmysql();
    let spec = failover::DecisionSpec::from_drmysql(&drmysql);
    let previous = DRMySQLStatus::default();
    let (pods, nodes) = (Default::default(), Default::default());
    let inputs = failover::view::Inputs {
        primary: "orders-0",
        instances: &observation.instances,
        tunnel: &observation.tunnel,
        heartbeat: failover::view::PrimaryHeartbeat::default(),
        pods: &pods,
        nodes: &nodes,
        previous: &previous,
        roles: &Default::default(),
        remembered_flavor: None,
        now: at(0),
    };
    let observations = failover::view::observations(&inputs, &spec);
    observation.failover = Some(failover::report::run(
        None,
        &observations,
        &spec,
        &failover::Transitions::default(),
        at(0),
    ));
    observation
}

fn bare_observation(lag_seconds: f64, replicating: bool, tunnel_ok: bool) -> Observation {
    Observation {
        instances: vec![
            InstanceObservation {
                name: "orders-0".into(),
                node: Some("vm-0-7".into()),
                pod_ip: Some("10.0.0.2".into()),
                pod_ready: true,
                primary: true,
                server: Ok(server(true, true)),
                lag: None,
            },
            InstanceObservation {
                name: "orders-1".into(),
                node: Some("kosmos-member-tencent".into()),
                pod_ip: Some("10.1.0.2".into()),
                pod_ready: replicating,
                primary: false,
                server: Ok(server(false, replicating)),
                lag: Some(Lag::Measured {
                    lag: Duration::from_secs_f64(lag_seconds),
                    uncertainty: Duration::ZERO,
                }),
            },
        ],
        tunnel: vec![TunnelStatus {
            from: "orders-1".into(),
            to: "orders-0".into(),
            reachable: tunnel_ok,
            rtt_ms: tunnel_ok.then_some(31.5),
            checked_at: at(0),
            error: (!tunnel_ok).then(|| "connect timeout after 3s".into()),
        }],
        problems: Vec::new(),
        findings: Vec::new(),
        failover: None,
        roles: Default::default(),
    }
}

fn drmysql() -> DRMySQL {
    let mut drmysql = orders(json!({
        "engine": {"image": "mariadb:11.4"},
        "primary": {"node": "vm-0-7"},
        "replicas": [{"node": "kosmos-member-tencent"}],
        "lag": {"alertThresholdSeconds": 10}
    }));
    drmysql.metadata.generation = Some(3);
    drmysql
}

fn find<'a>(status: &'a DRMySQLStatus, kind: &str) -> &'a Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == kind)
        .expect("condition present")
}

#[test]
fn a_healthy_pair_is_running_with_every_condition_and_summary() {
    let status = compute(&drmysql(), &observation(0.25, true, true), at(0));
    assert_eq!(status.phase, Some(Phase::Running));
    assert_eq!(status.current_primary.as_deref(), Some("orders-0"));
    assert_eq!(status.primary_node.as_deref(), Some("vm-0-7"));
    assert_eq!(status.replicas_ready.as_deref(), Some("1/1"));
    assert_eq!(status.lag.as_deref(), Some("250ms"));
    assert_eq!(status.tunnel_state, Some(TunnelState::Reachable));
    assert_eq!(status.observed_generation, Some(3));
    let kinds: Vec<&str> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(kinds, condition::ALL);
    for c in &status.conditions {
        assert_eq!(c.observed_generation, Some(3));
        let healthy =
            if c.type_ == condition::FAILOVER_IN_PROGRESS || c.type_ == condition::ERRANT_TRANSACTIONS {
                "False"
            } else {
                "True"
            };
        assert_eq!(c.status, healthy, "{c:?}");
    }
    let replica = &status.instances[1];
    assert_eq!(
        (replica.role, replica.lag_seconds),
        (Some(InstanceRole::Replica), Some(0.25))
    );
    assert_eq!(replica.io_thread, Some(ThreadState::Running));
    assert_eq!(replica.read_only, Some(true));
}

#[test]
fn lag_has_hysteresis() {
    let healthy = {
        let mut d = drmysql();
        d.status = Some(compute(&d, &observation(1.0, true, true), at(0)));
        d
    };
    let high = compute(&healthy, &observation(10.5, true, true), at(10));
    assert_eq!(find(&high, condition::LAG_WITHIN_THRESHOLD).status, "False");
    assert_eq!(find(&high, condition::LAG_WITHIN_THRESHOLD).reason, "LagHigh");
    assert_eq!(high.phase, Some(Phase::Degraded));

    let mut lagging = healthy.clone();
    lagging.status = Some(high.clone());
    // 9 s is under the threshold but above 80 % of it: still high.
    let hovering = compute(&lagging, &observation(9.0, true, true), at(20));
    assert_eq!(find(&hovering, condition::LAG_WITHIN_THRESHOLD).status, "False");
    assert_eq!(
        find(&hovering, condition::LAG_WITHIN_THRESHOLD).last_transition_time,
        find(&high, condition::LAG_WITHIN_THRESHOLD).last_transition_time,
        "no transition, no new time"
    );
    let recovered = compute(&lagging, &observation(7.9, true, true), at(30));
    assert_eq!(find(&recovered, condition::LAG_WITHIN_THRESHOLD).status, "True");
    assert_eq!(
        find(&recovered, condition::LAG_WITHIN_THRESHOLD).last_transition_time,
        to_time(at(30))
    );

    let events = transitions(&high.conditions, &recovered.conditions);
    assert_eq!(
        events,
        [EventSpec {
            reason: "LagRecovered",
            warning: false,
            note: find(&recovered, condition::LAG_WITHIN_THRESHOLD).message.clone()
        }]
    );
    let events = transitions(
        &compute(&healthy, &observation(1.0, true, true), at(5)).conditions,
        &high.conditions,
    );
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].reason, events[0].warning), ("LagHigh", true));
}

#[test]
fn a_broken_link_names_the_pods_and_the_error() {
    let status = compute(&drmysql(), &observation(0.1, false, false), at(0));
    let tunnel = find(&status, condition::TUNNEL_REACHABLE);
    assert_eq!(
        (tunnel.status.as_str(), tunnel.reason.as_str()),
        ("False", "TunnelUnreachable")
    );
    assert_eq!(
        tunnel.message,
        "replica orders-1 on kosmos-member-tencent cannot reach primary orders-0 at 10.0.0.2:3306: connect timeout after 3s"
    );
    let replicating = find(&status, condition::REPLICATING);
    assert_eq!(replicating.status, "False");
    assert!(
        replicating.message.contains("orders-1") && replicating.message.contains("Can't connect"),
        "{}",
        replicating.message
    );
    assert_eq!(status.replicas_ready.as_deref(), Some("0/1"));
    assert_eq!(status.tunnel_state, Some(TunnelState::Unreachable));
    let events = transitions(&[], &status.conditions);
    let reasons: Vec<&str> = events.iter().map(|e| e.reason).collect();
    assert_eq!(
        reasons,
        ["TunnelUnreachable", "ReplicationBroken"],
        "first sight of a bad state raises warnings only"
    );
}

#[test]
fn problems_make_the_phase_invalid_and_name_themselves_in_ready() {
    let mut observed = observation(0.1, true, true);
    observed.problems.push(Problem {
        reason: "NodeNotFound",
        field: "spec.replicas[0].node".into(),
        message: "spec.replicas[0].node: node kosmos-member-tencent does not exist".into(),
    });
    let status = compute(&drmysql(), &observed, at(0));
    assert_eq!(status.phase, Some(Phase::Invalid));
    let ready = find(&status, condition::READY);
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "InvalidSpec")
    );
    assert!(ready.message.contains("kosmos-member-tencent does not exist"));
}

#[test]
fn errant_transactions_are_reported_on_the_instance_and_the_condition() {
    let mut observed = observation(0.1, true, true);
    observed.findings.push(Finding::Errant {
        instance: "orders-1".into(),
        gtids: "0-2-7".into(),
    });
    let status = compute(&drmysql(), &observed, at(0));
    assert_eq!(find(&status, condition::ERRANT_TRANSACTIONS).status, "True");
    assert_eq!(status.instances[1].errant_gtids.as_deref(), Some("0-2-7"));
    assert_eq!(find(&status, condition::READY).status, "False");
}

#[test]
fn a_stale_heartbeat_is_not_a_lag_figure() {
    let mut observed = observation(0.1, true, true);
    observed.instances[1].lag = Some(Lag::Stale {
        since: at(-60),
        replica_has_it: true,
    });
    let status = compute(&drmysql(), &observed, at(0));
    assert_eq!(status.lag.as_deref(), Some("stale"));
    let lag = find(&status, condition::LAG_WITHIN_THRESHOLD);
    assert_eq!(
        (lag.status.as_str(), lag.reason.as_str()),
        ("False", "HeartbeatStale")
    );
}

#[test]
fn phases_before_running() {
    let mut nothing = observation(0.0, false, true);
    for instance in &mut nothing.instances {
        instance.pod_ip = None;
        instance.server = Err("the Pod has no IP yet".into());
        instance.lag = None;
    }
    nothing.tunnel.clear();
    assert_eq!(compute(&drmysql(), &nothing, at(0)).phase, Some(Phase::Pending));
    let mut booting = nothing.clone();
    booting.instances[0].pod_ip = Some("10.0.0.2".into());
    let status = compute(&drmysql(), &booting, at(0));
    assert_eq!(status.phase, Some(Phase::Provisioning));
    assert_eq!(find(&status, condition::READY).reason, "PrimaryNotWritable");
    assert_eq!(status.lag.as_deref(), Some("unknown"));
    assert_eq!(status.tunnel_state, Some(TunnelState::Unknown));
}

#[test]
fn lag_is_written_for_humans() {
    assert_eq!(human_lag(0.0), "0ms");
    assert_eq!(human_lag(0.2504), "250ms");
    assert_eq!(human_lag(3.24), "3.2s");
    assert_eq!(human_lag(75.4), "75s");
}
