//! Scenario: `kill -9` of the primary's `mysqld` fails over automatically,
//! and the old primary rejoins as a replica when it comes back.
//!
//! While `mysqld` is down the controller's connection is refused and the
//! replica's probe is refused too: two hard signals, which act at once,
//! whatever `detectionSeconds` says. The kubelet restarts a container the
//! first time at once, as the real kubelet does, and a `mysqld` back within
//! a second or two may be seen as a blip (it boots read-only, and stays the
//! primary if no two vantage points saw it down). So the test kills every
//! `mysqld` the kubelet restarts while the instance is still the primary (a
//! crash loop, the case failover is for); the kubelet's back-off then holds
//! it down 10 s, 20 s, and so on.
//!
//! 1. The example (policy Automatic, Async) is Ready; a row replicates.
//! 2. `kill -9` the primary's `mysqld` (and each restart while it is still
//!    the primary); a client keeps trying to write through the writer
//!    Service's ready endpoint.
//! 3. The replica becomes `status.currentPrimary`, the writer Service's one
//!    ready endpoint is its IP, and a write succeeds there; the time from
//!    the kill to that first accepted write is printed.
//! 4. `status.history` records a succeeded Failover with its duration and
//!    promoted position; the Events FailoverStarted, PrimaryFenced,
//!    ReplicaPromoted and FailoverCompleted were published; the metric
//!    `drmysql_failovers_total{result="succeeded"}` is 1.
//! 5. The old primary's `mysqld` is restarted by the kubelet. Without a
//!    transaction the new primary lacks, it is attached as a replica of the
//!    new primary, labelled `replica`. With one (Async mode: a heartbeat
//!    committed in the instant before the kill and never sent), it is
//!    quarantined, and rebuilt through `drmysql.io/rebuild`. Either way the
//!    row written after the failover reaches it and the DRMySQL is Ready
//!    again.
//!
//! Root and MariaDB are required (the test fails naming what is missing).

#[path = "scenario_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use drmysql_api::drmysql::{InstanceRole, ThreadState, TransitionKind, TransitionOutcome};
use drmysql_api::names::{condition, request};
use drmysql_e2e::sandbox::wait;

const NAMESPACE: &str = "shop";
const NAME: &str = "orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_fails_over_and_rejoins_as_a_replica() {
    let sandbox = support::start().await;
    let example = support::check(&sandbox, sandbox.example(NAMESPACE, NAME));
    let ready = support::apply_and_wait_ready(&sandbox, &example).await;
    let old_primary = ready
        .status
        .as_ref()
        .and_then(|status| status.current_primary.clone())
        .expect("a current primary");
    let replica = format!("{NAME}-tencent");
    let replica_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &replica).await);
    support::write_and_replicate(&sandbox, NAMESPACE, NAME, replica_ip, 1).await;
    let old_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &old_primary).await);

    let killed_at = Instant::now();
    assert!(
        sandbox.kill_mysqld(NAMESPACE, &old_primary),
        "no running mysqld in {old_primary}"
    );
    let written = wait::until(
        "a write accepted after the kill",
        Duration::from_secs(60),
        || async {
            // A crash loop: whatever the kubelet restarts is killed again while
            // the instance is still the primary.
            let still_primary = support::get(&sandbox, NAMESPACE, NAME)
                .await
                .is_ok_and(|drmysql| {
                    drmysql
                        .status
                        .and_then(|status| status.current_primary)
                        .as_deref()
                        == Some(old_primary.as_str())
                });
            if still_primary && sandbox.kill_mysqld(NAMESPACE, &old_primary) {
                println!("killed the restarted mysqld at {:?}", killed_at.elapsed());
            }
            support::try_write(&sandbox, NAMESPACE, NAME, 2, Some(old_ip)).await
        },
    )
    .await;
    let writer = support::check(&sandbox, written);
    let kill_to_write = killed_at.elapsed();
    println!("kill -9 to the first accepted write on the new primary: {kill_to_write:?}");
    if writer != replica_ip {
        let now = support::get(&sandbox, NAMESPACE, NAME).await;
        panic!(
            "the write landed on {writer}, not on the replica {replica_ip}: no failover\n{}\n\nEvents: {:#?}\n\nthe components' logs end:\n{}",
            now.as_ref().map_or_else(Clone::clone, support::describe),
            support::events(&sandbox, NAMESPACE, NAME).await,
            sandbox.component_logs(60)
        );
    }

    let after = support::get(&sandbox, NAMESPACE, NAME)
        .await
        .expect("the DRMySQL");
    let status = after.status.clone().expect("a status");
    assert_eq!(status.current_primary.as_deref(), Some(replica.as_str()));
    let record = status.history.last().expect("a history record");
    assert_eq!(
        (
            record.kind,
            record.outcome,
            record.from.as_str(),
            record.to.as_str()
        ),
        (
            TransitionKind::Failover,
            TransitionOutcome::Succeeded,
            old_primary.as_str(),
            replica.as_str()
        ),
        "{}",
        support::describe(&after)
    );
    assert!(
        record.duration_seconds.is_some_and(|seconds| seconds < 30.0),
        "{record:?}"
    );
    assert!(
        record
            .promoted_gtids
            .as_deref()
            .is_some_and(|gtids| !gtids.is_empty()),
        "{record:?}"
    );
    assert!(status.failover.is_none(), "no transition left in progress");
    support::assert_events(
        &sandbox,
        NAMESPACE,
        NAME,
        &[
            "FailoverStarted",
            "PrimaryFenced",
            "ReplicaPromoted",
            "FailoverCompleted",
        ],
        &[],
    )
    .await;
    let metrics = support::metrics(&sandbox).await;
    assert_eq!(
        support::series(
            &metrics,
            "drmysql_failovers_total",
            &[("namespace", NAMESPACE), ("name", NAME), ("result", "succeeded")],
        ),
        Some(1.0),
        "{:?}",
        metrics
            .keys()
            .filter(|key| key.contains("failover"))
            .collect::<Vec<_>>()
    );

    // The kubelet restarts the old primary's mysqld; it rejoins. Async mode
    // loses what the replica had not received: a heartbeat the primary
    // committed in the instant before the kill is then an errant
    // transaction, the old primary is quarantined, and it is rebuilt.
    let back = support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        &format!("{old_primary} rejoined or quarantined"),
        Duration::from_secs(90),
        |drmysql| {
            let role = drmysql.status.as_ref().and_then(|status| {
                status
                    .instances
                    .iter()
                    .find(|listed| listed.name == old_primary)
                    .map(|listed| (listed.role, listed.io_thread))
            });
            matches!(
                role,
                Some(
                    (Some(InstanceRole::Replica), Some(ThreadState::Running))
                        | (Some(InstanceRole::Quarantined), _)
                )
            )
        },
    )
    .await;
    let quarantined = back.status.as_ref().is_some_and(|status| {
        status
            .instances
            .iter()
            .any(|listed| listed.name == old_primary && listed.role == Some(InstanceRole::Quarantined))
    });
    if quarantined {
        println!(
            "the old primary held a transaction the replica never received; rebuilding it: {}",
            support::describe(&back)
        );
        support::annotate(
            &sandbox,
            NAMESPACE,
            NAME,
            &[(request::REBUILD, old_primary.as_str())],
        )
        .await;
    }
    let rejoined =
        support::wait_rejoined(&sandbox, NAMESPACE, NAME, &old_primary, Duration::from_secs(180)).await;
    let old_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &old_primary).await);
    let seen = wait::until(
        "the post-failover row on the old primary",
        Duration::from_secs(30),
        || async {
            let rows = sandbox
                .sql(
                    NAMESPACE,
                    NAME,
                    old_ip,
                    &["SELECT note FROM sandbox.rows WHERE id = 2"],
                )
                .await
                .map_err(|error| error.to_string())?;
            if rows.is_empty() {
                Err("not there yet".to_owned())
            } else {
                Ok(())
            }
        },
    )
    .await;
    support::check(&sandbox, seen);
    support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "Ready after the rejoin",
        Duration::from_secs(60),
        |drmysql| support::has(drmysql, condition::READY, "True"),
    )
    .await;
    println!("after the rejoin: {}", support::describe(&rejoined));
    support::finish(sandbox).await;
}
