//! Leader election through kube-lease-manager against the API simulator: two
//! identities contest one Lease, only one holds it at a time (the loser's
//! server-side apply of `holderIdentity` conflicts with the holder's), and
//! the other takes over once the holder releases it.

mod apiserver_support;

use apiserver_support::{eventually, start};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use std::time::Duration;
use tokio::sync::watch;

async fn manager(client: &kube::Client, identity: &str) -> LeaseManager {
    LeaseManagerBuilder::new(client.clone(), "drmysql-leader")
        .with_namespace("default")
        .with_identity(identity)
        .with_duration(3)
        .with_grace(1)
        .build()
        .await
        .expect("a lease manager")
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases.get("drmysql-leader").await.ok()?.spec?.holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_identity_holds_the_lease_and_the_other_takes_over_after_release() {
    let (_server, client) = start().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let (alpha, alpha_task) = manager(&client, "alpha").await.watch().await;
    let (beta, beta_task) = manager(&client, "beta").await.watch().await;

    let states =
        |alpha: &watch::Receiver<bool>, beta: &watch::Receiver<bool>| (*alpha.borrow(), *beta.borrow());
    let first = eventually("one identity to lead", Duration::from_secs(15), || {
        let state = states(&alpha, &beta);
        async move {
            match state {
                (true, false) => Some("alpha"),
                (false, true) => Some("beta"),
                _ => None,
            }
        }
    })
    .await;
    assert_eq!(holder(&leases).await.as_deref(), Some(first));

    // Several lease durations: the holder renews, the other never leads.
    let watch_until = tokio::time::Instant::now() + Duration::from_secs(7);
    while tokio::time::Instant::now() < watch_until {
        let (a, b) = states(&alpha, &beta);
        assert!(!(a && b), "never two leaders");
        assert!(
            if first == "alpha" { a } else { b },
            "the first leader keeps the lease while it renews"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(holder(&leases).await.as_deref(), Some(first));

    // The leader steps down: closing its channel releases the Lease.
    let (leader_task, mut follower) = if first == "alpha" {
        drop(alpha);
        (alpha_task, beta)
    } else {
        drop(beta);
        (beta_task, alpha)
    };
    leader_task
        .await
        .expect("the leader's task ends")
        .expect("the leader releases the lease cleanly");
    let second = if first == "alpha" { "beta" } else { "alpha" };
    tokio::time::timeout(Duration::from_secs(15), async {
        while !*follower.borrow_and_update() {
            follower.changed().await.expect("the follower keeps running");
        }
    })
    .await
    .expect("the other identity takes over within 15 s");
    assert_eq!(holder(&leases).await.as_deref(), Some(second));
    let lease = leases.get("drmysql-leader").await.expect("lease");
    let transitions = lease.spec.and_then(|s| s.lease_transitions).unwrap_or_default();
    assert!(
        transitions >= 2,
        "each acquisition counts a transition, got {transitions}"
    );
}
