//! Which Nodes get a ClusterNode, what it says, what is an orphan, and that
//! the writes name only discovery's own fields.

use serde_json::json;

use super::*;
use crate::test_api::fake_api;

const KOSMOS: &str = "/apis/kosmos.io/v1alpha1";

fn node(name: &str, labels: serde_json::Value, ready: Option<&str>, pod_cidrs: &[&str]) -> Node {
    let conditions = match ready {
        Some(status) => json!([
            {"type": "MemoryPressure", "status": "False"},
            {"type": "Ready", "status": status}
        ]),
        None => json!([]),
    };
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"podCIDRs": pod_cidrs},
        "status": {"conditions": conditions},
    }))
    .expect("node")
}

fn ready(name: &str) -> Node {
    node(name, json!({}), Some("True"), &["10.1.1.0/24"])
}

fn want(name: &str, node_name: &str, pod_cidrs: &[&str], status: &'static str) -> DesiredClusterNode {
    DesiredClusterNode {
        name: name.to_owned(),
        node_name: node_name.to_owned(),
        pod_cidrs: pod_cidrs.iter().map(|cidr| (*cidr).to_owned()).collect(),
        node_status: status,
    }
}

fn cluster_node(value: serde_json::Value) -> ClusterNode {
    serde_json::from_value(value).expect("cluster node")
}

fn live(name: &str, cluster: &str, node_name: &str, pod_cidrs: &[&str], status: Option<&str>) -> ClusterNode {
    let mut object = json!({
        "apiVersion": "kosmos.io/v1alpha1", "kind": "ClusterNode",
        "metadata": {"name": name, "labels": {"kosmos.io/cluster": cluster}},
        "spec": {"clusterName": cluster, "nodeName": node_name, "podCIDRs": pod_cidrs,
                 "ip": "192.168.0.9", "interfaceName": "eth0", "elasticip": "203.0.113.9"},
    });
    if let Some(status) = status {
        object["status"] = json!({"nodeStatus": status});
    }
    cluster_node(object)
}

#[test]
fn virtual_and_excluded_nodes_are_skipped() {
    let cases = [
        (json!({}), false),
        (json!({"kosmos.io/node": "true"}), true),
        (json!({"kosmos.io/exclude": "true"}), true),
        (json!({"kosmos.io/exclude": "false"}), false),
        (
            json!({"kosmos.io/node": "false", "type": "virtual-kubelet"}),
            false,
        ),
        (json!({"kosmos.io/cluster": "b"}), false),
    ];
    for (labels, skipped) in cases {
        assert_eq!(
            is_skipped(&node("n", labels.clone(), Some("True"), &[])),
            skipped,
            "{labels}"
        );
    }
}

#[test]
fn readiness_follows_the_ready_condition() {
    let cases = [
        (Some("True"), NODE_READY),
        (Some("False"), NODE_NOT_READY),
        (Some("Unknown"), NODE_NOT_READY),
        (None, NODE_NOT_READY),
    ];
    for (condition, expected) in cases {
        assert_eq!(
            node_status(&node("n", json!({}), condition, &[])),
            expected,
            "{condition:?}"
        );
    }
    let bare: Node = serde_json::from_value(json!({"metadata": {"name": "bare"}})).expect("node");
    assert_eq!(node_status(&bare), NODE_NOT_READY);
}

#[test]
fn desired_cluster_nodes_take_pod_cidrs_from_the_chosen_source() {
    let nodes = [
        node("n2", json!({}), Some("False"), &["10.1.2.0/24"]),
        node("n1", json!({}), Some("True"), &["10.1.1.7/24"]),
        node("kosmos-b", json!({"kosmos.io/node": "true"}), Some("True"), &[]),
        node("n9", json!({"kosmos.io/exclude": "true"}), Some("True"), &[]),
    ];
    assert_eq!(
        desired_cluster_nodes("a", &nodes, &NodePodCidrs::NodeSpec),
        [
            want("a-n1", "n1", &["10.1.1.0/24"], NODE_READY),
            want("a-n2", "n2", &["10.1.2.0/24"], NODE_NOT_READY),
        ]
    );
    let blocks = NodePodCidrs::BlockAffinities(BTreeMap::from([(
        "n1".to_owned(),
        vec!["10.244.1.0/26".to_owned(), "10.244.1.64/26".to_owned()],
    )]));
    assert_eq!(
        desired_cluster_nodes("a", &nodes, &blocks),
        [
            want("a-n1", "n1", &["10.244.1.0/26", "10.244.1.64/26"], NODE_READY),
            want("a-n2", "n2", &[], NODE_NOT_READY),
        ]
    );
    assert_eq!(desired_cluster_nodes("a", &[], &NodePodCidrs::NodeSpec), []);
}

#[test]
fn plan_writes_only_what_differs_and_finds_orphans() {
    let settled = want("a-n1", "n1", &["10.1.1.0/24"], NODE_READY);
    let cases: Vec<(&str, Vec<DesiredClusterNode>, Vec<ClusterNode>, NodePlan)> = vec![
        (
            "settled",
            vec![settled.clone()],
            vec![live("a-n1", "a", "n1", &["10.1.1.0/24"], Some("Ready"))],
            NodePlan::default(),
        ),
        (
            "new node: spec and status",
            vec![settled.clone()],
            vec![],
            NodePlan {
                apply: vec![settled.clone()],
                status: vec![settled.clone()],
                orphans: vec![],
            },
        ),
        (
            "pod CIDRs changed: spec only",
            vec![settled.clone()],
            vec![live("a-n1", "a", "n1", &["10.1.9.0/24"], Some("Ready"))],
            NodePlan {
                apply: vec![settled.clone()],
                ..NodePlan::default()
            },
        ),
        (
            "became NotReady: status only",
            vec![want("a-n1", "n1", &["10.1.1.0/24"], NODE_NOT_READY)],
            vec![live("a-n1", "a", "n1", &["10.1.1.0/24"], Some("Ready"))],
            NodePlan {
                status: vec![want("a-n1", "n1", &["10.1.1.0/24"], NODE_NOT_READY)],
                ..NodePlan::default()
            },
        ),
        (
            "no status recorded yet",
            vec![settled.clone()],
            vec![live("a-n1", "a", "n1", &["10.1.1.0/24"], None)],
            NodePlan {
                status: vec![settled.clone()],
                ..NodePlan::default()
            },
        ),
        (
            "label or names wrong: spec",
            vec![settled.clone()],
            vec![live("a-n1", "a", "other", &["10.1.1.0/24"], Some("Ready"))],
            NodePlan {
                apply: vec![settled.clone()],
                ..NodePlan::default()
            },
        ),
        (
            "node gone or now virtual: orphans",
            vec![settled.clone()],
            vec![
                live("a-n1", "a", "n1", &["10.1.1.0/24"], Some("Ready")),
                live("a-gone", "a", "gone", &[], Some("Ready")),
                live("a-kosmos-b", "a", "kosmos-b", &[], None),
            ],
            NodePlan {
                orphans: vec!["a-gone".to_owned(), "a-kosmos-b".to_owned()],
                ..NodePlan::default()
            },
        ),
        (
            "no nodes at all",
            vec![],
            vec![live("a-n1", "a", "n1", &[], None)],
            NodePlan {
                orphans: vec!["a-n1".to_owned()],
                ..NodePlan::default()
            },
        ),
    ];
    for (name, desired, existing, expected) in cases {
        assert_eq!(plan_cluster_nodes("a", &desired, &existing), expected, "{name}");
    }
    let mut unlabelled = live("a-n1", "a", "n1", &["10.1.1.0/24"], Some("Ready"));
    unlabelled.metadata.labels = None;
    assert_eq!(
        plan_cluster_nodes("a", std::slice::from_ref(&settled), &[unlabelled]).apply,
        [settled],
        "a missing label is restored"
    );
}

#[test]
fn apply_bodies_name_only_discoverys_fields() {
    let body = apply_body("a", &want("a-n1", "n1", &["10.1.1.0/24"], NODE_READY));
    assert_eq!(
        body,
        json!({
            "apiVersion": "kosmos.io/v1alpha1", "kind": "ClusterNode",
            "metadata": {"name": "a-n1", "labels": {"kosmos.io/cluster": "a"}},
            "spec": {"clusterName": "a", "nodeName": "n1", "podCIDRs": ["10.1.1.0/24"]},
        })
    );
    let body = apply_body("a", &want("a-n2", "n2", &[], NODE_READY));
    assert_eq!(
        body["spec"],
        json!({"clusterName": "a", "nodeName": "n2"}),
        "no podCIDRs key when none"
    );
    assert_eq!(
        status_body(&want("a-n2", "n2", &[], NODE_NOT_READY)),
        json!({"apiVersion": "kosmos.io/v1alpha1", "kind": "ClusterNode", "metadata": {"name": "a-n2"}, "status": {"nodeStatus": "NotReady"}})
    );
}

#[tokio::test]
async fn sync_applies_owned_fields_keeps_the_agents_and_settles() {
    let (host, store) = fake_api();
    {
        let mut store = store.lock().expect("store");
        // The agent already wrote its fields on a-n1; a-gone's Node left; b-n1 is another cluster's.
        let mut agent_written = serde_json::to_value(live("a-n1", "a", "n1", &[], None)).expect("json");
        agent_written["metadata"]["resourceVersion"] = json!("1");
        store.put(&format!("{KOSMOS}/clusternodes/a-n1"), agent_written);
        store.put(
            &format!("{KOSMOS}/clusternodes/a-gone"),
            serde_json::to_value(live("a-gone", "a", "gone", &[], None)).expect("json"),
        );
        store.put(
            &format!("{KOSMOS}/clusternodes/b-n1"),
            serde_json::to_value(live("b-n1", "b", "n1", &[], None)).expect("json"),
        );
    }
    let nodes = [
        ready("n1"),
        node("n2", json!({}), Some("False"), &["10.1.2.0/24"]),
        node("kosmos-b", json!({"kosmos.io/node": "true"}), Some("True"), &[]),
    ];

    let report = sync_nodes(&host, "a", &nodes, &NodePodCidrs::NodeSpec)
        .await
        .expect("sync");
    assert_eq!(
        report,
        NodeSyncReport {
            desired: 2,
            applied: 2,
            statuses: 2,
            deleted: 1
        }
    );
    let writes = store.lock().expect("store").take_writes();
    let summary: Vec<(String, String)> = writes
        .iter()
        .map(|write| (write.method.to_string(), write.path.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("PATCH".to_owned(), format!("{KOSMOS}/clusternodes/a-n1")),
            ("PATCH".to_owned(), format!("{KOSMOS}/clusternodes/a-n2")),
            ("PATCH".to_owned(), format!("{KOSMOS}/clusternodes/a-n1/status")),
            ("PATCH".to_owned(), format!("{KOSMOS}/clusternodes/a-n2/status")),
            ("DELETE".to_owned(), format!("{KOSMOS}/clusternodes/a-gone")),
        ]
    );
    for write in writes.iter().filter(|write| write.method == http::Method::PATCH) {
        assert_eq!(write.content_type, "application/apply-patch+yaml");
        assert!(
            write.query.contains("fieldManager=drmysql-discovery") && write.query.contains("force=true"),
            "server-side apply under discovery's own manager: {}",
            write.query
        );
        for foreign in ["ip", "ip6", "interfaceName", "elasticip", "roles"] {
            assert!(
                write.body["spec"].get(foreign).is_none(),
                "{foreign} is not discovery's: {}",
                write.body
            );
        }
    }
    let stored = store.lock().expect("store").objects[&format!("{KOSMOS}/clusternodes/a-n1")].clone();
    assert_eq!(stored["spec"]["interfaceName"], "eth0", "the agent's fields stay");
    assert_eq!(stored["spec"]["elasticip"], "203.0.113.9");
    assert_eq!(stored["spec"]["podCIDRs"], json!(["10.1.1.0/24"]));
    assert_eq!(stored["status"]["nodeStatus"], "Ready");
    let stored = store.lock().expect("store").objects[&format!("{KOSMOS}/clusternodes/a-n2")].clone();
    assert_eq!(stored["metadata"]["labels"]["kosmos.io/cluster"], "a");
    assert_eq!(stored["status"]["nodeStatus"], "NotReady");
    assert!(
        store
            .lock()
            .expect("store")
            .objects
            .contains_key(&format!("{KOSMOS}/clusternodes/b-n1")),
        "another cluster's ClusterNode is not this cluster's orphan"
    );

    let report = sync_nodes(&host, "a", &nodes, &NodePodCidrs::NodeSpec)
        .await
        .expect("second sync");
    assert_eq!((report.applied, report.statuses, report.deleted), (0, 0, 0));
    assert_eq!(
        store.lock().expect("store").take_writes(),
        [],
        "a settled cluster writes nothing"
    );
}

#[tokio::test]
async fn calico_without_block_affinities_falls_back_to_node_spec() {
    let (member, store) = fake_api();
    store
        .lock()
        .expect("store")
        .absent
        .insert("/apis/crd.projectcalico.org/v1/blockaffinities".to_owned());
    assert_eq!(
        read_node_pod_cidrs(&member, Cni::Calico).await.expect("read"),
        NodePodCidrs::NodeSpec
    );
    assert_eq!(
        read_node_pod_cidrs(&member, Cni::Flannel).await.expect("read"),
        NodePodCidrs::NodeSpec
    );
    store.lock().expect("store").absent.clear();
    store.lock().expect("store").put(
        "/apis/crd.projectcalico.org/v1/blockaffinities/n1-10-244-1-0-26",
        json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity",
               "metadata": {"name": "n1-10-244-1-0-26"}, "spec": {"node": "n1", "cidr": "10.244.1.0/26"}}),
    );
    assert_eq!(
        read_node_pod_cidrs(&member, Cni::Calico).await.expect("read"),
        NodePodCidrs::BlockAffinities(BTreeMap::from([(
            "n1".to_owned(),
            vec!["10.244.1.0/26".to_owned()]
        )]))
    );
}
