//! The mapping from the reconcile's observations to the decision's.

use chrono::TimeZone;
use drmysql_api::drmysql::InstanceStatus as InstanceReport;
use drmysql_mysql::status::BinlogSettings;
use drmysql_mysql::{InstanceStatus, ReplicaStatus, SemiSyncStatus, ServerVersion};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    NodeCondition, NodeStatus, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::json;

use super::*;
use crate::build::tests::orders;

pub(crate) fn at(second: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + second, 0)
        .single()
        .expect("valid")
}

pub(crate) fn spec(extra: serde_json::Value) -> DecisionSpec {
    let mut spec = json!({
        "engine": {"image": "mariadb:11.4"},
        "primary": {"node": "vm-0-7"},
        "replicas": [{"node": "kosmos-member-tencent"}],
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    DecisionSpec::from_drmysql(&orders(spec))
}

pub(crate) fn server(primary: bool, io: drmysql_mysql::ThreadState) -> InstanceStatus {
    InstanceStatus {
        version: ServerVersion::parse("10.11.19-MariaDB").expect("version"),
        server_id: if primary { 1 } else { 2 },
        server_uuid: None,
        read_only: !primary,
        super_read_only: None,
        gtid_executed: "0-1-10".into(),
        gtid_binlog_state: Some("0-1-10".into()),
        gtid_replica_pos: None,
        settings: BinlogSettings::default(),
        replica: (!primary).then(|| ReplicaStatus {
            source_host: "10.0.0.2".into(),
            source_port: 3306,
            io_thread: io,
            sql_thread: drmysql_mysql::ThreadState::Running,
            last_io_errno: 0,
            last_io_error: None,
            last_sql_errno: 0,
            last_sql_error: None,
            seconds_behind: Some(0),
            retrieved_gtids: "0-1-10".into(),
            gtid_auto_position: true,
            sql_delay: Duration::ZERO,
        }),
        semi_sync: SemiSyncStatus::default(),
        uptime: Duration::from_secs(100),
    }
}

/// The primary as observe saw it (its server or its connect error), and the
/// replica, whose lag is measured only while the primary answers.
pub(crate) fn instances(
    primary: Result<InstanceStatus, String>,
    io: drmysql_mysql::ThreadState,
) -> Vec<InstanceObservation> {
    let lag = primary.is_ok().then_some(Lag::Measured {
        lag: Duration::from_millis(250),
        uncertainty: Duration::ZERO,
    });
    vec![
        InstanceObservation {
            name: "orders-0".into(),
            node: Some("vm-0-7".into()),
            pod_ip: Some("10.0.0.2".into()),
            pod_ready: primary.is_ok(),
            primary: true,
            server: primary,
            lag: None,
        },
        InstanceObservation {
            name: "orders-1".into(),
            node: Some("kosmos-member-tencent".into()),
            pod_ip: Some("10.1.0.2".into()),
            pod_ready: true,
            primary: false,
            server: Ok(server(false, io)),
            lag,
        },
    ]
}

pub(crate) fn probe(reachable: bool, error: Option<&str>) -> Vec<TunnelStatus> {
    vec![TunnelStatus {
        from: "orders-1".into(),
        to: "orders-0".into(),
        reachable,
        rtt_ms: reachable.then_some(0.5),
        checked_at: at(0),
        error: error.map(str::to_owned),
    }]
}

pub(crate) fn pod(container: ContainerState, restarts: i32) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some("orders-0".into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some("vm-0-7".into()),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            container_statuses: Some(vec![ContainerStatus {
                name: DATABASE_CONTAINER.into(),
                state: Some(container),
                restart_count: restarts,
                ..ContainerStatus::default()
            }]),
            ..PodStatus::default()
        }),
    }
}

pub(crate) fn running() -> ContainerState {
    ContainerState {
        running: Some(ContainerStateRunning::default()),
        ..ContainerState::default()
    }
}

pub(crate) fn crash_waiting() -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some("CrashLoopBackOff".into()),
            ..ContainerStateWaiting::default()
        }),
        ..ContainerState::default()
    }
}

pub(crate) fn node(ready: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some("vm-0-7".into()),
            ..ObjectMeta::default()
        },
        status: Some(NodeStatus {
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: ready.into(),
                ..NodeCondition::default()
            }]),
            ..NodeStatus::default()
        }),
        ..Node::default()
    }
}

/// A previous status that saw both instances with an IP and the replica's lag.
pub(crate) fn previous() -> DRMySQLStatus {
    DRMySQLStatus {
        instances: vec![
            InstanceReport {
                name: "orders-0".into(),
                pod_ip: Some("10.0.0.2".into()),
                ..InstanceReport::default()
            },
            InstanceReport {
                name: "orders-1".into(),
                pod_ip: Some("10.1.0.2".into()),
                lag_seconds: Some(1.5),
                ..InstanceReport::default()
            },
        ],
        ..DRMySQLStatus::default()
    }
}

struct World {
    instances: Vec<InstanceObservation>,
    tunnel: Vec<TunnelStatus>,
    heartbeat: PrimaryHeartbeat,
    pods: BTreeMap<String, Pod>,
    nodes: BTreeMap<String, Node>,
    previous: DRMySQLStatus,
}

impl World {
    fn healthy() -> Self {
        Self {
            instances: instances(
                Ok(server(true, drmysql_mysql::ThreadState::Stopped)),
                drmysql_mysql::ThreadState::Running,
            ),
            tunnel: probe(true, None),
            heartbeat: PrimaryHeartbeat {
                newest: Some(at(-1)),
                age: Some(Duration::from_millis(400)),
            },
            pods: BTreeMap::from([("orders-0".to_owned(), pod(running(), 0))]),
            nodes: BTreeMap::from([("vm-0-7".to_owned(), node("True"))]),
            previous: previous(),
        }
    }

    fn observe(&self) -> Observations {
        let inputs = Inputs {
            primary: "orders-0",
            instances: &self.instances,
            tunnel: &self.tunnel,
            heartbeat: self.heartbeat,
            pods: &self.pods,
            nodes: &self.nodes,
            previous: &self.previous,
            roles: &BTreeMap::new(),
            remembered_flavor: None,
            now: at(0),
        };
        observations(&inputs, &spec(json!({})))
    }
}

#[test]
fn a_healthy_pair_maps_to_every_reading_stamped_with_the_observation_time() {
    let observations = World::healthy().observe();
    assert_eq!(observations.primary, "orders-0");
    assert_eq!(observations.flavor, GtidFlavor::MariaDb);
    assert_eq!(
        observations.controller_check,
        Some(Observed::new(Reachability::Alive, at(0)))
    );
    let primary = observations.primary_server.expect("primary read").value;
    assert_eq!(primary.gtids, "0-1-10");
    assert_eq!(primary.origin, GtidOrigin::ServerId(1));
    assert!(!primary.read_only);
    assert_eq!(primary.newest_heartbeat, Some(at(-1)));
    assert_eq!(observations.pod, Some(Observed::new(PodState::Running, at(0))));
    assert_eq!(observations.node, Some(Observed::new(NodeState::Ready, at(0))));
    assert_eq!(observations.request, None);
    let [replica] = observations.replicas.as_slice() else {
        panic!("one replica: {:?}", observations.replicas)
    };
    assert_eq!(replica.name, "orders-1");
    assert_eq!(replica.role, InstanceRole::Replica);
    assert_eq!(replica.probe, Some(Observed::new(Reachability::Alive, at(0))));
    let server = &replica.server.as_ref().expect("replica read").value;
    assert_eq!(
        (server.io_thread, server.sql_thread),
        (ThreadState::Running, ThreadState::Running)
    );
    assert_eq!(server.heartbeat_age, Some(Duration::from_millis(250)));
    assert_eq!(server.last_lag, Some(Duration::from_millis(250)));
    assert_eq!(server.executed, "0-1-10");
    assert_eq!(server.received, "0-1-10");
}

#[test]
fn a_primary_whose_heartbeat_stopped_advancing_is_stalled() {
    let mut world = World::healthy();
    world.heartbeat.age = Some(Duration::from_secs(30));
    assert_eq!(
        world.observe().controller_check.map(|check| check.value),
        Some(Reachability::Stalled)
    );
}

#[test]
fn a_lost_primary_gives_classified_failures_and_the_replica_keeps_its_last_lag() {
    let mut world = World::healthy();
    world.instances = instances(
        Err("cannot connect to 10.0.0.2:3306: Input/output error: Connection refused (os error 111)".into()),
        drmysql_mysql::ThreadState::Connecting,
    );
    world.tunnel = probe(false, Some("connect failed: Connection refused (os error 111)"));
    world.heartbeat = PrimaryHeartbeat::default();
    world.pods = BTreeMap::from([("orders-0".to_owned(), pod(crash_waiting(), 1))]);
    let observations = world.observe();
    assert_eq!(
        observations.controller_check.map(|check| check.value),
        Some(Reachability::Refused)
    );
    assert_eq!(observations.primary_server, None);
    assert_eq!(
        observations.pod.map(|pod| pod.value),
        Some(PodState::ContainerRestarting)
    );
    let replica = &observations.replicas[0];
    assert_eq!(
        replica.probe.as_ref().map(|probe| probe.value),
        Some(Reachability::Refused)
    );
    let server = &replica.server.as_ref().expect("replica read").value;
    assert_eq!(server.io_thread, ThreadState::Connecting);
    assert_eq!(
        server.heartbeat_age, None,
        "unknown while the lag is not measured"
    );
    assert_eq!(
        server.last_lag,
        Some(Duration::from_millis(1500)),
        "the previous status's lag"
    );
}

#[test]
fn connect_errors_are_classified_by_what_the_operating_system_said() {
    for (error, expected) in [
        (
            "cannot connect to 10.0.0.2:3306: Connection refused (os error 111)",
            Some(Reachability::Refused),
        ),
        (
            "connect on 10.0.0.2:3306 did not finish within 3s",
            Some(Reachability::Timeout),
        ),
        ("connect timeout after 2.4s", Some(Reachability::Timeout)),
        (
            "no MySQL greeting within 2.4s after the TCP connect",
            Some(Reachability::Timeout),
        ),
        (
            "connect failed: No route to host (os error 113)",
            Some(Reachability::Unreachable),
        ),
        ("the Pod has no IP yet", None),
    ] {
        assert_eq!(classify_error(error), expected, "{error}");
    }
}

#[test]
fn a_sidecar_the_controller_cannot_reach_says_nothing_about_the_primary() {
    for error in [
        "the sidecar of orders-1 (10.1.0.2:9104) is unreachable: Connection refused (os error 111)",
        "the sidecar of orders-1 (10.1.0.2:9104) did not answer within 3s",
    ] {
        assert_eq!(classify_probe_error(error), None, "{error}");
    }
    let mut world = World::healthy();
    world.tunnel = probe(
        false,
        Some("the sidecar of orders-1 (10.1.0.2:9104) did not answer within 3s"),
    );
    assert_eq!(world.observe().replicas[0].probe, None);
    assert_eq!(
        classify_probe_error("connect failed: Connection refused (os error 111)"),
        Some(Reachability::Refused)
    );
}

#[test]
fn the_pod_state_comes_from_the_database_container() {
    assert_eq!(pod_state(Some(&pod(running(), 0)), true), Some(PodState::Running));
    assert_eq!(
        pod_state(Some(&pod(crash_waiting(), 3)), true),
        Some(PodState::ContainerRestarting)
    );
    assert_eq!(
        pod_state(Some(&pod(crash_waiting(), 0)), true),
        Some(PodState::Unknown),
        "waiting before its first start"
    );
    let terminated = ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: 137,
            ..ContainerStateTerminated::default()
        }),
        ..ContainerState::default()
    };
    assert_eq!(
        pod_state(Some(&pod(terminated, 0)), true),
        Some(PodState::ContainerTerminated)
    );
    let mut deleting = pod(running(), 0);
    deleting.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
    assert_eq!(pod_state(Some(&deleting), true), Some(PodState::Deleted));
    assert_eq!(pod_state(None, true), Some(PodState::Deleted));
    assert_eq!(pod_state(None, false), None, "never created yet");
    let mut no_status = pod(running(), 0);
    no_status.status = None;
    assert_eq!(pod_state(Some(&no_status), true), Some(PodState::Unknown));
}

#[test]
fn the_node_state_is_its_ready_condition() {
    assert_eq!(node_state(&node("True")), NodeState::Ready);
    assert_eq!(node_state(&node("False")), NodeState::NotReady);
    assert_eq!(node_state(&node("Unknown")), NodeState::Unknown);
    assert_eq!(node_state(&Node::default()), NodeState::Unknown);
    let mut world = World::healthy();
    world.nodes = BTreeMap::from([("vm-0-7".to_owned(), node("Unknown"))]);
    assert_eq!(
        world.observe().node.map(|node| node.value),
        Some(NodeState::Unknown)
    );
    world.nodes.clear();
    assert_eq!(world.observe().node, None, "a Node not read is not known");
}
