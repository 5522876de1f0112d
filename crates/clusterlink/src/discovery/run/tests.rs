//! A whole discovery pass against a fake member and a fake host, its steady
//! state, a failing concern that does not stop the others, the loops together,
//! and configuration checks.

use serde_json::json;

use super::*;
use crate::test_api::{Shared, fake_api};

const KOSMOS: &str = "/apis/kosmos.io/v1alpha1";
const CALICO: &str = "/apis/crd.projectcalico.org/v1";

fn member_cluster() -> (kube::Client, Shared) {
    let (member, store) = fake_api();
    {
        let mut store = store.lock().expect("store");
        let node = |name: &str, labels: serde_json::Value, ready: &str| {
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
                   "spec": {"podCIDRs": ["10.1.9.0/24"]},
                   "status": {"conditions": [{"type": "Ready", "status": ready}]}})
        };
        store.put("/api/v1/nodes/n1", node("n1", json!({}), "True"));
        store.put("/api/v1/nodes/n2", node("n2", json!({}), "False"));
        store.put(
            "/api/v1/nodes/kosmos-b",
            node("kosmos-b", json!({"kosmos.io/node": "true"}), "True"),
        );
        store.put(
            &format!("{CALICO}/ippools/default-ipv4-ippool"),
            json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": {"name": "default-ipv4-ippool"},
                   "spec": {"cidr": "10.1.0.0/16", "natOutgoing": true}}),
        );
        for (node, cidr) in [("n1", "10.1.1.0/26"), ("n2", "10.1.2.0/26")] {
            let name = format!("{node}-{}", cidr.replace(['.', '/'], "-"));
            store.put(
                &format!("{CALICO}/blockaffinities/{name}"),
                json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity", "metadata": {"name": name},
                       "spec": {"node": node, "cidr": cidr, "state": "confirmed", "deleted": "false"}}),
            );
        }
        store.put(
            "/api/v1/namespaces/kube-system/pods/kube-apiserver-n1",
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "kube-apiserver-n1", "namespace": "kube-system", "labels": {"component": "kube-apiserver"}},
                   "spec": {"containers": [{"name": "kube-apiserver", "image": "k",
                            "command": ["kube-apiserver", "--service-cluster-ip-range=10.96.0.0/12"]}]}}),
        );
    }
    (member, store)
}

fn host_cluster(own_options: serde_json::Value) -> (kube::Client, Shared) {
    let (host, store) = fake_api();
    {
        let mut store = store.lock().expect("store");
        store.put(
            &format!("{KOSMOS}/clusters/a"),
            json!({"apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "a"},
                   "spec": {"clusterLinkOptions": own_options}}),
        );
        store.put(
            &format!("{KOSMOS}/clusters/b"),
            json!({"apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "b"},
                   "spec": {"clusterLinkOptions": {"cni": "flannel", "networkType": "gateway"}},
                   "status": {"clusterLinkStatus": {"podCIDRs": ["10.2.0.0/16"], "serviceCIDRs": ["10.97.0.0/16"]}}}),
        );
    }
    (host, store)
}

fn object(store: &Shared, path: &str) -> serde_json::Value {
    store
        .lock()
        .expect("store")
        .objects
        .get(path)
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_calico_pass_discovers_everything_then_settles() {
    let (member, member_store) = member_cluster();
    let (host, host_store) = host_cluster(json!({"cni": "calico", "networkType": "gateway"}));

    let report = sync_once(&member, &host, "a").await.expect("pass");
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.status_written, Some(true));
    assert_eq!(
        report.nodes.as_ref().map(|nodes| (nodes.desired, nodes.applied)),
        Some((2, 2))
    );
    assert_eq!(report.ippools.as_ref().map(|pools| pools.applied), Some(2));

    let cluster = object(&host_store, &format!("{KOSMOS}/clusters/a"));
    assert_eq!(
        cluster["status"]["clusterLinkStatus"],
        json!({"podCIDRs": ["10.1.0.0/16"], "serviceCIDRs": ["10.96.0.0/12"]})
    );
    let n1 = object(&host_store, &format!("{KOSMOS}/clusternodes/a-n1"));
    assert_eq!(
        n1["spec"]["podCIDRs"],
        json!(["10.1.1.0/26"]),
        "from block affinities"
    );
    assert_eq!(n1["status"]["nodeStatus"], "Ready");
    assert_eq!(
        object(&host_store, &format!("{KOSMOS}/clusternodes/a-n2"))["status"]["nodeStatus"],
        "NotReady"
    );
    assert!(
        !host_store
            .lock()
            .expect("store")
            .objects
            .contains_key(&format!("{KOSMOS}/clusternodes/a-kosmos-b")),
        "no ClusterNode for a virtual node"
    );
    let pools: Vec<String> = member_store
        .lock()
        .expect("store")
        .objects
        .keys()
        .filter(|path| path.starts_with(&format!("{CALICO}/ippools/clusterlink-")))
        .cloned()
        .collect();
    assert_eq!(
        pools,
        [
            format!("{CALICO}/ippools/clusterlink-b-pod-10-2-0-0-16"),
            format!("{CALICO}/ippools/clusterlink-b-service-10-97-0-0-16"),
        ]
    );

    member_store.lock().expect("store").take_writes();
    host_store.lock().expect("store").take_writes();
    let report = sync_once(&member, &host, "a").await.expect("second pass");
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.status_written, Some(false));
    assert_eq!(
        member_store.lock().expect("store").take_writes(),
        [],
        "settled: no member writes"
    );
    assert_eq!(
        host_store.lock().expect("store").take_writes(),
        [],
        "settled: no host writes"
    );
}

#[tokio::test]
async fn a_failing_concern_does_not_stop_the_others() {
    let (member, member_store) = member_cluster();
    let (host, host_store) = host_cluster(json!({"cni": "calico"}));
    member_store
        .lock()
        .expect("store")
        .failing
        .insert("/api/v1/nodes".to_owned());

    let report = sync_once(&member, &host, "a").await.expect("pass");
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(
        report.failures[0].to_string().contains("member Nodes"),
        "{}",
        report.failures[0]
    );
    assert!(report.nodes.is_none());
    assert_eq!(
        report.status_written,
        Some(true),
        "the status still comes from the IPPools"
    );
    assert_eq!(report.ippools.as_ref().map(|pools| pools.applied), Some(2));
    assert!(
        host_store
            .lock()
            .expect("store")
            .writes
            .iter()
            .all(|write| !write.path.contains("/clusternodes/")),
        "no ClusterNode is written or deleted without the Node list"
    );
}

#[tokio::test]
async fn no_cluster_or_a_disabled_one_writes_nothing() {
    let (member, member_store) = member_cluster();
    let (host, host_store) = fake_api();
    assert!(matches!(
        sync_once(&member, &host, "a").await,
        Err(DiscoveryError::ClusterMissing(name)) if name == "a"
    ));
    let (host, disabled_store) = host_cluster(json!({"enable": false}));
    let report = sync_once(&member, &host, "a").await.expect("pass");
    assert!(report.status_written.is_none() && report.nodes.is_none() && report.ippools.is_none());
    assert_eq!(member_store.lock().expect("store").take_writes(), []);
    assert_eq!(host_store.lock().expect("store").take_writes(), []);
    assert_eq!(disabled_store.lock().expect("store").take_writes(), []);
}

#[tokio::test]
async fn a_flannel_member_makes_no_ippools_and_reads_no_calico() {
    let (member, member_store) = member_cluster();
    let (host, host_store) = host_cluster(json!({"cni": "flannel"}));
    member_store.lock().expect("store").put(
        "/api/v1/namespaces/kube-flannel/configmaps/kube-flannel-cfg",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-flannel-cfg", "namespace": "kube-flannel"},
               "data": {"net-conf.json": "{\"Network\": \"10.1.0.0/16\"}"}}),
    );
    let report = sync_once(&member, &host, "a").await.expect("pass");
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(report.ippools.is_none());
    assert_eq!(member_store.lock().expect("store").take_writes(), []);
    let reads = member_store.lock().expect("store").reads.clone();
    assert!(
        reads.iter().all(|path| !path.starts_with(CALICO)),
        "no Calico resource is read: {reads:?}"
    );
    assert_eq!(
        object(&host_store, &format!("{KOSMOS}/clusternodes/a-n1"))["spec"]["podCIDRs"],
        json!(["10.1.9.0/24"]),
        "node pod CIDRs from Node.spec outside Calico"
    );
    assert_eq!(
        object(&host_store, &format!("{KOSMOS}/clusters/a"))["status"]["clusterLinkStatus"]["podCIDRs"],
        json!(["10.1.0.0/16"])
    );
}

#[tokio::test(start_paused = true)]
async fn the_loops_run_together_and_stop_on_shutdown() {
    let (member, _member_store) = member_cluster();
    let (host, host_store) = host_cluster(json!({"cni": "calico", "networkType": "gateway"}));
    let (_leader, leading) = watch::channel(true);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = DiscoveryConfig::new("a", "pod-0", "kosmos-system");
    let running = tokio::spawn(run_loops(
        member,
        host,
        config,
        futures::stream::pending(),
        leading,
        async {
            let _ = stopped.await;
        },
    ));

    // The gateway check may run before the first pass has made ClusterNodes;
    // by its next check (10 s) they exist.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(
        object(&host_store, &format!("{KOSMOS}/clusternodes/a-n1"))["spec"]["roles"],
        json!(["gateway"]),
        "the only Ready node is the gateway"
    );
    assert!(object(&host_store, &format!("{KOSMOS}/clusternodes/a-n2"))["spec"]["roles"].is_null());

    stop.send(()).expect("loops alive");
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops on shutdown")
        .expect("no panic");
}

#[test]
fn configuration_checks_name_the_field() {
    let valid = DiscoveryConfig::new("a", "pod-0", "kosmos-system");
    assert!(valid.validate().is_ok());
    let cases: Vec<(DiscoveryConfig, &str)> = vec![
        (DiscoveryConfig::new("", "pod-0", "ns"), "cluster"),
        (DiscoveryConfig::new("a", " ", "ns"), "identity"),
        (DiscoveryConfig::new("a", "pod-0", ""), "lease_namespace"),
        (
            DiscoveryConfig {
                lease_grace: Duration::from_secs(15),
                ..valid.clone()
            },
            "lease_grace",
        ),
        (
            DiscoveryConfig {
                lease_grace: Duration::from_millis(500),
                ..valid.clone()
            },
            "lease_grace",
        ),
        (
            DiscoveryConfig {
                resync: Duration::ZERO,
                ..valid.clone()
            },
            "resync",
        ),
        (
            DiscoveryConfig {
                gateway: GatewayTiming {
                    interval: Duration::ZERO,
                    retry: Duration::from_secs(3),
                },
                ..valid.clone()
            },
            "gateway.interval",
        ),
    ];
    for (config, field) in cases {
        match config.validate() {
            Err(DiscoveryError::Config(message)) => assert!(message.starts_with(field), "{field}: {message}"),
            other => panic!("{field}: expected a configuration error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn run_refuses_an_invalid_configuration() {
    let (member, _) = fake_api();
    let (host, _) = fake_api();
    let result = run(member, host, DiscoveryConfig::new("", "pod-0", "ns"), async {}).await;
    assert!(matches!(result, Err(DiscoveryError::Config(_))));
}

#[tokio::test]
async fn run_can_be_spawned() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    let (member, _) = fake_api();
    let (host, _) = fake_api();
    let running = run(member, host, DiscoveryConfig::new("a", "pod-0", "ns"), async {});
    assert_send(&running);
}
