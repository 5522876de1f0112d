//! Two and then three real `drmysql controller` processes with leader election
//! against the API simulator: exactly one holds the Lease and reconciles
//! (`drmysql_controller_leader` 1, the others 0 and no reconcile at all); a
//! leader stopped with SIGTERM gives the Lease back and a follower takes over
//! within the lease duration; a leader killed with SIGKILL gives nothing back
//! and a follower takes over once the Lease expires. The DRMySQL keeps being
//! reconciled by whoever leads: its `status.observedGeneration` follows every
//! spec change.
//!
//! The Lease lasts 4 s and is renewed 2 s before it expires. A follower of
//! kube-lease-manager does not watch the Lease: it sleeps until the expiry it
//! last read and looks again, so even after a release it takes over up to one
//! lease duration later; after a SIGKILL it first clears the expired holder
//! and waits up to 1 s against collisions.

mod apiserver_support;
mod controller_support;

use std::path::Path;
use std::time::{Duration, Instant};

use controller_support::{ControllerProcess, create_namespace, create_ready_nodes, drmysql, metric};
use drmysql_api::drmysql::DRMySQL;
use drmysql_api::names;
use drmysql_e2e::kubelet::drmysql_binary_rebuilt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use nix::sys::signal::Signal;
use serde_json::json;

const LEASE_NAMESPACE: &str = "drmysql-system";
const LEASE_NAME: &str = "drmysql-controller";
const LEASE_SECONDS: u64 = 4;
const RENEW_GRACE_SECONDS: u64 = 2;
/// Scheduling and request slack on a loaded two-core machine.
const MARGIN: Duration = Duration::from_secs(3);
/// How long kube-lease-manager waits, at most, after clearing an expired holder.
const RELEASE_WAIT: Duration = Duration::from_secs(1);

fn replica(binary: &Path, kubeconfig: &Path, log_dir: &Path, identity: &str) -> ControllerProcess {
    let lease_seconds = LEASE_SECONDS.to_string();
    let grace = RENEW_GRACE_SECONDS.to_string();
    ControllerProcess::start(
        binary,
        kubeconfig,
        log_dir,
        identity,
        &[
            "--lease-namespace",
            LEASE_NAMESPACE,
            "--identity",
            identity,
            "--lease-seconds",
            &lease_seconds,
            "--lease-renew-grace-seconds",
            &grace,
        ],
    )
}

/// Each replica's `drmysql_controller_leader` and `drmysql_reconciles_total`
/// (absent counts as 0); a replica whose metrics cannot be read fails the test
/// with its log.
async fn states(replicas: &mut [&mut ControllerProcess]) -> Vec<(f64, f64)> {
    let mut states = Vec::new();
    for replica in replicas.iter_mut() {
        replica.assert_running();
        let metrics = replica.metrics().await.unwrap_or_else(|error| {
            panic!(
                "{}'s /metrics: {error}; its log ends:\n{}",
                replica.name,
                replica.log_tail(30)
            )
        });
        let leader = metric(&metrics, "drmysql_controller_leader")
            .unwrap_or_else(|| panic!("{} serves no drmysql_controller_leader", replica.name));
        let reconciles = metric(&metrics, "drmysql_reconciles_total").unwrap_or(0.0);
        states.push((leader, reconciles));
    }
    let leaders = states.iter().filter(|(leader, _)| *leader == 1.0).count();
    assert!(
        leaders <= 1,
        "two replicas lead at once: {:?}",
        replicas.iter().map(|r| &r.name).zip(&states).collect::<Vec<_>>()
    );
    states
}

/// Polls `check` every 100 ms until it returns `Some`, failing after `limit`
/// with `what`.
async fn until<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the replicas' states every 100 ms until `decide` returns `Some`,
/// failing after `limit` with `what`.
async fn until_states<T>(
    what: &str,
    limit: Duration,
    replicas: &mut [&mut ControllerProcess],
    decide: impl Fn(&[(f64, f64)]) -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        let now = states(replicas).await;
        if let Some(value) = decide(&now) {
            return value;
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = replicas
                .iter()
                .map(|replica| format!("--- {}:\n{}", replica.name, replica.log_tail(15)))
                .collect();
            panic!(
                "timed out after {limit:?} waiting for {what}; (leader gauge, reconciles) {now:?}\n{}",
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn lease_holder(leases: &Api<Lease>) -> Option<String> {
    leases.get_opt(LEASE_NAME).await.ok()??.spec?.holder_identity
}

/// Waits until the DRMySQL carries the finalizer and a status computed from
/// `generation`.
async fn reconciled(drmysqls: &Api<DRMySQL>, name: &str, generation: i64, limit: Duration) {
    let description = format!(
        "DRMySQL {name} reconciled at generation {generation} (finalizer, status.observedGeneration)"
    );
    until(&description, limit, move || async move {
        let object = drmysqls.get(name).await.ok()?;
        let finalized = object
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|finalizers| finalizers.iter().any(|f| f == names::DRMYSQL_FINALIZER));
        let observed = object.status.as_ref()?.observed_generation;
        (finalized && object.metadata.generation == Some(generation) && observed == Some(generation))
            .then_some(())
    })
    .await;
}

async fn set_lag_threshold(drmysqls: &Api<DRMySQL>, name: &str, seconds: u32) -> i64 {
    let patch = json!({"spec": {"lag": {"alertThresholdSeconds": seconds}}});
    drmysqls
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("the DRMySQL's spec is changed")
        .metadata
        .generation
        .expect("a generation")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_and_a_follower_takes_over_after_sigterm_and_sigkill() {
    let binary = drmysql_binary_rebuilt().expect("the drmysql binary");
    let (server, client) = apiserver_support::start().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig written");
    create_namespace(&client, LEASE_NAMESPACE).await;
    create_ready_nodes(&client, &["host-0".to_owned()], &["kosmos-member-0".to_owned()]).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let drmysqls: Api<DRMySQL> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // Two replicas: exactly one leads.
    let mut alpha = replica(&binary, &kubeconfig, dir.path(), "replica-alpha");
    let mut beta = replica(&binary, &kubeconfig, dir.path(), "replica-beta");
    alpha.wait_serving(Duration::from_secs(20)).await;
    beta.wait_serving(Duration::from_secs(20)).await;
    let alpha_leads = until_states(
        "exactly one of two replicas to lead",
        Duration::from_secs(15),
        &mut [&mut alpha, &mut beta],
        |states| match states {
            [(1.0, _), (0.0, _)] => Some(true),
            [(0.0, _), (1.0, _)] => Some(false),
            _ => None,
        },
    )
    .await;
    let (mut leader, mut follower) = if alpha_leads { (alpha, beta) } else { (beta, alpha) };
    assert_eq!(
        lease_holder(&leases).await.as_deref(),
        Some(leader.name.as_str()),
        "the Lease names the replica whose gauge is 1"
    );

    // Over more than a lease duration the leader renews and keeps the Lease,
    // and the follower never leads.
    let steady_until = Instant::now() + Duration::from_secs(LEASE_SECONDS + 1);
    while Instant::now() < steady_until {
        let now = states(&mut [&mut leader, &mut follower]).await;
        assert_eq!(
            (now[0].0, now[1].0),
            (1.0, 0.0),
            "{} keeps leading while it renews",
            leader.name
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // One DRMySQL, reconciled by the leader only.
    drmysqls
        .create(
            &PostParams::default(),
            &drmysql("default", "orders", "host-0", "kosmos-member-0"),
        )
        .await
        .expect("the DRMySQL is created");
    reconciled(&drmysqls, "orders", 1, Duration::from_secs(20)).await;
    let instance_pods = pods
        .list(&ListParams::default().labels(&format!("{}=orders", names::LABEL_CLUSTER)))
        .await
        .expect("Pods listed");
    assert_eq!(instance_pods.items.len(), 2, "a Pod per instance");
    let now = states(&mut [&mut leader, &mut follower]).await;
    assert_eq!(now[0].0, 1.0, "{} still leads", leader.name);
    assert!(now[0].1 >= 1.0, "the leader reconciled: {now:?}");
    assert_eq!(now[1].1, 0.0, "the follower never reconciles: {now:?}");

    // SIGTERM: the leader gives the Lease back and exits cleanly; the
    // follower takes over within a lease duration.
    let stopped = Instant::now();
    leader.signal(Signal::SIGTERM);
    let limit = Duration::from_secs(LEASE_SECONDS) + MARGIN;
    loop {
        let follower_leads = states(&mut [&mut follower]).await[0].0 == 1.0;
        // While the old leader shuts down (its metrics may already be gone),
        // it must not claim to lead once the follower does.
        if follower_leads && let Ok(metrics) = leader.metrics().await {
            assert_ne!(
                metric(&metrics, "drmysql_controller_leader"),
                Some(1.0),
                "{} and {} lead at once",
                leader.name,
                follower.name
            );
        }
        if follower_leads {
            break;
        }
        assert!(
            stopped.elapsed() < limit,
            "timed out after {limit:?} waiting for {} to take over after SIGTERM to {}; their logs end:\n{}\n---\n{}",
            follower.name,
            leader.name,
            follower.log_tail(15),
            leader.log_tail(15)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let takeover = stopped.elapsed();
    eprintln!("takeover after SIGTERM: {takeover:?}");
    let status = leader.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "a SIGTERMed controller exits 0, not {status}");
    let log = std::fs::read_to_string(&leader.log).unwrap_or_default();
    assert!(
        log.contains("released the leader Lease"),
        "the stopped leader says it gave the Lease back; its log ends:\n{}",
        leader.log_tail(20)
    );
    assert_eq!(
        lease_holder(&leases).await.as_deref(),
        Some(follower.name.as_str())
    );
    drop(leader);
    let mut leader = follower;

    // The new leader reconciles spec changes.
    let generation = set_lag_threshold(&drmysqls, "orders", 45).await;
    assert_eq!(generation, 2);
    reconciled(&drmysqls, "orders", generation, Duration::from_secs(15)).await;
    assert!(
        states(&mut [&mut leader]).await[0].1 >= 1.0,
        "{} reconciled",
        leader.name
    );

    // A third replica joins as a follower.
    let mut gamma = replica(&binary, &kubeconfig, dir.path(), "replica-gamma");
    gamma.wait_serving(Duration::from_secs(20)).await;
    let gamma_log = gamma.log.clone();
    let gamma_log = &gamma_log;
    until(
        "replica-gamma to contend for the Lease",
        Duration::from_secs(10),
        move || async move {
            std::fs::read_to_string(gamma_log)
                .unwrap_or_default()
                .contains("waiting for the leader Lease")
                .then_some(())
        },
    )
    .await;
    let now = states(&mut [&mut leader, &mut gamma]).await;
    assert_eq!(
        (now[0].0, now[1].0),
        (1.0, 0.0),
        "{} leads, gamma follows",
        leader.name
    );

    // SIGKILL: nothing is given back; gamma takes over once the Lease has
    // expired (at most one lease duration after the last renewal).
    let killed = Instant::now();
    leader.signal(Signal::SIGKILL);
    let status = leader.wait_exit(Duration::from_secs(5)).await;
    assert!(!status.success(), "a SIGKILLed controller does not exit 0");
    let limit = Duration::from_secs(LEASE_SECONDS) + RELEASE_WAIT + MARGIN;
    until_states(
        &format!("replica-gamma to take over after SIGKILL to {}", leader.name),
        limit,
        &mut [&mut gamma],
        |states| (states[0].0 == 1.0).then_some(()),
    )
    .await;
    let takeover = killed.elapsed();
    eprintln!("takeover after SIGKILL: {takeover:?}");
    assert_eq!(lease_holder(&leases).await.as_deref(), Some("replica-gamma"));
    drop(leader);

    let generation = set_lag_threshold(&drmysqls, "orders", 60).await;
    assert_eq!(generation, 3);
    reconciled(&drmysqls, "orders", generation, Duration::from_secs(15)).await;
    assert!(states(&mut [&mut gamma]).await[0].1 >= 1.0, "gamma reconciled");

    // The last replica stops cleanly too.
    gamma.signal(Signal::SIGTERM);
    let status = gamma.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "a SIGTERMed controller exits 0, not {status}");
}
