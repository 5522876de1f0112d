//! Benchmarks of the replication engine on real `mariadbd` servers:
//!
//! - promotion: from the decision to promote a replica whose primary was
//!   killed with SIGKILL, to the first write accepted on it (target: median
//!   under 500 ms);
//! - lag measurement error against ground truth on a busy primary, with the
//!   replica's applier stopped at a known instant (target: at most 100 ms), at
//!   heartbeat intervals of 100 ms and 1000 ms (the error is bounded by half an
//!   interval);
//! - the cost of one observation (`Server::observe`): time, and statements the
//!   server counted.
//!
//! Run with `cargo bench -p drmysql-mysql --features testing --bench engine`;
//! `DRMYSQL_BENCH_RUNS` sets the number of runs (default 20).

use std::time::{Duration, Instant};

use drmysql_mysql::testing::{MariaDb, ServerOptions};
use drmysql_mysql::{
    Account, Accounts, HeartbeatConfig, HeartbeatWriter, Lag, Server, SourceConfig, lag, measure_lag,
};
use mysql_async::prelude::Queryable;

const TIMEOUT: Duration = Duration::from_secs(10);

fn accounts() -> Accounts {
    Accounts {
        replication: Account::new("drm_repl", "bench-repl-pw"),
        heartbeat: Account::new("drm_heartbeat", "bench-hb-pw"),
    }
}

async fn pair() -> (MariaDb, MariaDb) {
    let primary = MariaDb::start(ServerOptions::new(1))
        .await
        .expect("primary starts");
    let replica = MariaDb::start(ServerOptions {
        read_only: true,
        ..ServerOptions::new(2)
    })
    .await
    .expect("replica starts");
    for server in [&primary, &replica] {
        server
            .connect()
            .await
            .expect("connects")
            .prepare(&accounts())
            .await
            .expect("prepares");
    }
    let source = SourceConfig::new("127.0.0.1", primary.port(), "drm_repl", "bench-repl-pw");
    replica
        .connect()
        .await
        .expect("connects")
        .replicate_from(&source)
        .await
        .expect("attaches");
    (primary, replica)
}

async fn client(server: &MariaDb) -> mysql_async::Conn {
    server.client().await.expect("client connects")
}

async fn catch_up(primary: &MariaDb, replica: &MariaDb) {
    let position = primary
        .connect()
        .await
        .expect("connects")
        .observe()
        .await
        .expect("observed")
        .gtid_executed;
    replica
        .connect()
        .await
        .expect("connects")
        .wait_for_position(&position, TIMEOUT)
        .await
        .expect("catches up");
}

struct Summary {
    samples: Vec<f64>,
}

impl Summary {
    fn new(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Self { samples }
    }

    fn quantile(&self, q: f64) -> f64 {
        let index = ((self.samples.len() - 1) as f64 * q).round() as usize;
        self.samples[index]
    }

    fn print(&self, name: &str, unit: &str) {
        println!(
            "{name:<44} n={:<3} min={:>8.2}{unit} p50={:>8.2}{unit} p90={:>8.2}{unit} max={:>8.2}{unit}",
            self.samples.len(),
            self.samples[0],
            self.quantile(0.5),
            self.quantile(0.9),
            self.samples[self.samples.len() - 1],
        );
    }
}

async fn bench_promotion(runs: usize) -> Summary {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let (mut primary, replica) = pair().await;
        let mut app = client(&primary).await;
        app.query_drop("CREATE DATABASE shop").await.expect("fixture");
        app.query_drop("CREATE TABLE shop.orders (id INT PRIMARY KEY)")
            .await
            .expect("fixture");
        for id in 0..200 {
            app.query_drop(format!("INSERT INTO shop.orders VALUES ({id})"))
                .await
                .expect("fixture");
        }
        catch_up(&primary, &replica).await;
        let mut candidate = replica.connect().await.expect("connects");
        primary.kill9().await;

        let decided = Instant::now();
        candidate.promote(TIMEOUT).await.expect("promotes");
        let mut writer = client(&replica).await;
        writer
            .query_drop("INSERT INTO shop.orders VALUES (1000)")
            .await
            .expect("first write");
        samples.push(decided.elapsed().as_secs_f64() * 1000.0);
    }
    Summary::new(samples)
}

/// Lag error against ground truth on a busy primary. An application writes a
/// row every 5 ms; stopping the replica's SQL thread at a known instant makes
/// the oldest unapplied transaction the first one committed after it, so the
/// true lag at the replica read is the time since the stop (within 5 ms).
async fn bench_lag_error(runs: usize, interval: Duration) -> Summary {
    let (primary, replica) = pair().await;
    let _heartbeats = HeartbeatWriter::spawn(primary.root(), interval, TIMEOUT);
    let mut app = client(&primary).await;
    app.query_drop("CREATE DATABASE load_test")
        .await
        .expect("fixture");
    app.query_drop("CREATE TABLE load_test.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6))")
        .await
        .expect("fixture");
    let load = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(5));
        loop {
            ticker.tick().await;
            app.query_drop("INSERT INTO load_test.t (at) VALUES (UTC_TIMESTAMP(6))")
                .await
                .expect("load");
        }
    });
    let config = HeartbeatConfig::new(interval);
    let mut primary_connection = primary.connect().await.expect("connects");
    let mut replica_connection = replica.connect().await.expect("connects");
    let mut control = client(&replica).await;
    let mut samples = Vec::new();
    for run in 0..runs {
        wait_for_zero_lag(&mut primary_connection, &mut replica_connection, config).await;
        // Vary the phase of the stop against the heartbeat ticks, and the lag.
        tokio::time::sleep(Duration::from_millis((run as u64 * 37) % 1000)).await;
        let before = Instant::now();
        control
            .query_drop("STOP SLAVE SQL_THREAD")
            .await
            .expect("stops the applier");
        let stopped_at = before + before.elapsed() / 2;
        tokio::time::sleep(Duration::from_millis(700 + (run as u64 * 137) % 900)).await;
        let primary_sample = primary_connection
            .primary_heartbeat_sample()
            .await
            .expect("sample");
        let replica_sample = replica_connection
            .replica_heartbeat_sample()
            .await
            .expect("sample");
        let truth = replica_sample.taken_at - stopped_at;
        match lag::compute(Some(&primary_sample), &replica_sample, config) {
            Lag::Measured { lag, .. } => samples.push(lag.abs_diff(truth).as_secs_f64() * 1000.0),
            other => panic!("expected a measurement, got {other:?}"),
        }
        control
            .query_drop("START SLAVE SQL_THREAD")
            .await
            .expect("starts the applier");
    }
    load.abort();
    Summary::new(samples)
}

async fn wait_for_zero_lag(primary: &mut Server, replica: &mut Server, config: HeartbeatConfig) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Lag::Measured { lag, .. }) = measure_lag(Some(&mut *primary), replica, config).await
            && lag < config.interval
        {
            return;
        }
        assert!(Instant::now() < deadline, "the replica never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn bench_observation(runs: usize) -> (Summary, f64) {
    let (_primary, replica) = pair().await;
    let mut connection = replica.connect().await.expect("connects");
    let mut counter = client(&replica).await;
    for _ in 0..10 {
        connection.observe().await.expect("warm-up");
    }
    let before = questions(&mut counter).await;
    let mut samples = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        connection.observe().await.expect("observed");
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let after = questions(&mut counter).await;
    // The counter's own SHOW is counted once.
    let statements = (after - before).saturating_sub(1) as f64 / runs as f64;
    (Summary::new(samples), statements)
}

async fn questions(conn: &mut mysql_async::Conn) -> u64 {
    let row: Option<(String, u64)> = conn
        .query_first("SHOW GLOBAL STATUS LIKE 'Questions'")
        .await
        .expect("status");
    row.map(|(_, value)| value).unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("DRMYSQL_BENCH_RUNS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20);
    println!("drmysql-mysql engine benchmark, {runs} runs each, MariaDB on loopback");

    bench_promotion(runs)
        .await
        .print("promotion: decision -> first write (ms)", "");
    bench_lag_error(runs, Duration::from_millis(100))
        .await
        .print("lag error, heartbeat every 100 ms (ms)", "");
    bench_lag_error(runs, Duration::from_millis(1000))
        .await
        .print("lag error, heartbeat every 1000 ms (ms)", "");
    let (observation, statements) = bench_observation(runs * 10).await;
    observation.print("observe(): one InstanceStatus snapshot (ms)", "");
    println!("observe(): statements counted by the server per snapshot: {statements:.2}");
}
