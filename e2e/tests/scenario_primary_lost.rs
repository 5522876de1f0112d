//! Scenario: the primary is lost under policy Manual, and the failover
//! decision reports it and waits for a person's approval.
//!
//! The primary's `mysqld` is frozen with SIGSTOP rather than killed: a killed
//! container is restarted by the kubelet within a second or two, while a
//! frozen server keeps its Pod running and answers nothing. The first looks
//! are soft evidence, as a hung server or a cut link produces: the
//! controller's check and the replica's probe time out, the Pod and its Node
//! look fine, and the replica's IO thread still shows `Running`, so the
//! primary is only `PrimarySuspected`. Measured here: some seconds into the
//! freeze, new connections to the frozen server's port are refused, which is
//! hard evidence from both vantage points, and the primary is declared
//! failed on the next complete look (about 17 s after the freeze, each look
//! taking the timeouts' 5 to 6 s). Either way the declaration comes no sooner
//! than `detectionSeconds` after the freeze here, and that is asserted.
//!
//! 1. With `spec.failover.policy: Manual` and `detectionSeconds` 6, the
//!    example is Ready and `PrimaryAvailable` True.
//! 2. A freeze of 2 s, shorter than the window, never declares failure.
//! 3. A lasting freeze: `PrimaryAvailable` turns False with `PrimaryFailed` no
//!    sooner than 6 s after the freeze; a `PrimaryFailed` Warning Event says
//!    the failover needs approval and names the command;
//!    `drmysql_primary_failed` is 1; nothing changes role: the current
//!    primary, the Pods' role labels and the replica's read-only state stay.
//! 4. Thawed: `PrimaryAvailable` True again, a `PrimaryRecovered` Event, the
//!    metric 0, and Ready.
//!
//! Root and MariaDB are required (the test fails naming what is missing).

#[path = "scenario_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use drmysql_api::names::{self, condition};
use drmysql_e2e::sandbox::Sandbox;

const NAMESPACE: &str = "shop";
const NAME: &str = "orders";
const DETECTION_SECONDS: u64 = 6;

/// Sends `signal` (`STOP`, `CONT`) to the primary's `mysqld` process;
/// whether it was delivered (a `mysqld` the kubelet restarted meanwhile no
/// longer needs a `CONT`).
fn signal(sandbox: &Sandbox, pod: &str, signal: &str) -> bool {
    sandbox
        .signal_mysqld(NAMESPACE, pod, signal)
        .unwrap_or_else(|| panic!("no running mysqld in {pod}"))
}

fn primary_available(drmysql: &drmysql_api::drmysql::DRMySQL) -> Option<(String, String)> {
    support::condition(drmysql, condition::PRIMARY_AVAILABLE).map(|c| (c.status.clone(), c.reason.clone()))
}

async fn roles(sandbox: &Sandbox) -> BTreeMap<String, Option<String>> {
    support::check(sandbox, sandbox.instance_pods(NAMESPACE, NAME).await)
        .into_iter()
        .map(|pod| {
            let role = pod
                .metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(names::LABEL_ROLE))
                .cloned();
            (pod.metadata.name.unwrap_or_default(), role)
        })
        .collect()
}

async fn primary_failed_metric(sandbox: &Sandbox) -> Option<f64> {
    let metrics = support::metrics(sandbox).await;
    support::series(
        &metrics,
        "drmysql_primary_failed",
        &[("namespace", NAMESPACE), ("name", NAME)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_primary_is_reported_failed_and_awaits_approval() {
    let sandbox = support::start().await;
    let mut example = support::check(&sandbox, sandbox.example(NAMESPACE, NAME));
    example["spec"]["failover"] = serde_json::json!({
        "policy": "Manual",
        "detectionSeconds": DETECTION_SECONDS,
    });
    let ready = support::apply_and_wait_ready(&sandbox, &example).await;
    let primary = ready
        .status
        .as_ref()
        .and_then(|status| status.current_primary.clone())
        .expect("a current primary");
    let replica = format!("{NAME}-tencent");
    assert_eq!(primary, format!("{NAME}-cloud-a"));
    support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "PrimaryAvailable True",
        Duration::from_secs(30),
        |drmysql| primary_available(drmysql) == Some(("True".into(), "PrimaryAlive".into())),
    )
    .await;
    let roles_before = roles(&sandbox).await;
    assert_eq!(
        roles_before.get(&primary),
        Some(&Some(names::ROLE_PRIMARY.to_owned())),
        "{roles_before:?}"
    );

    // A blip shorter than the detection window: never declared.
    assert!(signal(&sandbox, &primary, "STOP"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(signal(&sandbox, &primary, "CONT"));
    let watch_until = Instant::now() + Duration::from_secs(DETECTION_SECONDS + 6);
    let mut suspected_during_blip = false;
    while Instant::now() < watch_until {
        if let Ok(drmysql) = support::get(&sandbox, NAMESPACE, NAME).await {
            let available = primary_available(&drmysql);
            assert_ne!(
                available.as_ref().map(|(_, reason)| reason.as_str()),
                Some("PrimaryFailed"),
                "a 2 s blip declared the primary failed: {}",
                support::describe(&drmysql)
            );
            suspected_during_blip |= available.is_some_and(|(_, reason)| reason == "PrimarySuspected");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("2 s blip: never declared failed (suspected on the way: {suspected_during_blip})");
    support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "PrimaryAvailable True after the blip",
        Duration::from_secs(30),
        |drmysql| support::has(drmysql, condition::PRIMARY_AVAILABLE, "True"),
    )
    .await;

    // A lasting loss.
    assert!(signal(&sandbox, &primary, "STOP"));
    let frozen = Instant::now();
    let suspected = support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "PrimaryAvailable False (PrimarySuspected or PrimaryFailed)",
        Duration::from_secs(30),
        |drmysql| support::has(drmysql, condition::PRIMARY_AVAILABLE, "False"),
    )
    .await;
    println!(
        "{:?} {:.1} s after the freeze",
        primary_available(&suspected),
        frozen.elapsed().as_secs_f64()
    );
    let failed = support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "PrimaryAvailable False (PrimaryFailed)",
        Duration::from_secs(60),
        |drmysql| primary_available(drmysql) == Some(("False".into(), "PrimaryFailed".into())),
    )
    .await;
    let declared = frozen.elapsed();
    println!("PrimaryFailed {:.1} s after the freeze", declared.as_secs_f64());
    assert!(
        declared >= Duration::from_secs(DETECTION_SECONDS),
        "soft evidence declared after {declared:?}, before detectionSeconds"
    );
    let message = support::condition(&failed, condition::PRIMARY_AVAILABLE)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(message.contains("failover needs approval"), "{message}");
    let events = support::events(&sandbox, NAMESPACE, NAME).await;
    let (_, note) = events
        .iter()
        .find(|(reason, _)| reason == "PrimaryFailed")
        .unwrap_or_else(|| panic!("a PrimaryFailed Event: {events:?}"));
    // The suggested `kubectl drmysql failover NAME --to X` is there only when
    // a replica is eligible; a replica whose `SHOW SLAVE STATUS` blocks on its
    // IO thread reconnecting to the frozen primary is unreadable, and the
    // note then says why none can be promoted.
    assert!(note.contains("primary failed, failover needs approval"), "{note}");
    println!("PrimaryFailed Event: {note}");
    let metric =
        drmysql_e2e::sandbox::wait::until("drmysql_primary_failed 1", Duration::from_secs(15), || async {
            match primary_failed_metric(&sandbox).await {
                Some(value) if value == 1.0 => Ok(value),
                other => Err(format!("drmysql_primary_failed = {other:?}")),
            }
        })
        .await;
    support::check(&sandbox, metric);

    // Nothing was executed: same primary, same role labels, the replica still
    // read-only.
    let status = failed.status.clone().unwrap_or_default();
    assert_eq!(status.current_primary.as_deref(), Some(primary.as_str()));
    assert_eq!(roles(&sandbox).await, roles_before, "role labels changed");
    assert!(status.failover.is_none() && status.history.is_empty());
    let replica_report = status
        .instances
        .iter()
        .find(|instance| instance.name == replica)
        .unwrap_or_else(|| panic!("{replica} in the status"));
    assert_eq!(replica_report.read_only, Some(true), "{replica_report:?}");
    assert!(
        status.failover_memory.is_some(),
        "the decision's memory is kept in the status"
    );

    // The primary returns (thawed, or already restarted by the kubelet).
    let delivered = signal(&sandbox, &primary, "CONT");
    println!("SIGCONT delivered: {delivered}");
    let thawed = Instant::now();
    support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "PrimaryAvailable True and Ready after the thaw",
        Duration::from_secs(60),
        |drmysql| {
            primary_available(drmysql) == Some(("True".into(), "PrimaryAlive".into()))
                && support::has(drmysql, condition::READY, "True")
        },
    )
    .await;
    println!(
        "available again {:.1} s after the thaw",
        thawed.elapsed().as_secs_f64()
    );
    let events = support::events(&sandbox, NAMESPACE, NAME).await;
    assert!(
        events.iter().any(|(reason, _)| reason == "PrimaryRecovered"),
        "a PrimaryRecovered Event: {events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|(reason, _)| reason == "PrimaryFailed")
            .count(),
        1,
        "one PrimaryFailed Event for one loss: {events:?}"
    );
    let metric =
        drmysql_e2e::sandbox::wait::until("drmysql_primary_failed 0", Duration::from_secs(15), || async {
            match primary_failed_metric(&sandbox).await {
                Some(value) if value == 0.0 => Ok(value),
                other => Err(format!("drmysql_primary_failed = {other:?}")),
            }
        })
        .await;
    support::check(&sandbox, metric);
    assert_eq!(roles(&sandbox).await, roles_before, "role labels changed");

    support::finish(sandbox).await;
}
