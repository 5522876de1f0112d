//! Scenario 1, basic: a host cluster with one node and a member cluster seen
//! as the virtual node `kosmos-member-a`, the clusterlink agent on every
//! node, the controller as a process in the host node's namespace. The
//! example DRMySQL is applied and must become Ready within 60 s, with its
//! instances on the intended nodes, rows written through the writer
//! Service's endpoint replicated over the tunnel, the tunnel checked with an
//! RTT, the lag reported, and the printer columns filled in.
//!
//! Root and MariaDB are required (the test fails naming what is missing).

#[path = "scenario_support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use drmysql_api::names::condition;
use drmysql_e2e::kubelet::command::which;

const NAMESPACE: &str = "shop";
const NAME: &str = "orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_becomes_a_replicating_pair_across_the_tunnel() {
    let sandbox = support::start().await;
    let example = support::check(&sandbox, sandbox.example(NAMESPACE, NAME));
    let applied = Instant::now();
    support::check(&sandbox, sandbox.apply_drmysql(&example).await);

    let ready = support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "the example DRMySQL Ready",
        Duration::from_secs(60),
        |drmysql| support::has(drmysql, condition::READY, "True"),
    )
    .await;
    println!(
        "the example DRMySQL was Ready {:.1} s after it was applied",
        applied.elapsed().as_secs_f64()
    );

    // Placement: the primary on the host node, the replica on the virtual node,
    // each with an address from its own cluster's pod network.
    let placement = support::placement(&sandbox, NAMESPACE, NAME).await;
    let primary = format!("{NAME}-cloud-a");
    let replica = format!("{NAME}-tencent");
    let (primary_node, primary_ip) = placement
        .get(&primary)
        .cloned()
        .unwrap_or_else(|| panic!("no Pod {primary}: {placement:?}"));
    let (replica_node, replica_ip) = placement
        .get(&replica)
        .cloned()
        .unwrap_or_else(|| panic!("no Pod {replica}: {placement:?}"));
    assert_eq!(primary_node, sandbox.host_node(), "{placement:?}");
    assert_eq!(replica_node, "kosmos-member-a", "{placement:?}");
    let topology = sandbox.topology();
    let host_net = topology.node("host", "host-1").expect("the host node");
    let member_net = topology.node("member-a", "member-a-1").expect("the member node");
    let (Some(std::net::IpAddr::V4(primary_ip)), Some(std::net::IpAddr::V4(replica_ip))) =
        (primary_ip, replica_ip)
    else {
        panic!("both Pods have IPv4 addresses: {placement:?}");
    };
    assert!(
        host_net.pod_cidr.contains(primary_ip),
        "{primary_ip} in {}",
        host_net.pod_cidr
    );
    assert!(
        member_net.pod_cidr.contains(replica_ip),
        "{replica_ip} in {}",
        member_net.pod_cidr
    );

    // The status: primary, tunnel with an RTT, lag.
    let status = ready.status.clone().expect("a status");
    assert_eq!(status.current_primary.as_deref(), Some(primary.as_str()));
    assert!(
        support::has(&ready, condition::TUNNEL_REACHABLE, "True"),
        "{}",
        support::describe(&ready)
    );
    let rtt = status
        .tunnel
        .iter()
        .find_map(|check| check.rtt_ms)
        .unwrap_or_else(|| panic!("a tunnel check with an RTT: {:?}", status.tunnel));
    println!("tunnel RTT {rtt:.2} ms");
    let lag = status
        .instances
        .iter()
        .find(|instance| instance.name == replica)
        .and_then(|instance| instance.lag_seconds)
        .unwrap_or_else(|| panic!("the replica's lag: {:?}", status.instances));
    println!("replica lag {lag:.3} s");
    assert!(status.lag.is_some(), "the LAG column has a value");

    // Replication over the tunnel.
    let took =
        support::write_and_replicate(&sandbox, NAMESPACE, NAME, std::net::IpAddr::V4(replica_ip), 1).await;
    println!(
        "a row written through the writer endpoint reached the replica in {:.0} ms",
        took.as_secs_f64() * 1000.0
    );

    // The printer columns, as kubectl shows them.
    let kubectl = which("kubectl").expect("kubectl on PATH (package kubectl; run scripts/install-deps)");
    let output = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(sandbox.host_kubeconfig())
        .args(["get", "drmysql", "-n", NAMESPACE, NAME])
        .output()
        .expect("kubectl runs");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kubectl get: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{table}");
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    for column in ["PRIMARY", "LAG", "TUNNEL"] {
        assert!(header.contains(column), "{column} in {header}");
    }
    let row = lines.next().unwrap_or_default();
    assert!(row.contains(&primary) && row.contains("Reachable"), "{row}");

    support::finish(sandbox).await;
}
