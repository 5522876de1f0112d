//! The election's wiring against the fake API server: the Lease is created in
//! the configured namespace, taken under this identity with the crate's own
//! per-identity field manager (never drmysql's shared one), reported on the
//! leader channel, and released at shutdown. Real time: the crate keeps its
//! expiry on the system clock.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::test_api::fake_api;

const LEASE: &str =
    "/apis/coordination.k8s.io/v1/namespaces/kosmos-system/leases/drmysql-clusterlink-elector";

#[tokio::test]
async fn takes_reports_and_releases_the_lease() {
    let (member, store) = fake_api();
    let (leader, mut leading) = watch::channel(false);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let settings = LeaseSettings {
        name: "drmysql-clusterlink-elector".to_owned(),
        namespace: "kosmos-system".to_owned(),
        identity: "discovery-0".to_owned(),
        duration_secs: 2,
        grace_secs: 1,
        retry: Duration::from_secs(1),
    };
    let running = tokio::spawn(hold_lease(member, settings, leader, async {
        let _ = stopped.await;
    }));

    tokio::time::timeout(Duration::from_secs(10), leading.wait_for(|leading| *leading))
        .await
        .expect("becomes leader in time")
        .expect("channel open");
    let lease = store.lock().expect("store").objects[LEASE].clone();
    assert_eq!(lease["spec"]["holderIdentity"], "discovery-0");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], json!(2));
    let writes = store.lock().expect("store").writes.clone();
    assert!(
        writes.iter().any(|write| write.method == http::Method::POST),
        "the Lease was created: {writes:?}"
    );
    for write in writes.iter().filter(|write| write.method == http::Method::PATCH) {
        assert!(
            write.query.contains("fieldManager=kube-lease-manager-"),
            "the crate's per-identity field manager: {}",
            write.query
        );
        assert!(!write.query.contains("fieldManager=drmysql"), "{}", write.query);
    }

    stop.send(()).expect("holder alive");
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("stops on shutdown")
        .expect("no panic");
    assert!(!*leading.borrow(), "no longer leader");
    let lease = store.lock().expect("store").objects[LEASE].clone();
    assert!(lease["spec"].get("holderIdentity").is_none(), "released: {lease}");
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_lease_api_means_not_leader_and_retries() {
    let (member, store) = fake_api();
    store.lock().expect("store").failing.insert(LEASE.to_owned());
    let (leader, leading) = watch::channel(true);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let settings = LeaseSettings {
        name: "drmysql-clusterlink-elector".to_owned(),
        namespace: "kosmos-system".to_owned(),
        identity: "discovery-0".to_owned(),
        duration_secs: 15,
        grace_secs: 5,
        retry: Duration::from_secs(10),
    };
    let running = tokio::spawn(hold_lease(member, settings, leader, async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert!(!*leading.borrow(), "not leader while the Lease cannot be read");
    let attempts = store
        .lock()
        .expect("store")
        .reads
        .iter()
        .filter(|path| path.as_str() == LEASE)
        .count();
    assert_eq!(attempts, 3, "at start, after 10 s and after 20 s");
    stop.send(()).expect("holder alive");
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops on shutdown")
        .expect("no panic");
}
