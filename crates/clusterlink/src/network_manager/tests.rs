//! The network manager's plan, and its sync and debounce against the crate's
//! in-memory API server.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use drmysql_api::clusterlink::{NodeConfig, NodeConfigSpec, Route};
use http::Method;
use serde_json::json;

use super::*;
use crate::test_api::{Store, fake_api};

const KOSMOS: &str = "/apis/kosmos.io/v1alpha1";

fn spec_with_route(cidr: &str) -> NodeConfigSpec {
    NodeConfigSpec {
        routes: vec![Route {
            cidr: cidr.to_owned(),
            gw: "220.0.0.2".to_owned(),
            dev: "vx-bridge".to_owned(),
        }],
        ..NodeConfigSpec::default()
    }
}

fn live(name: &str, spec: NodeConfigSpec) -> NodeConfig {
    let mut config = NodeConfig::new(name, spec);
    config.metadata.resource_version = Some("3".to_owned());
    config
}

#[test]
fn plan_writes_only_what_differs_and_deletes_what_left() {
    let desired = BTreeMap::from([
        ("a-n1".to_owned(), spec_with_route("10.2.0.0/16")),
        ("a-n2".to_owned(), spec_with_route("10.2.0.0/16")),
        ("b-n1".to_owned(), spec_with_route("10.1.0.0/16")),
    ]);
    let live = [
        live("a-n1", spec_with_route("10.2.0.0/16")),
        live("b-n1", spec_with_route("10.9.0.0/16")),
        live("c-gone", spec_with_route("10.1.0.0/16")),
    ];
    let plan = plan(&desired, &live);
    let applied: Vec<&str> = plan.apply.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(applied, ["a-n2", "b-n1"], "unchanged a-n1 is not written");
    assert_eq!(plan.apply[1].1, spec_with_route("10.1.0.0/16"));
    assert_eq!(plan.delete, ["c-gone"]);
}

#[test]
fn plan_of_a_settled_state_is_empty() {
    let desired = BTreeMap::from([("a-n1".to_owned(), spec_with_route("10.2.0.0/16"))]);
    assert_eq!(
        plan(&desired, &[live("a-n1", spec_with_route("10.2.0.0/16"))]),
        Plan::default()
    );
}

fn add_cluster(store: &Mutex<Store>, name: &str, pod_cidr: &str) {
    store.lock().expect("store").put(
        &format!("{KOSMOS}/clusters/{name}"),
        json!({
            "apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster",
            "metadata": {"name": name},
            "spec": {"clusterLinkOptions": {"networkType": "p2p", "ipFamily": "ipv4", "cni": "calico"}},
            "status": {"clusterLinkStatus": {"podCIDRs": [pod_cidr], "serviceCIDRs": []}}
        }),
    );
}

fn add_node(store: &Mutex<Store>, cluster: &str, node: &str, ip: &str, pod_cidr: &str) {
    let name = format!("{cluster}-{node}");
    store.lock().expect("store").put(
        &format!("{KOSMOS}/clusternodes/{name}"),
        json!({
            "apiVersion": "kosmos.io/v1alpha1", "kind": "ClusterNode",
            "metadata": {"name": name, "labels": {"kosmos.io/cluster": cluster}},
            "spec": {"clusterName": cluster, "nodeName": node, "ip": ip, "interfaceName": "eth0", "podCIDRs": [pod_cidr]}
        }),
    );
}

fn two_clusters() -> (kube::Client, Arc<Mutex<Store>>) {
    let (client, store) = fake_api();
    add_cluster(&store, "a", "10.1.0.0/16");
    add_cluster(&store, "b", "10.2.0.0/16");
    add_node(&store, "a", "n1", "192.168.0.1", "10.1.1.0/24");
    add_node(&store, "b", "n1", "192.168.0.2", "10.2.1.0/24");
    (client, store)
}

fn take_writes(store: &Mutex<Store>) -> Vec<crate::test_api::Write> {
    store.lock().expect("store").take_writes()
}

#[tokio::test]
async fn sync_applies_every_node_config_then_writes_nothing_when_settled() {
    let (client, store) = two_clusters();

    let report = sync_once(&client).await.expect("first sync");
    assert_eq!((report.desired, report.applied, report.deleted), (2, 2, 0));
    let writes = take_writes(&store);
    let paths: Vec<&str> = writes.iter().map(|write| write.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            format!("{KOSMOS}/nodeconfigs/a-n1"),
            format!("{KOSMOS}/nodeconfigs/b-n1")
        ]
    );
    for write in &writes {
        assert_eq!(write.method, Method::PATCH);
        assert!(
            write.query.contains("fieldManager=drmysql") && write.query.contains("force=true"),
            "server-side apply as drmysql: {}",
            write.query
        );
    }
    let applied = store.lock().expect("store").objects[&format!("{KOSMOS}/nodeconfigs/a-n1")].clone();
    assert_eq!(
        applied["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "drmysql"
    );
    assert!(
        applied["spec"]["devices"]
            .as_array()
            .is_some_and(|devices| !devices.is_empty()),
        "a computed spec was applied: {applied}"
    );

    let report = sync_once(&client).await.expect("second sync");
    assert_eq!((report.applied, report.deleted), (0, 0));
    assert_eq!(take_writes(&store), [], "a settled state makes no writes");
}

#[tokio::test]
async fn a_node_that_leaves_loses_its_node_config() {
    let (client, store) = two_clusters();
    sync_once(&client).await.expect("first sync");
    take_writes(&store);

    store
        .lock()
        .expect("store")
        .objects
        .remove(&format!("{KOSMOS}/clusternodes/b-n1"));
    let report = sync_once(&client).await.expect("sync after leave");
    assert_eq!(report.deleted, 1);
    let writes = take_writes(&store);
    assert!(
        writes
            .iter()
            .any(|write| write.method == Method::DELETE && write.path == format!("{KOSMOS}/nodeconfigs/b-n1")),
        "{writes:?}"
    );
    assert!(
        writes
            .iter()
            .all(|write| write.path != format!("{KOSMOS}/nodeconfigs/b-n1") || write.method == Method::DELETE)
    );
}
