//! Scenario 3, lag alert: the replica is made to fall behind by a client
//! holding a lock on it: an open transaction that has locked the heartbeat
//! row, so the replica's SQL thread cannot apply the primary's heartbeats.
//! (`FLUSH TABLES WITH READ LOCK` would stall it too, but then MariaDB blocks
//! reads of `@@gtid_slave_pos` as well, and the controller reports the
//! replica unobservable instead of lagging.) Past the threshold the DRMySQL must show
//! `LagWithinThreshold=False` (reason LagHigh) with a LagHigh Event, the lag
//! metric above the threshold, and the replica out of the reader Service's
//! ready endpoints. Released, everything must return.
//!
//! Root and MariaDB are required (the test fails naming what is missing).

#[path = "scenario_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use drmysql_api::names::condition;
use drmysql_e2e::sandbox::mysql::HeldSession;
use drmysql_e2e::sandbox::wait;

const NAMESPACE: &str = "shop";
const NAME: &str = "orders";
/// A threshold a held lock crosses quickly.
const THRESHOLD_SECONDS: f64 = 3.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_replica_raises_the_alert_and_leaves_the_readers() {
    let sandbox = support::start().await;
    let mut example = support::check(&sandbox, sandbox.example(NAMESPACE, NAME));
    example["spec"]["lag"]["alertThresholdSeconds"] = serde_json::json!(THRESHOLD_SECONDS as i64);
    support::apply_and_wait_ready(&sandbox, &example).await;
    let replica = format!("{NAME}-tencent");
    let replica_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &replica).await);
    let readers = format!("{NAME}-replicas");
    support::wait_endpoint(&sandbox, NAMESPACE, &readers, replica_ip, true).await;

    // Hold the replica's applier.
    let target = support::check(&sandbox, sandbox.sql_target(NAMESPACE, NAME, replica_ip).await);
    let held = support::check(
        &sandbox,
        HeldSession::open(
            &target,
            &["START TRANSACTION", "SELECT * FROM drmysql.heartbeat FOR UPDATE"],
        )
        .await,
    );
    let locked = Instant::now();
    let lagging = support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "LagWithinThreshold False (LagHigh)",
        Duration::from_secs(60),
        |drmysql| {
            support::condition(drmysql, condition::LAG_WITHIN_THRESHOLD)
                .is_some_and(|c| c.status == "False" && c.reason == "LagHigh")
        },
    )
    .await;
    println!("LagHigh {:.1} s after the lock", locked.elapsed().as_secs_f64());
    assert!(
        !support::has(&lagging, condition::READY, "True"),
        "{}",
        support::describe(&lagging)
    );
    let labels = [
        ("namespace", NAMESPACE),
        ("name", NAME),
        ("instance", replica.as_str()),
    ];
    let lag = wait::until(
        "the lag metric above the threshold",
        Duration::from_secs(30),
        || async {
            let metrics = support::metrics(&sandbox).await;
            match support::series(&metrics, "drmysql_replication_lag_seconds", &labels) {
                Some(lag) if lag > THRESHOLD_SECONDS => Ok(lag),
                other => Err(format!("drmysql_replication_lag_seconds = {other:?}")),
            }
        },
    )
    .await;
    println!("lag metric {:.1} s", support::check(&sandbox, lag));
    support::wait_endpoint(&sandbox, NAMESPACE, &readers, replica_ip, false).await;
    let events = support::events(&sandbox, NAMESPACE, NAME).await;
    assert!(
        events.iter().any(|(reason, _)| reason == "LagHigh"),
        "a LagHigh Event: {events:?}"
    );

    // Release.
    held.release();
    support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "LagWithinThreshold True and Ready after the release",
        Duration::from_secs(60),
        |drmysql| {
            support::has(drmysql, condition::LAG_WITHIN_THRESHOLD, "True")
                && support::has(drmysql, condition::READY, "True")
        },
    )
    .await;
    support::wait_endpoint(&sandbox, NAMESPACE, &readers, replica_ip, true).await;
    let events = support::events(&sandbox, NAMESPACE, NAME).await;
    assert!(
        events.iter().any(|(reason, _)| reason == "LagRecovered"),
        "a LagRecovered Event: {events:?}"
    );

    support::finish(sandbox).await;
}
