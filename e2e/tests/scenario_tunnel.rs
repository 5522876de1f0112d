//! Scenario 2, tunnel break and repair: with the example replicating, the
//! VXLAN path between the clusters is cut on the member's node (UDP to and
//! from the clusterlink ports dropped; the node still reaches its API).
//! `TunnelReachable` must turn False naming both ends, with an Event, and
//! replication must be reported broken. Once the path is restored everything
//! must recover by itself, and a row written afterwards must replicate.
//!
//! Root and MariaDB are required (the test fails naming what is missing).

#[path = "scenario_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use drmysql_api::drmysql::ThreadState;
use drmysql_api::names::condition;

const NAMESPACE: &str = "shop";
const NAME: &str = "orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_tunnel_is_reported_and_recovers_by_itself() {
    let sandbox = support::start().await;
    let example = support::check(&sandbox, sandbox.example(NAMESPACE, NAME));
    support::apply_and_wait_ready(&sandbox, &example).await;
    let replica = format!("{NAME}-tencent");
    let replica_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &replica).await);
    support::write_and_replicate(&sandbox, NAMESPACE, NAME, replica_ip, 1).await;

    // Cut.
    let cut = Instant::now();
    support::check(
        &sandbox,
        sandbox.topology().block_tunnel("member-a", "member-a-1").map_err(
            drmysql_e2e::sandbox::error::SandboxError::part("cutting the tunnel"),
        ),
    );
    let broken = support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "TunnelReachable False and replication reported broken",
        Duration::from_secs(60),
        |drmysql| {
            support::has(drmysql, condition::TUNNEL_REACHABLE, "False")
                && support::has(drmysql, condition::REPLICATING, "False")
        },
    )
    .await;
    println!("the cut was reported after {:.1} s", cut.elapsed().as_secs_f64());
    let tunnel = support::condition(&broken, condition::TUNNEL_REACHABLE).expect("TunnelReachable");
    let primary = format!("{NAME}-cloud-a");
    assert!(
        tunnel.message.contains(&primary) && tunnel.message.contains(&replica),
        "the message names both ends: {}",
        tunnel.message
    );
    let status = broken.status.clone().expect("a status");
    let replica_status = status
        .instances
        .iter()
        .find(|instance| instance.name == replica)
        .expect("the replica's status");
    assert_ne!(
        replica_status.io_thread,
        Some(ThreadState::Running),
        "the replica's IO thread is not reported running: {replica_status:?}"
    );
    let events = support::events(&sandbox, NAMESPACE, NAME).await;
    assert!(
        events.iter().any(|(reason, _)| reason == "TunnelUnreachable"),
        "a TunnelUnreachable Event: {events:?}"
    );

    // Repair.
    let repaired = Instant::now();
    support::check(
        &sandbox,
        sandbox
            .topology()
            .unblock_tunnel("member-a", "member-a-1")
            .map_err(drmysql_e2e::sandbox::error::SandboxError::part(
                "restoring the tunnel",
            )),
    );
    support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "Ready again after the repair",
        Duration::from_secs(90),
        |drmysql| {
            support::has(drmysql, condition::READY, "True")
                && support::has(drmysql, condition::TUNNEL_REACHABLE, "True")
                && support::has(drmysql, condition::REPLICATING, "True")
        },
    )
    .await;
    println!(
        "recovered {:.1} s after the repair",
        repaired.elapsed().as_secs_f64()
    );
    let events = support::events(&sandbox, NAMESPACE, NAME).await;
    assert!(
        events.iter().any(|(reason, _)| reason == "TunnelRecovered"),
        "a TunnelRecovered Event: {events:?}"
    );
    support::write_and_replicate(&sandbox, NAMESPACE, NAME, replica_ip, 2).await;

    support::finish(sandbox).await;
}
