//! Heartbeat lag on real servers: an induced lag is measured within 100 ms, and
//! a stopped heartbeat is reported stale instead of as a growing lag.

use std::time::{Duration, Instant};

use drmysql_mysql::{HeartbeatConfig, HeartbeatWriter, Lag, measure_lag};

use crate::support::{Pair, TIMEOUT, connect, exec, root_client};

const INTERVAL: Duration = Duration::from_millis(100);

async fn wait_for_zero_lag(pair: &Pair, config: HeartbeatConfig) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut primary = connect(&pair.primary).await;
        let mut replica = connect(&pair.replica).await;
        if let Ok(Lag::Measured { lag, .. }) = measure_lag(Some(&mut primary), &mut replica, config).await
            && lag < INTERVAL
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never caught up with the heartbeat"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_induced_lag_is_measured_within_100ms() {
    let pair = Pair::start().await;
    let _writer = HeartbeatWriter::spawn(pair.primary.root(), INTERVAL, TIMEOUT);
    let config = HeartbeatConfig::new(INTERVAL);
    wait_for_zero_lag(&pair, config).await;

    // A read lock on the replica's heartbeat table stops its SQL thread from
    // applying heartbeats: from now on the replica falls behind.
    let mut locker = root_client(&pair.replica).await;
    exec(&mut locker, &["LOCK TABLES drmysql.heartbeat READ"]).await;
    let locked_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut primary = connect(&pair.primary).await;
    let mut replica = connect(&pair.replica).await;
    let primary_sample = primary.primary_heartbeat_sample().await.expect("primary sample");
    let replica_sample = replica.replica_heartbeat_sample().await.expect("replica sample");
    let induced = replica_sample.taken_at - locked_at;
    let measured = drmysql_mysql::lag::compute(Some(&primary_sample), &replica_sample, config);
    let Lag::Measured { lag, uncertainty } = measured else {
        panic!("expected a measured lag, got {measured:?}");
    };
    let error = lag.abs_diff(induced);
    eprintln!("induced {induced:?}, measured {lag:?} ± {uncertainty:?}, error {error:?}");
    assert!(
        error <= Duration::from_millis(100),
        "measured {lag:?} for an induced {induced:?} (error {error:?})"
    );
    assert!(uncertainty <= Duration::from_millis(100), "{uncertainty:?}");
    // Seconds_Behind_Master is whole seconds: reported beside, never instead.
    let status = replica
        .observe()
        .await
        .expect("observed")
        .replica
        .expect("replica");
    assert!(status.seconds_behind.is_some());

    exec(&mut locker, &["UNLOCK TABLES"]).await;
    wait_for_zero_lag(&pair, config).await;
}

#[tokio::test]
async fn a_stopped_heartbeat_is_stale_not_lag() {
    let mut pair = Pair::start().await;
    let writer = HeartbeatWriter::spawn(pair.primary.root(), INTERVAL, TIMEOUT);
    let config = HeartbeatConfig::new(INTERVAL);
    wait_for_zero_lag(&pair, config).await;
    writer.stop();
    tokio::time::sleep(config.stale_after + Duration::from_millis(300)).await;

    let mut primary = connect(&pair.primary).await;
    let mut replica = connect(&pair.replica).await;
    let stale = measure_lag(Some(&mut primary), &mut replica, config)
        .await
        .expect("measured");
    let Lag::Stale {
        since,
        replica_has_it,
    } = stale
    else {
        panic!("expected stale, got {stale:?}");
    };
    assert!(
        replica_has_it,
        "the replica applied the last heartbeat before the writer stopped"
    );

    // The primary gone: the replica alone can only say since when it is stale.
    pair.primary.kill9().await;
    let alone = measure_lag(None, &mut replica, config).await.expect("measured");
    assert_eq!(
        alone,
        Lag::Stale {
            since,
            replica_has_it: true
        }
    );
}
