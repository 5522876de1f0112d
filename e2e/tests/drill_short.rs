//! The short DR drill CI runs: 5 kill trials, then 3 partition trials, in
//! Lossless mode, on one sandbox (two member clusters, a three-instance
//! DRMySQL, three writers). Asserted: correctness only (every trial
//! completes with exactly one failover, no acknowledged write lost, no
//! split brain). The timings are printed, never asserted: they are
//! benchmarks (`drmysql-e2e drill`, recorded in `docs/benchmarks.md`).
//!
//! Root and MariaDB are required (the test fails naming what is missing).

use drmysql_api::drmysql::ReplicationMode;
use drmysql_e2e::drill::{self, DrillConfig, Fault, MEMBERS};
use drmysql_e2e::sandbox::{Sandbox, SandboxConfig};

async fn drill_on(sandbox: &Sandbox, fault: Fault, trials: usize) -> drill::report::Report {
    let config = DrillConfig {
        fault,
        mode: ReplicationMode::Lossless,
        trials,
        ..DrillConfig::default()
    };
    let report = match drill::run(sandbox, &config).await {
        Ok(report) => report,
        Err(error) => panic!(
            "the {fault:?} drill did not start: {error}\n{}",
            sandbox.component_logs(40)
        ),
    };
    println!("{}", report.human());
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("the report serialises")
    );
    assert!(
        report.is_correct(),
        "the {fault:?} drill: {}\n\nthe components' logs end:\n{}",
        report.human(),
        sandbox.component_logs(60)
    );
    assert_eq!(report.trials.len(), trials);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossless_kill_and_partition_drills_lose_nothing() {
    let sandbox = Sandbox::start(SandboxConfig {
        members: MEMBERS.iter().map(|member| (*member).to_owned()).collect(),
        ..SandboxConfig::from_env()
    })
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    drill_on(&sandbox, Fault::Kill, 5).await;
    drill_on(&sandbox, Fault::Partition, 3).await;
    sandbox.shutdown().await.unwrap_or_else(|error| panic!("{error}"));
}
