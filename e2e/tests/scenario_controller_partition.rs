//! Scenario: only the controller loses the primary, the replica still sees
//! it: a partition, not a failure, and no failover.
//!
//! The controller runs in the host node's network namespace; the primary's
//! Pod runs on the same node in a namespace of its own, reached through the
//! node's routes. A rule in the node namespace's `OUTPUT` chain dropping TCP
//! to the primary's IP on port 3306 cuts the controller's own MySQL
//! connections to the primary (new and established alike), and nothing
//! else: the replica's replication and its sidecar's probe of the primary
//! come through the tunnel and cross the node in `FORWARD`, and the
//! controller reaches the sidecars on their own port.
//!
//! 1. With policy Automatic and `detectionSeconds` 6, the example is Ready
//!    and a row replicates.
//! 2. `iptables -I OUTPUT -d <primary IP> -p tcp --dport 3306 -j DROP` in
//!    the host node's namespace, removed by a guard's Drop (also when the
//!    test panics).
//! 3. For 20 s (more than 3 × `detectionSeconds`), every 250 ms:
//!    `status.currentPrimary` is unchanged, `status.history` is empty and no
//!    transition is in progress, `PrimaryAvailable` never has reason
//!    `PrimaryFailed`; no `FailoverStarted` Event is published (nor, by the
//!    end, any `PrimaryFailed` or `FailoverRefused` newer than the rule).
//!    Meanwhile
//!    the controller's own check of the primary is seen failing in the
//!    `PrimaryAvailable` message (the rule works), and `status.tunnel` shows
//!    a check newer than the rule from the replica to the primary that
//!    reached it (the replica's path is untouched); both are printed.
//! 4. The rule removed: `PrimaryAvailable` True and Ready again, still no
//!    history and the same primary.
//!
//! Root, `iptables` and MariaDB are required (the test fails naming what is
//! missing).

#[path = "scenario_support/mod.rs"]
mod support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use chrono::Utc;
use drmysql_api::drmysql::DRMySQL;
use drmysql_api::names::condition;

const NAMESPACE: &str = "shop";
const NAME: &str = "orders";
const DETECTION_SECONDS: u64 = 6;
/// How long the controller is cut off: more than three detection windows.
const HOLD: Duration = Duration::from_secs(3 * DETECTION_SECONDS + 2);

/// An `iptables` rule in a network namespace, removed when dropped.
struct DropRule {
    netns: String,
    rule: Vec<String>,
}

impl DropRule {
    /// Inserts `OUTPUT -d <address> -p tcp --dport 3306 -j DROP` at the top
    /// of `OUTPUT` in `netns`.
    fn insert(netns: &str, address: IpAddr) -> Self {
        let rule: Vec<String> = [
            "OUTPUT",
            "-d",
            &address.to_string(),
            "-p",
            "tcp",
            "--dport",
            "3306",
            "-j",
            "DROP",
        ]
        .iter()
        .map(|part| (*part).to_owned())
        .collect();
        let output = iptables(netns, "-I", &rule);
        assert!(
            output.status.success(),
            "iptables -I {} in {netns}: {}",
            rule.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        Self {
            netns: netns.to_owned(),
            rule,
        }
    }

    /// The node namespace's `OUTPUT` chain, for the test's output.
    fn listing(&self) -> String {
        let output = iptables(&self.netns, "-S", &["OUTPUT".to_owned()]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for DropRule {
    fn drop(&mut self) {
        let output = iptables(&self.netns, "-D", &self.rule);
        if !output.status.success() {
            eprintln!(
                "removing the rule {} in {} failed: {}",
                self.rule.join(" "),
                self.netns,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

fn iptables(netns: &str, action: &str, rule: &[String]) -> std::process::Output {
    std::process::Command::new("ip")
        .args(["netns", "exec", netns, "iptables", "-w", action])
        .args(rule)
        .output()
        .unwrap_or_else(|error| panic!("ip netns exec {netns} iptables does not run: {error}"))
}

fn primary_available(drmysql: &DRMySQL) -> Option<(String, String, String)> {
    support::condition(drmysql, condition::PRIMARY_AVAILABLE)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_cut_off_from_the_primary_does_not_fail_over() {
    let sandbox = support::start().await;
    let mut example = support::check(&sandbox, sandbox.example(NAMESPACE, NAME));
    example["spec"]["failover"]["detectionSeconds"] = DETECTION_SECONDS.into();
    let ready = support::apply_and_wait_ready(&sandbox, &example).await;
    let primary = ready
        .status
        .as_ref()
        .and_then(|status| status.current_primary.clone())
        .expect("a current primary");
    assert_eq!(primary, format!("{NAME}-cloud-a"));
    let replica = format!("{NAME}-tencent");
    let primary_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &primary).await);
    let replica_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &replica).await);
    support::write_and_replicate(&sandbox, NAMESPACE, NAME, replica_ip, 1).await;
    support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "PrimaryAvailable True",
        Duration::from_secs(30),
        |drmysql| support::has(drmysql, condition::PRIMARY_AVAILABLE, "True"),
    )
    .await;
    let before = support::get(&sandbox, NAMESPACE, NAME)
        .await
        .expect("the DRMySQL");
    println!(
        "status.tunnel before: {:?}",
        before.status.as_ref().map(|status| &status.tunnel)
    );

    let rule = DropRule::insert(sandbox.host_netns(), primary_ip);
    let cut = Utc::now();
    let cut_at = Instant::now();
    println!("OUTPUT of {} now:\n{}", sandbox.host_netns(), rule.listing());
    let mut messages: Vec<(f64, (String, String, String))> = Vec::new();
    let mut controller_cut_seen = false;
    let mut replica_reached_primary = None;
    let mut events_checked = Instant::now();
    while cut_at.elapsed() < HOLD {
        let drmysql = support::get(&sandbox, NAMESPACE, NAME)
            .await
            .unwrap_or_else(|error| panic!("reading the DRMySQL: {error}"));
        let status = drmysql.status.clone().unwrap_or_default();
        assert_eq!(
            status.current_primary.as_deref(),
            Some(primary.as_str()),
            "the primary changed during the partition: {}",
            support::describe(&drmysql)
        );
        assert!(
            status.history.is_empty() && status.failover.is_none(),
            "a transition during the partition: {:?} {:?}",
            status.failover,
            status.history
        );
        let available = primary_available(&drmysql).expect("PrimaryAvailable");
        assert_ne!(
            available.1,
            "PrimaryFailed",
            "declared failed while the replica sees the primary: {}",
            support::describe(&drmysql)
        );
        controller_cut_seen |=
            available.2.contains("controller check:") && !available.2.contains("controller check: alive");
        if messages.last().map(|(_, seen)| seen) != Some(&available) {
            messages.push((cut_at.elapsed().as_secs_f64(), available));
        }
        if let Some(check) = status
            .tunnel
            .iter()
            .find(|check| check.from == replica && check.to == primary && check.checked_at > cut)
            && check.reachable
        {
            replica_reached_primary = Some(check.clone());
        }
        if events_checked.elapsed() > Duration::from_secs(2) {
            let events = support::events(&sandbox, NAMESPACE, NAME).await;
            assert!(
                !events.iter().any(|(reason, _)| reason == "FailoverStarted"),
                "{events:?}"
            );
            events_checked = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let during = support::get(&sandbox, NAMESPACE, NAME)
        .await
        .expect("the DRMySQL");
    for (after, (status, reason, message)) in &messages {
        println!("PrimaryAvailable at +{after:.1} s: {status} {reason}: {message}");
    }
    println!(
        "status.tunnel during: {:?}",
        during.status.as_ref().map(|status| &status.tunnel)
    );
    assert!(
        controller_cut_seen,
        "the controller's check of the primary never failed: is the rule in the right namespace?\n{}",
        support::describe(&during)
    );
    let reached = replica_reached_primary.unwrap_or_else(|| {
        panic!(
            "no check newer than the rule from {replica} to {primary} reached it: {:?}",
            during.status.as_ref().map(|status| &status.tunnel)
        )
    });
    println!("the replica reached the primary during the partition: {reached:?}");
    let events = support::events(&sandbox, NAMESPACE, NAME).await;
    assert!(
        !events.iter().any(|(reason, _)| reason == "FailoverStarted"),
        "{events:?}"
    );

    drop(rule);
    let healed = Instant::now();
    let after = support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "PrimaryAvailable True and Ready after the partition",
        Duration::from_secs(60),
        |drmysql| {
            support::has(drmysql, condition::PRIMARY_AVAILABLE, "True")
                && support::has(drmysql, condition::READY, "True")
        },
    )
    .await;
    println!(
        "Ready {:.1} s after the rule was removed",
        healed.elapsed().as_secs_f64()
    );
    let status = after.status.clone().unwrap_or_default();
    assert_eq!(status.current_primary.as_deref(), Some(primary.as_str()));
    assert!(status.history.is_empty(), "{:?}", status.history);
    let reasons: Vec<String> = support::events(&sandbox, NAMESPACE, NAME)
        .await
        .into_iter()
        .map(|(reason, _)| reason)
        .collect();
    assert!(
        !reasons.iter().any(|reason| reason == "FailoverStarted"),
        "{reasons:?}"
    );
    let timed = support::events_timed(&sandbox, NAMESPACE, NAME).await;
    for (reason, message, when) in &timed {
        let relative = when.map(|when| (when - cut).num_milliseconds() as f64 / 1000.0);
        println!("Event {reason} at {relative:?} s from the cut: {message}");
    }
    // The primary may be declared failed while it boots (both vantage points
    // refused); nothing of the kind after the cut.
    let since_cut: Vec<&(String, String, Option<chrono::DateTime<Utc>>)> = timed
        .iter()
        .filter(|(reason, _, when)| {
            ["PrimaryFailed", "FailoverRefused", "FailoverStarted"].contains(&reason.as_str())
                && when.is_none_or(|when| when >= cut)
        })
        .collect();
    assert!(since_cut.is_empty(), "after the cut: {since_cut:?}");
    support::finish(sandbox).await;
}
