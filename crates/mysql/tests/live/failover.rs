//! Promotion, fencing, rejoin and the errant-transaction check on real servers.

use std::time::{Duration, Instant};

use drmysql_mysql::Server;

use crate::support::{Pair, TIMEOUT, catch_up, client, connect, count, exec, root_client, source_for};

async fn seed(pair: &Pair) {
    exec(
        &mut root_client(&pair.primary).await,
        &[
            "CREATE DATABASE shop",
            "CREATE TABLE shop.orders (id INT PRIMARY KEY)",
            "INSERT INTO shop.orders VALUES (1), (2), (3)",
        ],
    )
    .await;
    catch_up(&pair.primary, &pair.replica).await;
}

#[tokio::test]
async fn promotion_after_kill9_of_the_primary() {
    let mut pair = Pair::start().await;
    seed(&pair).await;
    pair.primary.kill9().await;
    let killed = Instant::now();

    let mut replica = connect(&pair.replica).await;
    let promotion = replica.promote(Duration::from_secs(5)).await.expect("promotes");
    assert!(promotion.was_replica);
    assert!(
        promotion.gtid_executed.starts_with("0-1-"),
        "{}",
        promotion.gtid_executed
    );
    exec(
        &mut root_client(&pair.replica).await,
        &["INSERT INTO shop.orders VALUES (4)"],
    )
    .await;
    let first_write = killed.elapsed();
    assert!(
        first_write < Duration::from_secs(5),
        "first write {first_write:?} after the kill"
    );

    let status = replica.observe().await.expect("observed");
    assert!(status.writable() && status.replica.is_none());
    assert_eq!(
        count(&mut root_client(&pair.replica).await, "shop.orders").await,
        4
    );

    // Promoting again is harmless.
    let again = replica
        .promote(Duration::from_secs(5))
        .await
        .expect("promotes again");
    assert!(!again.was_replica);
}

#[tokio::test]
async fn fencing_refuses_writes_and_ends_client_connections() {
    let pair = Pair::start().await;
    seed(&pair).await;
    exec(
        &mut root_client(&pair.primary).await,
        &[
            "SET SESSION sql_log_bin = 0",
            "CREATE USER app@'%' IDENTIFIED BY 'app-pw'",
            "GRANT SELECT, INSERT ON shop.* TO app@'%'",
        ],
    )
    .await;
    let mut app = client(&pair.primary, "app", "app-pw").await;
    exec(&mut app, &["INSERT INTO shop.orders VALUES (10)"]).await;

    let report = connect(&pair.primary).await.fence().await;
    assert!(report.fenced(), "{report:?}");
    assert!(report.read_only && report.super_read_only.is_none());
    assert!(report.killed_connections >= 1, "{report:?}");
    assert!(report.errors.is_empty(), "{report:?}");

    use mysql_async::prelude::Queryable;
    let old_connection =
        tokio::time::timeout(TIMEOUT, app.query_drop("INSERT INTO shop.orders VALUES (11)")).await;
    assert!(
        matches!(old_connection, Ok(Err(_))),
        "the application's connection was ended"
    );
    let mut fresh = client(&pair.primary, "app", "app-pw").await;
    let refused = fresh
        .query_drop("INSERT INTO shop.orders VALUES (12)")
        .await
        .expect_err("read-only");
    assert!(
        refused.to_string().contains("read-only") || refused.to_string().contains("1290"),
        "{refused}"
    );

    // Fencing twice is harmless, and replication still flows to the replica.
    assert!(connect(&pair.primary).await.fence().await.fenced());
    catch_up(&pair.primary, &pair.replica).await;
    assert_eq!(
        count(&mut root_client(&pair.replica).await, "shop.orders").await,
        4
    );
}

#[tokio::test]
async fn a_former_primary_rejoins_and_catches_up() {
    let mut pair = Pair::start().await;
    seed(&pair).await;
    pair.primary.kill9().await;
    connect(&pair.replica)
        .await
        .promote(Duration::from_secs(5))
        .await
        .expect("promotes");
    exec(
        &mut root_client(&pair.replica).await,
        &["INSERT INTO shop.orders VALUES (4), (5)"],
    )
    .await;

    // The old primary comes back read-only, as drmysql boots every instance.
    pair.primary.restart(true).await.expect("old primary restarts");
    let mut old = connect(&pair.primary).await;
    let mut new = connect(&pair.replica).await;
    let errant = old.errant_transactions(&mut new).await.expect("compared");
    assert!(!errant.has_errant(), "{errant:?}");
    old.replicate_from(&source_for(&pair.replica))
        .await
        .expect("rejoins");
    catch_up(&pair.replica, &pair.primary).await;
    assert_eq!(
        count(&mut root_client(&pair.primary).await, "shop.orders").await,
        5
    );
    let status = old.observe().await.expect("observed");
    let replica = status.replica.expect("replicates");
    assert!(replica.replicating(), "{replica:?}");
    assert!(status.read_only);
}

#[tokio::test]
async fn a_write_on_a_fenced_former_primary_is_errant() {
    let pair = Pair::start().await;
    seed(&pair).await;
    // Planned switchover: fence the primary, let the replica catch up, promote it.
    let mut old: Server = connect(&pair.primary).await;
    assert!(old.fence().await.fenced());
    let position = old.observe().await.expect("observed").gtid_executed;
    let mut new = connect(&pair.replica).await;
    new.wait_for_position(&position, Duration::from_secs(10))
        .await
        .expect("caught up");
    new.promote(Duration::from_secs(5)).await.expect("promotes");
    exec(
        &mut root_client(&pair.replica).await,
        &["INSERT INTO shop.orders VALUES (100)"],
    )
    .await;
    let clean = old.errant_transactions(&mut new).await.expect("compared");
    assert!(!clean.has_errant(), "{clean:?}");

    // Someone makes the old primary writable by hand and writes to it.
    exec(
        &mut root_client(&pair.primary).await,
        &[
            "SET GLOBAL read_only = OFF",
            "INSERT INTO shop.orders VALUES (200)",
        ],
    )
    .await;
    let report = old.errant_transactions(&mut new).await.expect("compared");
    assert!(report.has_errant(), "{report:?}");
    assert!(
        report.errant.starts_with("0-1-"),
        "the errant GTID is the old primary's: {report:?}"
    );
    assert!(report.in_flight.is_empty(), "{report:?}");
}
