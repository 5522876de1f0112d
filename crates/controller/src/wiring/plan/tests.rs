//! Table-style tests of the wiring plan.

use std::time::Duration;

use drmysql_mysql::status::BinlogSettings;
use drmysql_mysql::{ReplicaStatus, SemiSyncStatus, ServerVersion};

use super::*;

fn server(server_id: u32, writable: bool, binlog_state: &str) -> InstanceStatus {
    InstanceStatus {
        version: ServerVersion::parse("10.11.19-MariaDB-log").expect("version"),
        server_id,
        server_uuid: None,
        read_only: !writable,
        super_read_only: None,
        gtid_executed: binlog_state.to_owned(),
        gtid_binlog_state: Some(binlog_state.to_owned()),
        gtid_replica_pos: None,
        settings: BinlogSettings::default(),
        replica: None,
        semi_sync: SemiSyncStatus::default(),
        uptime: Duration::from_secs(60),
    }
}

fn replicating(
    mut status: InstanceStatus,
    source: &Endpoint,
    io: ThreadState,
    sql: ThreadState,
) -> InstanceStatus {
    status.replica = Some(ReplicaStatus {
        source_host: source.host.clone(),
        source_port: source.port,
        io_thread: io,
        sql_thread: sql,
        last_io_errno: 0,
        last_io_error: None,
        last_sql_errno: 0,
        last_sql_error: None,
        seconds_behind: Some(0),
        retrieved_gtids: String::new(),
        gtid_auto_position: true,
        sql_delay: Duration::ZERO,
    });
    status
}

fn endpoint(host: &str) -> Endpoint {
    Endpoint {
        host: host.to_owned(),
        port: 3306,
    }
}

fn view(name: &str, host: &str, status: InstanceStatus) -> Observed {
    Observed {
        name: name.to_owned(),
        endpoint: Some(endpoint(host)),
        status: Ok(status),
    }
}

#[test]
fn a_fresh_pair_gets_a_writable_primary_and_an_attached_replica() {
    let observed = [
        view("db-1", "10.0.1.2", server(2, false, "")),
        view("db-0", "10.0.0.2", server(1, false, "")),
    ];
    let plan = plan("db-0", &observed, ReplicationMode::Async, &[]);
    assert_eq!(
        plan.actions,
        [
            Action::MakeWritable {
                instance: "db-0".into()
            },
            Action::ReplicateFrom {
                instance: "db-1".into(),
                source: endpoint("10.0.0.2")
            },
        ]
    );
    assert!(plan.findings.is_empty());
}

#[test]
fn the_steady_state_needs_nothing() {
    let primary = server(1, true, "0-1-42");
    let replica = replicating(
        server(2, false, "0-1-42"),
        &endpoint("10.0.0.2"),
        ThreadState::Running,
        ThreadState::Running,
    );
    let observed = [
        view("db-1", "10.0.1.2", replica),
        view("db-0", "10.0.0.2", primary),
    ];
    assert_eq!(
        plan("db-0", &observed, ReplicationMode::Async, &[]),
        Plan::default()
    );
}

#[test]
fn a_stray_writer_is_fenced_before_anything_else() {
    let observed = [
        view("db-1", "10.0.1.2", server(2, true, "")),
        view("db-0", "10.0.0.2", server(1, false, "")),
    ];
    let plan = plan("db-0", &observed, ReplicationMode::Async, &[]);
    assert_eq!(
        plan.actions[0],
        Action::Fence {
            instance: "db-1".into()
        }
    );
    assert_eq!(
        plan.actions[1],
        Action::MakeWritable {
            instance: "db-0".into()
        }
    );
}

#[test]
fn lossless_mode_configures_both_sides_before_the_primary_takes_writes() {
    let observed = [
        view("db-1", "10.0.1.2", server(2, false, "")),
        view("db-0", "10.0.0.2", server(1, false, "")),
    ];
    let lossless = plan("db-0", &observed, ReplicationMode::Lossless, &[]);
    assert_eq!(
        lossless.actions,
        [
            Action::ConfigureSource {
                instance: "db-0".into(),
                durability: Durability::Lossless
            },
            Action::MakeWritable {
                instance: "db-0".into()
            },
            Action::ConfigureReplica {
                instance: "db-1".into(),
                durability: Durability::Lossless
            },
            Action::ReplicateFrom {
                instance: "db-1".into(),
                source: endpoint("10.0.0.2")
            },
        ]
    );
    // Back to async turns the source side off.
    let mut lossless_primary = server(1, true, "");
    lossless_primary.semi_sync = SemiSyncStatus {
        source_enabled: true,
        wait_point: Some("AFTER_SYNC".into()),
        timeout: Some(Duration::from_secs(1 << 30)),
        ..SemiSyncStatus::default()
    };
    let observed = [view("db-0", "10.0.0.2", lossless_primary)];
    assert_eq!(
        plan("db-0", &observed, ReplicationMode::Async, &[]).actions,
        [Action::ConfigureSource {
            instance: "db-0".into(),
            durability: Durability::Async
        }]
    );
}

#[test]
fn a_replica_with_errant_transactions_is_not_attached() {
    let observed = [
        view("db-1", "10.0.1.2", server(2, false, "0-1-40,0-2-3")),
        view("db-0", "10.0.0.2", server(1, true, "0-1-42")),
    ];
    let plan = plan("db-0", &observed, ReplicationMode::Async, &[]);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(
        plan.findings,
        [Finding::Errant {
            instance: "db-1".into(),
            gtids: "0-2-3".into()
        }]
    );
}

#[test]
fn replicas_pointed_elsewhere_are_repointed_and_stopped_ones_restarted() {
    let elsewhere = replicating(
        server(2, false, ""),
        &endpoint("10.9.9.9"),
        ThreadState::Running,
        ThreadState::Running,
    );
    let stopped = replicating(
        server(3, false, ""),
        &endpoint("10.0.0.2"),
        ThreadState::Stopped,
        ThreadState::Stopped,
    );
    let connecting = replicating(
        server(4, false, ""),
        &endpoint("10.0.0.2"),
        ThreadState::Connecting,
        ThreadState::Running,
    );
    let observed = [
        view("db-1", "10.0.1.2", elsewhere),
        view("db-2", "10.0.2.2", stopped),
        view("db-3", "10.0.3.2", connecting),
        view("db-0", "10.0.0.2", server(1, true, "")),
    ];
    let plan = plan("db-0", &observed, ReplicationMode::Async, &[]);
    assert_eq!(
        plan.actions,
        [
            Action::ReplicateFrom {
                instance: "db-1".into(),
                source: endpoint("10.0.0.2")
            },
            Action::ReplicateFrom {
                instance: "db-2".into(),
                source: endpoint("10.0.0.2")
            },
        ],
        "a Connecting IO thread is left to retry by itself"
    );
}

#[test]
fn broken_replication_is_reported_not_hidden() {
    let mut broken = replicating(
        server(2, false, ""),
        &endpoint("10.0.0.2"),
        ThreadState::Running,
        ThreadState::Stopped,
    );
    if let Some(replica) = broken.replica.as_mut() {
        replica.last_sql_errno = 1062;
        replica.last_sql_error = Some("Duplicate entry '7' for key 'PRIMARY'".into());
    }
    let observed = [
        view("db-1", "10.0.1.2", broken),
        view("db-0", "10.0.0.2", server(1, true, "")),
    ];
    let plan = plan("db-0", &observed, ReplicationMode::Async, &[]);
    assert!(plan.actions.is_empty());
    assert_eq!(
        plan.findings,
        [Finding::ReplicationBroken {
            instance: "db-1".into(),
            error: "SQL thread error 1062: Duplicate entry '7' for key 'PRIMARY'".into()
        }]
    );
}

#[test]
fn a_primary_that_replicates_is_left_to_failover() {
    let primary = replicating(
        server(1, false, ""),
        &endpoint("10.0.1.2"),
        ThreadState::Running,
        ThreadState::Running,
    );
    let observed = [
        view("db-1", "10.0.1.2", server(2, true, "")),
        view("db-0", "10.0.0.2", primary),
    ];
    let plan = plan("db-0", &observed, ReplicationMode::Async, &[]);
    assert!(
        !plan
            .actions
            .iter()
            .any(|action| matches!(action, Action::MakeWritable { .. }))
    );
    assert!(plan.findings.contains(&Finding::PrimaryReplicates {
        instance: "db-0".into(),
        source: "10.0.1.2:3306".into()
    }));
}

#[test]
fn unreachable_instances_and_missing_addresses_are_findings() {
    let observed = [
        Observed {
            name: "db-1".into(),
            endpoint: None,
            status: Err("connect timeout".into()),
        },
        Observed {
            name: "db-0".into(),
            endpoint: None,
            status: Ok(server(1, true, "")),
        },
    ];
    let plan = plan("db-0", &observed, ReplicationMode::Async, &[]);
    assert!(plan.actions.is_empty());
    assert_eq!(
        plan.findings,
        [
            Finding::Unreachable {
                instance: "db-1".into(),
                error: "connect timeout".into()
            },
            Finding::NoAddress {
                instance: "db-0".into()
            },
        ]
    );
}

#[test]
fn a_quarantined_instance_is_fenced_if_writable_but_never_attached() {
    let observed = [
        view("db-1", "10.0.1.2", server(2, true, "")),
        view("db-0", "10.0.0.2", server(1, true, "")),
    ];
    let plan = plan("db-0", &observed, ReplicationMode::Async, &["db-1".to_owned()]);
    assert_eq!(
        plan.actions,
        [Action::Fence {
            instance: "db-1".into()
        }]
    );
    assert!(plan.findings.is_empty(), "{:?}", plan.findings);

    // Its errant transactions stay reported while it is quarantined.
    let observed = [
        view("db-1", "10.0.1.2", server(2, false, "0-1-40,0-2-3")),
        view("db-0", "10.0.0.2", server(1, true, "0-1-42")),
    ];
    let errant = super::plan("db-0", &observed, ReplicationMode::Async, &["db-1".to_owned()]);
    assert!(errant.actions.is_empty(), "{:?}", errant.actions);
    assert_eq!(
        errant.findings,
        [Finding::Errant {
            instance: "db-1".into(),
            gtids: "0-2-3".into()
        }]
    );
}
