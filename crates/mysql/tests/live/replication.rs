//! Observation, preparation and replication setup on real servers.

use std::time::Duration;

use drmysql_mysql::testing::{MariaDb, ServerOptions};
use drmysql_mysql::{Durability, Error, Flavor, ThreadState};

use crate::support::{Pair, TIMEOUT, accounts, catch_up, client, connect, count, exec, prepare, root_client};

#[tokio::test]
async fn observe_reports_flavor_identity_and_settings() {
    let server = MariaDb::start(ServerOptions::new(7)).await.expect("starts");
    let mut connection = connect(&server).await;
    assert_eq!(connection.flavor(), Flavor::MariaDb);
    let status = connection.observe().await.expect("observed");
    assert_eq!(status.server_id, 7);
    assert!(!status.read_only && status.writable());
    assert_eq!(status.super_read_only, None, "MariaDB has no super_read_only");
    assert!(status.settings.log_bin && status.settings.log_replica_updates);
    assert_eq!(status.settings.gtid_strict_mode, Some(true));
    assert!(status.replica.is_none());
    assert!(status.gtid_binlog_state.is_some());
    assert!(!status.semi_sync.source_enabled);
}

#[tokio::test]
async fn prepare_is_idempotent_and_leaves_no_gtid() {
    let server = MariaDb::start(ServerOptions::new(1)).await.expect("starts");
    prepare(&server).await;
    prepare(&server).await;
    let status = connect(&server).await.observe().await.expect("observed");
    assert_eq!(status.gtid_executed, "", "setup ran with the binary log off");
    // The heartbeat account works with its (hostile) password and may write heartbeats.
    let heartbeat = accounts().heartbeat;
    let mut as_heartbeat = drmysql_mysql::Server::connect(
        &drmysql_mysql::Target::new("127.0.0.1", server.port(), heartbeat.user, heartbeat.password),
        TIMEOUT,
    )
    .await
    .expect("heartbeat account logs in");
    as_heartbeat
        .write_heartbeat()
        .await
        .expect("heartbeat account writes heartbeats");
    as_heartbeat
        .replica_status()
        .await
        .expect("heartbeat account reads replica status");
}

#[tokio::test]
async fn a_missing_prerequisite_is_named() {
    let mut options = ServerOptions::new(1);
    options.extra_options.push("gtid-strict-mode=OFF".to_owned());
    let server = MariaDb::start(options).await.expect("starts");
    let error = connect(&server)
        .await
        .prepare(&accounts())
        .await
        .expect_err("refused");
    assert!(matches!(error, Error::Prerequisite { .. }), "{error}");
    assert!(
        error.to_string().contains("gtid_strict_mode must be ON"),
        "{error}"
    );
}

#[tokio::test]
async fn a_fresh_pair_replicates_rows() {
    let pair = Pair::start().await;
    let mut app = root_client(&pair.primary).await;
    exec(
        &mut app,
        &[
            "CREATE DATABASE shop",
            "CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(64))",
            "INSERT INTO shop.orders VALUES (1, 'first'), (2, 'second')",
        ],
    )
    .await;
    catch_up(&pair.primary, &pair.replica).await;
    assert_eq!(
        count(&mut root_client(&pair.replica).await, "shop.orders").await,
        2
    );

    let status = connect(&pair.replica).await.observe().await.expect("observed");
    let replica = status.replica.expect("is a replica");
    assert_eq!(
        (replica.io_thread, replica.sql_thread),
        (ThreadState::Running, ThreadState::Running)
    );
    assert_eq!(
        (replica.source_host.as_str(), replica.source_port),
        ("127.0.0.1", pair.primary.port())
    );
    assert!(replica.gtid_auto_position);
    assert_eq!(replica.seconds_behind, Some(0));
    assert!(status.read_only, "replicas stay read-only");
    let primary = connect(&pair.primary).await.observe().await.expect("observed");
    assert_eq!(status.gtid_executed, primary.gtid_executed);
}

#[tokio::test]
async fn replicate_from_is_idempotent() {
    let pair = Pair::start().await;
    let mut replica = connect(&pair.replica).await;
    replica
        .replicate_from(&crate::support::source_for(&pair.primary))
        .await
        .expect("again");
    exec(&mut root_client(&pair.primary).await, &["CREATE DATABASE again"]).await;
    catch_up(&pair.primary, &pair.replica).await;
}

#[tokio::test]
async fn lossless_commit_waits_for_the_replica() {
    let pair = Pair::start().await;
    let source = connect(&pair.primary)
        .await
        .configure_source_durability(Durability::Lossless)
        .await
        .expect("source lossless");
    assert!(source.is_lossless_source(), "{source:?}");
    connect(&pair.replica)
        .await
        .configure_replica_durability(Durability::Lossless)
        .await
        .expect("replica lossless");
    let mut waited = 0;
    loop {
        let status = connect(&pair.primary)
            .await
            .observe()
            .await
            .expect("observed")
            .semi_sync;
        if status.clients == 1 && status.source_active {
            break;
        }
        waited += 1;
        assert!(
            waited < 100,
            "the replica never registered as a semi-sync client: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    exec(
        &mut root_client(&pair.primary).await,
        &[
            "CREATE DATABASE lossless",
            "CREATE TABLE lossless.t (id INT PRIMARY KEY)",
        ],
    )
    .await;

    // Stop the replica's receiver: a commit on the primary must now wait.
    let mut replica = connect(&pair.replica).await;
    replica
        .run(&replica.dialect().stop_io_thread())
        .await
        .expect("IO thread stops");
    let primary = pair.primary.port();
    let mut writer = client(&pair.primary, "root", drmysql_mysql::testing::ROOT_PASSWORD).await;
    let commit = tokio::spawn(async move {
        exec(&mut writer, &["INSERT INTO lossless.t VALUES (1)"]).await;
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !commit.is_finished(),
        "the commit on {primary} returned without an acknowledgement"
    );
    let waiting = connect(&pair.primary)
        .await
        .observe()
        .await
        .expect("observed")
        .semi_sync;
    assert!(
        waiting.source_active && waiting.waiting_sessions >= 1,
        "{waiting:?}"
    );

    // Restart the receiver: the commit completes and the row is on the replica.
    replica
        .run(&replica.dialect().start_io_thread())
        .await
        .expect("IO thread starts");
    tokio::time::timeout(Duration::from_secs(10), commit)
        .await
        .expect("the commit completes once the replica acknowledges")
        .expect("commit task");
    catch_up(&pair.primary, &pair.replica).await;
    assert_eq!(
        count(&mut root_client(&pair.replica).await, "lossless.t").await,
        1
    );

    // Back to async: semi-sync off on both sides.
    let source = connect(&pair.primary)
        .await
        .configure_source_durability(Durability::Async)
        .await
        .expect("source async");
    assert!(!source.source_enabled);
}
