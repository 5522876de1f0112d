//! Choosing the gateway (stability, elastic IPs, readiness) and moving the
//! role with minimal, non-clobbering patches, only while leading.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::test_api::{Shared, fake_api};

const KOSMOS: &str = "/apis/kosmos.io/v1alpha1";

fn node(name: &str, status: Option<&str>, elastic_ip: &str, roles: &[&str]) -> ClusterNode {
    let mut object = json!({
        "apiVersion": "kosmos.io/v1alpha1", "kind": "ClusterNode",
        "metadata": {"name": name, "labels": {"kosmos.io/cluster": "a"}, "resourceVersion": "5"},
        "spec": {"clusterName": "a", "nodeName": name.trim_start_matches("a-"), "elasticip": elastic_ip,
                 "roles": roles, "interfaceName": "eth0"},
    });
    if let Some(status) = status {
        object["status"] = json!({"nodeStatus": status});
    }
    serde_json::from_value(object).expect("cluster node")
}

fn ready(name: &str) -> ClusterNode {
    node(name, Some("Ready"), "", &[])
}

fn not_ready(name: &str) -> ClusterNode {
    node(name, Some("NotReady"), "", &[])
}

fn with_eip(name: &str) -> ClusterNode {
    node(name, Some("Ready"), "203.0.113.1", &[])
}

fn own_eip(node: &ClusterNode) -> Option<Ipv4Addr> {
    elastic_ip(node, None)
}

/// Name, nodes, current gateway, expected gateway.
type ChoiceCase = (
    &'static str,
    Vec<ClusterNode>,
    Option<&'static str>,
    Option<&'static str>,
);

#[test]
fn choose_gateway_cases() {
    let cases: Vec<ChoiceCase> = vec![
        ("empty cluster", vec![], None, None),
        ("empty cluster, stale current", vec![], Some("a-n1"), None),
        (
            "first Ready by name",
            vec![ready("a-n2"), ready("a-n1")],
            None,
            Some("a-n1"),
        ),
        (
            "current kept while Ready",
            vec![ready("a-n1"), ready("a-n2")],
            Some("a-n2"),
            Some("a-n2"),
        ),
        (
            "current kept even when another has an elastic IP",
            vec![with_eip("a-n1"), ready("a-n2")],
            Some("a-n2"),
            Some("a-n2"),
        ),
        (
            "elastic IP preferred",
            vec![ready("a-n1"), with_eip("a-n3"), with_eip("a-n2")],
            None,
            Some("a-n2"),
        ),
        (
            "NotReady current replaced, elastic IP first",
            vec![not_ready("a-n1"), ready("a-n2"), with_eip("a-n3")],
            Some("a-n1"),
            Some("a-n3"),
        ),
        (
            "NotReady with an elastic IP loses to Ready without",
            vec![node("a-n1", Some("NotReady"), "203.0.113.1", &[]), ready("a-n2")],
            None,
            Some("a-n2"),
        ),
        (
            "unknown readiness counts as not Ready",
            vec![node("a-n1", None, "203.0.113.1", &[]), ready("a-n2")],
            None,
            Some("a-n2"),
        ),
        (
            "current that left is replaced",
            vec![ready("a-n2")],
            Some("a-n1"),
            Some("a-n2"),
        ),
        (
            "none Ready: the current stays",
            vec![not_ready("a-n1"), not_ready("a-n2")],
            Some("a-n2"),
            Some("a-n2"),
        ),
        (
            "none Ready, none current: same order",
            vec![not_ready("a-n1"), node("a-n2", None, "203.0.113.2", &[])],
            None,
            Some("a-n2"),
        ),
        (
            "an invalid elastic IP is none",
            vec![ready("a-n2"), node("a-n1", Some("Ready"), "not-an-ip", &[])],
            None,
            Some("a-n1"),
        ),
    ];
    for (name, nodes, current, expected) in cases {
        assert_eq!(
            choose_gateway(&nodes, own_eip, current).as_deref(),
            expected,
            "{name}"
        );
    }
}

#[test]
fn elastic_ips_come_from_the_node_or_the_clusters_map() {
    let options = ClusterLinkOptions {
        node_elastic_ip_map: BTreeMap::from([
            ("n2".to_owned(), "198.51.100.2".to_owned()),
            ("n1".to_owned(), "198.51.100.1".to_owned()),
            ("n3".to_owned(), "bogus".to_owned()),
        ]),
        ..ClusterLinkOptions::default()
    };
    let cases = [
        (
            node("a-n1", None, "203.0.113.1", &[]),
            Some("203.0.113.1"),
            "own field wins",
        ),
        (node("a-n2", None, "", &[]), Some("198.51.100.2"), "from the map"),
        (node("a-n3", None, "", &[]), None, "invalid map entry"),
        (node("a-n4", None, "", &[]), None, "neither"),
    ];
    for (node, expected, why) in cases {
        assert_eq!(
            elastic_ip(&node, Some(&options)),
            expected.map(|ip| ip.parse().expect("ip")),
            "{why}"
        );
    }
    assert_eq!(elastic_ip(&node("a-n2", None, "", &[]), None), None);
    let nodes = [ready("a-n1"), ready("a-n2")];
    assert_eq!(
        choose_gateway(&nodes, |node| elastic_ip(node, Some(&options)), None).as_deref(),
        Some("a-n1"),
        "both have one through the map; by name"
    );
}

#[test]
fn current_gateway_prefers_a_ready_holder() {
    let cases: Vec<(Vec<ClusterNode>, Option<&str>)> = vec![
        (vec![ready("a-n1")], None),
        (
            vec![ready("a-n1"), node("a-n2", Some("Ready"), "", &["Gateway"])],
            Some("a-n2"),
        ),
        (
            vec![
                node("a-n1", Some("NotReady"), "", &["gateway"]),
                node("a-n2", Some("Ready"), "", &["gateway"]),
            ],
            Some("a-n2"),
        ),
        (
            vec![
                node("a-n3", Some("Ready"), "", &["gateway"]),
                node("a-n2", Some("Ready"), "", &["gateway"]),
            ],
            Some("a-n2"),
        ),
    ];
    for (nodes, expected) in cases {
        assert_eq!(current_gateway(&nodes).as_deref(), expected);
    }
}

#[test]
fn role_changes_keep_other_roles_and_remove_before_adding() {
    let nodes = [
        node("a-n1", Some("Ready"), "", &["edge", "GATEWAY"]),
        node("a-n2", Some("Ready"), "", &["edge"]),
        node("a-n3", Some("Ready"), "", &["gateway"]),
        node("a-n4", Some("Ready"), "", &[]),
    ];
    let changes = role_changes(&nodes, "a-n2");
    let summary: Vec<(&str, Vec<&str>)> = changes
        .iter()
        .map(|change| {
            (
                change.name.as_str(),
                change.roles.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("a-n1", vec!["edge"]),
            ("a-n3", vec![]),
            ("a-n2", vec!["edge", "gateway"]),
        ]
    );
    assert_eq!(changes[0].resource_version.as_deref(), Some("5"));
    assert_eq!(
        role_patch(&changes[1]),
        json!({"metadata": {"resourceVersion": "5"}, "spec": {"roles": []}})
    );
    let settled = [node("a-n1", Some("Ready"), "", &["Gateway"]), ready("a-n2")];
    assert_eq!(role_changes(&settled, "a-n1"), [], "already the only gateway");
}

fn host_with(nodes: &[ClusterNode], cluster_options: serde_json::Value) -> (kube::Client, Shared) {
    let (host, store) = fake_api();
    {
        let mut store = store.lock().expect("store");
        store.put(
            &format!("{KOSMOS}/clusters/a"),
            json!({"apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "a"},
                   "spec": {"clusterLinkOptions": cluster_options}}),
        );
        for node in nodes {
            store.put(
                &format!("{KOSMOS}/clusternodes/{}", node.name_any()),
                serde_json::to_value(node).expect("json"),
            );
        }
        store.put(
            &format!("{KOSMOS}/clusternodes/b-n1"),
            json!({"apiVersion": "kosmos.io/v1alpha1", "kind": "ClusterNode",
                   "metadata": {"name": "b-n1", "labels": {"kosmos.io/cluster": "b"}, "resourceVersion": "5"},
                   "spec": {"clusterName": "b", "nodeName": "n1", "roles": ["gateway"], "interfaceName": "eth0"},
                   "status": {"nodeStatus": "Ready"}}),
        );
    }
    (host, store)
}

#[tokio::test]
async fn sync_gateway_moves_the_role_with_merge_patches_then_settles() {
    let (host, store) = host_with(
        &[
            node("a-n1", Some("NotReady"), "", &["edge", "gateway"]),
            ready("a-n2"),
            ready("a-n3"),
        ],
        json!({"networkType": "gateway", "nodeElasticIPMap": {"n3": "203.0.113.3"}}),
    );
    let report = sync_gateway(&host, "a").await.expect("sync");
    assert_eq!(
        report,
        GatewayReport {
            gateway: Some("a-n3".to_owned()),
            changed: 2
        }
    );
    let writes = store.lock().expect("store").take_writes();
    let paths: Vec<&str> = writes.iter().map(|write| write.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            format!("{KOSMOS}/clusternodes/a-n1"),
            format!("{KOSMOS}/clusternodes/a-n3")
        ],
        "the old gateway loses the role first; b's gateway is untouched"
    );
    for write in &writes {
        assert_eq!(write.content_type, "application/merge-patch+json");
        assert!(
            write.query.contains("fieldManager=drmysql-elector"),
            "{}",
            write.query
        );
        assert_eq!(
            write.body["spec"]
                .as_object()
                .map(|spec| spec.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["roles".to_owned()]),
            "only spec.roles: {}",
            write.body
        );
    }
    let objects = store.lock().expect("store").objects.clone();
    assert_eq!(
        objects[&format!("{KOSMOS}/clusternodes/a-n1")]["spec"]["roles"],
        json!(["edge"])
    );
    assert_eq!(
        objects[&format!("{KOSMOS}/clusternodes/a-n3")]["spec"]["roles"],
        json!(["gateway"])
    );
    assert_eq!(
        objects[&format!("{KOSMOS}/clusternodes/a-n3")]["spec"]["interfaceName"],
        "eth0"
    );

    let report = sync_gateway(&host, "a").await.expect("second sync");
    assert_eq!(report.changed, 0);
    assert_eq!(
        store.lock().expect("store").take_writes(),
        [],
        "a settled gateway writes nothing"
    );
}

#[tokio::test]
async fn sync_gateway_without_the_cluster_or_nodes() {
    let (host, store) = fake_api();
    assert!(matches!(
        sync_gateway(&host, "a").await,
        Err(DiscoveryError::ClusterMissing(name)) if name == "a"
    ));
    let (host, store_with_cluster) = host_with(&[], json!({}));
    assert_eq!(
        sync_gateway(&host, "a").await.expect("sync"),
        GatewayReport::default()
    );
    assert_eq!(store.lock().expect("store").take_writes(), []);
    assert_eq!(store_with_cluster.lock().expect("store").take_writes(), []);
}

#[tokio::test(start_paused = true)]
async fn the_loop_acts_only_while_leading() {
    let (host, store) = host_with(&[ready("a-n1"), ready("a-n2")], json!({}));
    let (leader, leading) = watch::channel(false);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(gateway_loop(
        host,
        "a".to_owned(),
        GatewayTiming::default(),
        leading,
        async {
            let _ = stopped.await;
        },
    ));
    let gateway_of = |store: &Shared, name: &str| {
        store.lock().expect("store").objects[&format!("{KOSMOS}/clusternodes/{name}")]["spec"]["roles"]
            .clone()
    };

    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        store.lock().expect("store").take_writes(),
        [],
        "a follower writes nothing"
    );

    leader.send_replace(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        gateway_of(&store, "a-n1"),
        json!(["gateway"]),
        "the leader acts at once"
    );
    store.lock().expect("store").take_writes();

    // a-n1 goes NotReady; the leader moves the role at its next check (10 s).
    store
        .lock()
        .expect("store")
        .objects
        .get_mut(&format!("{KOSMOS}/clusternodes/a-n1"))
        .expect("a-n1")["status"]["nodeStatus"] = json!("NotReady");
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(gateway_of(&store, "a-n2"), json!(["gateway"]));
    assert_eq!(gateway_of(&store, "a-n1"), json!([]));

    // After losing the Lease it no longer acts.
    leader.send_replace(false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    store.lock().expect("store").take_writes();
    store
        .lock()
        .expect("store")
        .objects
        .get_mut(&format!("{KOSMOS}/clusternodes/a-n2"))
        .expect("a-n2")["status"]["nodeStatus"] = json!("NotReady");
    store
        .lock()
        .expect("store")
        .objects
        .get_mut(&format!("{KOSMOS}/clusternodes/a-n1"))
        .expect("a-n1")["status"]["nodeStatus"] = json!("Ready");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(store.lock().expect("store").take_writes(), []);

    stop.send(()).expect("loop alive");
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops on shutdown")
        .expect("no panic");
}

#[tokio::test(start_paused = true)]
async fn a_conflict_is_retried_after_three_seconds() {
    let (host, store) = host_with(&[ready("a-n1")], json!({}));
    // The ClusterNode changes between the list and the patch: the list serves
    // a stale resourceVersion, so the patch is refused with 409.
    store.lock().expect("store").stale_lists = true;
    let (leader, leading) = watch::channel(true);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(gateway_loop(
        host,
        "a".to_owned(),
        GatewayTiming::default(),
        leading,
        async {
            let _ = stopped.await;
        },
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let first = store.lock().expect("store").take_writes();
    assert_eq!(first.len(), 1, "one refused attempt: {first:?}");
    store.lock().expect("store").stale_lists = false;
    tokio::time::sleep(Duration::from_millis(2900)).await;
    assert_eq!(
        store.lock().expect("store").take_writes(),
        [],
        "no retry before 3 s"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        store.lock().expect("store").take_writes().len(),
        1,
        "retried after 3 s"
    );
    assert_eq!(
        store.lock().expect("store").objects[&format!("{KOSMOS}/clusternodes/a-n1")]["spec"]["roles"],
        json!(["gateway"])
    );
    drop(leader);
    stop.send(()).expect("loop alive");
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops on shutdown")
        .expect("no panic");
}
