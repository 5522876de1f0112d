//! Scenario: with `spec.failover.policy: Manual` a lost primary is reported
//! and waits for a person; `kubectl drmysql failover orders --to
//! orders-tencent` then fails over.
//!
//! The primary is made unavailable by a crash loop: its `mysqld` is killed
//! (`kill -9`), and so is every `mysqld` the kubelet restarts (at once the
//! first time, then after 10 s, then 20 s), until the failover is recorded.
//! A killed server refuses connections, which is hard evidence from the
//! controller and from the replica alike: it is declared failed within a
//! second. (A SIGSTOPped one was declared failed only about 16 s after the
//! freeze, as in `scenario_primary_lost`, and the approval then met the
//! same refusal described below.)
//!
//! 1. Policy Manual; the example is Ready, a row replicates.
//! 2. The crash loop starts. `PrimaryAvailable` turns False with reason
//!    `PrimaryFailed`, its message saying the failover needs approval, and a
//!    `PrimaryFailed` Event names `kubectl drmysql failover`.
//! 3. For 8 s after the declaration nothing is promoted: the current primary
//!    stays, no transition is recorded or in progress, no `FailoverStarted`
//!    Event, the replica keeps its `replica` label.
//! 4. `kubectl drmysql failover orders --to orders-tencent` (the
//!    `drmysql.io/failover-to` annotation, written through the API, when the
//!    plugin does not build): `status.lastRequest` is a Started failover,
//!    `status.history` a succeeded, unforced Failover to `orders-tencent`,
//!    the current primary is `orders-tencent`, the Events FailoverStarted,
//!    PrimaryFenced, ReplicaPromoted and FailoverCompleted were published,
//!    and a write through the writer Service lands on `orders-tencent`. The
//!    time from the request to the record is printed.
//! 5. The crash loop stops; when the kubelet has restarted the old primary's
//!    `mysqld`, the old primary ends as a `replica` of the new primary (then
//!    the row written after the failover reaches it) or `quarantined`; which
//!    one is printed.
//!
//! Root and MariaDB are required (the test fails naming what is missing).

#[path = "scenario_support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use drmysql_api::drmysql::{
    InstanceRole, RequestKind, RequestOutcome, ThreadState, TransitionKind, TransitionOutcome,
};
use drmysql_api::names::{self, condition, request};
use drmysql_e2e::sandbox::Sandbox;
use drmysql_e2e::sandbox::wait;

const NAMESPACE: &str = "shop";
const NAME: &str = "orders";
/// How long nothing may be promoted after the primary is declared failed.
const HOLD: Duration = Duration::from_secs(8);

/// Kills `pod`'s `mysqld`, and every one the kubelet starts again, until
/// `stop` is set; when each kill happened.
async fn crash_loop(sandbox: &Sandbox, pod: &str, stop: &AtomicBool) -> Vec<Instant> {
    let mut killed = BTreeSet::new();
    let mut kills = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        if let Some(pid) = sandbox.mysqld_pid(NAMESPACE, pod)
            && killed.insert(pid)
        {
            assert!(Sandbox::signal_pid(pid, "KILL"), "kill -9 {pid}");
            kills.push(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kills
}

fn primary_available(drmysql: &drmysql_api::drmysql::DRMySQL) -> Option<(String, String)> {
    support::condition(drmysql, condition::PRIMARY_AVAILABLE).map(|c| (c.status.clone(), c.reason.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_policy_waits_for_kubectl_drmysql_failover() {
    let requester = support::Requester::for_subcommand("failover").await;
    println!("requests: {requester:?}");
    let sandbox = support::start().await;
    let mut example = support::check(&sandbox, sandbox.example(NAMESPACE, NAME));
    example["spec"]["failover"]["policy"] = "Manual".into();
    let ready = support::apply_and_wait_ready(&sandbox, &example).await;
    let old_primary = ready
        .status
        .as_ref()
        .and_then(|status| status.current_primary.clone())
        .expect("a current primary");
    assert_eq!(old_primary, format!("{NAME}-cloud-a"));
    let replica = format!("{NAME}-tencent");
    let replica_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &replica).await);
    support::write_and_replicate(&sandbox, NAMESPACE, NAME, replica_ip, 1).await;

    let stop = AtomicBool::new(false);
    let killed = chrono::Utc::now();
    let killer = crash_loop(&sandbox, &old_primary, &stop);
    let driver = async {
        let began = Instant::now();
        // Declared failed; the decision waits for approval.
        let failed = support::wait_for(
            &sandbox,
            NAMESPACE,
            NAME,
            "PrimaryAvailable False (PrimaryFailed)",
            Duration::from_secs(60),
            |drmysql| primary_available(drmysql) == Some(("False".into(), "PrimaryFailed".into())),
        )
        .await;
        let declared = began.elapsed();
        let message = support::condition(&failed, condition::PRIMARY_AVAILABLE)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        assert!(message.contains("failover needs approval"), "{message}");
        println!("declared failed: {}", support::describe(&failed));
        let mut messages: Vec<String> = vec![message.clone()];

        // Nothing is promoted without the approval.
        let hold_until = Instant::now() + HOLD;
        let mut looks = 0;
        while Instant::now() < hold_until {
            let drmysql = support::get(&sandbox, NAMESPACE, NAME)
                .await
                .unwrap_or_else(|error| panic!("reading the DRMySQL: {error}"));
            let status = drmysql.status.clone().unwrap_or_default();
            assert_eq!(
                status.current_primary.as_deref(),
                Some(old_primary.as_str()),
                "promoted without approval: {}",
                support::describe(&drmysql)
            );
            assert!(
                status.failover.is_none() && status.history.is_empty(),
                "a transition without approval: {:?} {:?}",
                status.failover,
                status.history
            );
            assert_eq!(
                primary_available(&drmysql).map(|(_, reason)| reason).as_deref(),
                Some("PrimaryFailed"),
                "{}",
                support::describe(&drmysql)
            );
            let roles = support::role_labels(&sandbox, NAMESPACE, NAME).await;
            assert_eq!(
                roles.get(&replica).cloned().flatten().as_deref(),
                Some(names::ROLE_REPLICA),
                "{roles:?}"
            );
            let now = support::condition(&drmysql, condition::PRIMARY_AVAILABLE)
                .map(|c| c.message.clone())
                .unwrap_or_default();
            if messages.last() != Some(&now) {
                println!(
                    "PrimaryAvailable after {:.1} s: {now}",
                    began.elapsed().as_secs_f64()
                );
                messages.push(now);
            }
            looks += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // The primary may already have been declared failed while it booted;
        // only the Events since the kill count.
        let events: Vec<(String, String)> = support::events_timed(&sandbox, NAMESPACE, NAME)
            .await
            .into_iter()
            .filter(|(_, _, when)| when.is_none_or(|when| when >= killed - chrono::Duration::seconds(1)))
            .map(|(reason, message, _)| (reason, message))
            .collect();
        assert!(
            !events.iter().any(|(reason, _)| reason == "FailoverStarted"),
            "{events:?}"
        );
        let (_, note) = events
            .iter()
            .find(|(reason, _)| reason == "PrimaryFailed")
            .unwrap_or_else(|| panic!("a PrimaryFailed Event since the kill: {events:?}"));
        let names_command = note.contains(&format!("kubectl drmysql failover {NAME} --to {replica}"));
        println!(
            "PrimaryFailed {:.1} s after the kill; nothing promoted over {looks} looks in {HOLD:?}; Event: {note}",
            declared.as_secs_f64()
        );

        // The approval.
        let asked = Instant::now();
        let requested = requester
            .request(
                &sandbox,
                NAMESPACE,
                NAME,
                &["failover", NAME, "--to", &replica],
                &[(request::FAILOVER_TO, replica.as_str())],
            )
            .await;
        println!("{}", requested.describe());
        let answered = support::wait_for(
            &sandbox,
            NAMESPACE,
            NAME,
            "the controller's answer to the failover request",
            Duration::from_secs(60),
            |drmysql| {
                drmysql.status.as_ref().is_some_and(|status| {
                    status
                        .last_request
                        .as_ref()
                        .is_some_and(|answer| answer.kind == RequestKind::Failover)
                })
            },
        )
        .await;
        let answer = answered
            .status
            .as_ref()
            .and_then(|status| status.last_request.clone())
            .expect("the answer");
        assert_eq!(
            answer.outcome,
            RequestOutcome::Started,
            "the approved failover was not started: {answer:?}\n{}",
            support::describe(&answered)
        );
        let failed_over = support::wait_for(
            &sandbox,
            NAMESPACE,
            NAME,
            "a failover in status.history",
            Duration::from_secs(60),
            |drmysql| support::history_record(drmysql, TransitionKind::Failover).is_some(),
        )
        .await;
        let recorded_after = asked.elapsed();
        let written = wait::until(
            "a write accepted after the failover",
            Duration::from_secs(30),
            || async { support::try_write(&sandbox, NAMESPACE, NAME, 2, None).await },
        )
        .await;
        let write_after = asked.elapsed();
        stop.store(true, Ordering::SeqCst);
        (
            requested,
            failed_over,
            recorded_after,
            written,
            write_after,
            began,
            names_command,
            note.clone(),
        )
    };
    let (kills, (requested, failed_over, recorded_after, written, write_after, began, names_command, note)) =
        tokio::join!(killer, driver);
    let stopped = Instant::now();
    let kill_times: Vec<String> = kills
        .iter()
        .map(|at| format!("{:+.1} s", at.duration_since(began).as_secs_f64()))
        .collect();
    println!("mysqld of {old_primary} killed at {kill_times:?}");
    if let support::Requested::Plugin { success, .. } = &requested {
        assert!(
            success,
            "kubectl drmysql failover failed: {}",
            requested.describe()
        );
    }
    let writer = support::check(&sandbox, written);
    assert_eq!(writer, replica_ip, "the write landed on the promoted replica");

    let status = failed_over.status.clone().expect("a status");
    let record = support::history_record(&failed_over, TransitionKind::Failover).expect("the record");
    assert_eq!(
        (
            record.outcome,
            record.from.as_str(),
            record.to.as_str(),
            record.forced
        ),
        (
            TransitionOutcome::Succeeded,
            old_primary.as_str(),
            replica.as_str(),
            false
        ),
        "{record:?}\n{}",
        support::describe(&failed_over)
    );
    assert_eq!(status.current_primary.as_deref(), Some(replica.as_str()));
    let answer = status.last_request.as_ref().expect("status.lastRequest");
    assert_eq!(
        (answer.kind, answer.outcome, answer.target.as_deref()),
        (
            RequestKind::Failover,
            RequestOutcome::Started,
            Some(replica.as_str())
        ),
        "{answer:?}"
    );
    println!(
        "failover recorded {:.1} s after the request (duration {:?} s, rpo {:?} s, lost {:?}); first write on the new primary {:.1} s after the request",
        recorded_after.as_secs_f64(),
        record.duration_seconds,
        record.rpo_seconds,
        record.lost_gtids,
        write_after.as_secs_f64()
    );
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

    assert!(
        names_command,
        "the PrimaryFailed Event names `kubectl drmysql failover {NAME} --to {replica}`: {note}"
    );

    // The old primary returns once the kubelet's back-off has passed.
    let returned = support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "the old primary a replica or quarantined",
        Duration::from_secs(120),
        |drmysql| {
            drmysql.status.as_ref().is_some_and(|status| {
                status.instances.iter().any(|instance| {
                    instance.name == old_primary
                        && match instance.role {
                            Some(InstanceRole::Replica) => instance.io_thread == Some(ThreadState::Running),
                            Some(InstanceRole::Quarantined) => true,
                            _ => false,
                        }
                })
            })
        },
    )
    .await;
    let old_status = returned
        .status
        .as_ref()
        .and_then(|status| {
            status
                .instances
                .iter()
                .find(|instance| instance.name == old_primary)
        })
        .cloned()
        .expect("the old primary's status");
    println!(
        "{old_primary} ended {:?} {:.1} s after the crash loop stopped: {old_status:?}",
        old_status.role,
        stopped.elapsed().as_secs_f64()
    );
    if old_status.role == Some(InstanceRole::Replica) {
        let old_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &old_primary).await);
        let source = wait::until(
            "the old primary replicating from the new one",
            Duration::from_secs(30),
            || async {
                match support::replication_source(&sandbox, NAMESPACE, NAME, old_ip).await? {
                    Some((host, io, _)) if host == replica_ip.to_string() && io == "Yes" => Ok(()),
                    other => Err(format!("SHOW SLAVE STATUS: {other:?}")),
                }
            },
        )
        .await;
        support::check(&sandbox, source);
        let seen = wait::until(
            "the post-failover row on the old primary",
            Duration::from_secs(30),
            || async {
                let ids = support::row_ids(&sandbox, NAMESPACE, NAME, old_ip).await?;
                if ids.contains(&2) {
                    Ok(())
                } else {
                    Err(format!("rows {ids:?}"))
                }
            },
        )
        .await;
        support::check(&sandbox, seen);
    }
    println!("at the end: {}", support::describe(&returned));
    support::finish(sandbox).await;
}
