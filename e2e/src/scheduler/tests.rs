//! Placement rules, and the controller's own Pods placed on a host node and a
//! Kosmos virtual node.

use std::collections::BTreeMap;

use drmysql_controller::build::{BuildContext, build};
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeCondition, NodeSelector, NodeSpec, NodeStatus, PodSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

fn node(name: &str, labels: &[(&str, &str)], taints: Vec<Taint>, ready: bool) -> Node {
    let mut all_labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    all_labels.insert("kubernetes.io/hostname".to_owned(), name.to_owned());
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(all_labels),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            taints: Some(taints),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            conditions: Some(vec![NodeCondition {
                type_: "Ready".to_owned(),
                status: if ready { "True" } else { "False" }.to_owned(),
                ..NodeCondition::default()
            }]),
            ..NodeStatus::default()
        }),
    }
}

fn kosmos_taint() -> Taint {
    Taint {
        key: "kosmos.io/node".to_owned(),
        value: Some("true".to_owned()),
        effect: "NoSchedule".to_owned(),
        ..Taint::default()
    }
}

fn host_node() -> Node {
    node("host-1", &[], vec![], true)
}

fn virtual_node() -> Node {
    node(
        "kosmos-member-a",
        &[("kosmos.io/node", "true")],
        vec![kosmos_taint()],
        true,
    )
}

fn controller_pods() -> Vec<Pod> {
    let drmysql: drmysql_api::drmysql::DRMySQL = serde_json::from_value(serde_json::json!({
        "apiVersion": "drmysql.io/v1alpha1", "kind": "DRMySQL",
        "metadata": {"name": "orders", "namespace": "default"},
        "spec": {"engine": {"image": "mariadb:11.4"}, "primary": {"node": "host-1"},
                 "replicas": [{"node": "kosmos-member-a"}]}
    }))
    .expect("DRMySQL");
    let context = BuildContext {
        sidecar_image: "drmysql".into(),
        current_primary: "orders-0".into(),
        roles: Default::default(),
    };
    build(&drmysql, &context).pods
}

#[test]
fn the_controllers_pods_land_exactly_where_they_are_pinned() {
    let nodes = [host_node(), virtual_node()];
    let pods = controller_pods();
    let placed: Vec<&str> = pods
        .iter()
        .map(|pod| {
            choose(pod, &nodes)
                .expect("fits")
                .metadata
                .name
                .as_deref()
                .expect("name")
        })
        .collect();
    assert_eq!(placed, ["host-1", "kosmos-member-a"]);
    assert!(
        fits(&pods[0], &virtual_node()).is_err(),
        "the primary is pinned to host-1 and never lands on the virtual node"
    );
}

#[test]
fn a_virtual_node_needs_the_kosmos_toleration() {
    let mut pod = controller_pods().remove(1);
    pod.spec.as_mut().expect("spec").tolerations = None;
    let reason = fits(&pod, &virtual_node()).expect_err("taint not tolerated");
    assert!(reason.contains("kosmos.io/node=true:NoSchedule"), "{reason}");
}

#[test]
fn a_pod_that_fits_nowhere_gets_every_reason() {
    let mut pod = controller_pods().remove(1);
    pod.spec.as_mut().expect("spec").tolerations = None;
    let reasons = choose(&pod, &[host_node(), virtual_node()]).expect_err("nowhere");
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("required node affinity"), "{reasons:?}");
    assert!(choose(&pod, &[]).expect_err("no nodes")[0].contains("no nodes"));
}

#[test]
fn not_ready_and_unschedulable_nodes_take_nothing() {
    let pod = Pod::default();
    assert!(
        fits(&pod, &node("n", &[], vec![], false))
            .expect_err("not ready")
            .contains("not Ready")
    );
    let mut cordoned = host_node();
    cordoned.spec.as_mut().expect("spec").unschedulable = Some(true);
    assert!(
        fits(&pod, &cordoned)
            .expect_err("cordoned")
            .contains("unschedulable")
    );
    assert!(
        fits(&pod, &host_node()).is_ok(),
        "no constraints fit any Ready node"
    );
}

fn pod_with_terms(terms: Vec<NodeSelectorTerm>) -> Pod {
    Pod {
        spec: Some(PodSpec {
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: terms,
                    }),
                    ..NodeAffinity::default()
                }),
                ..Affinity::default()
            }),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

fn requirement(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.to_owned(),
        operator: operator.to_owned(),
        values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
    }
}

#[test]
fn affinity_operators_terms_and_fields() {
    let zoned = node("n1", &[("zone", "a"), ("cores", "8")], vec![], true);
    let cases: [(Vec<NodeSelectorRequirement>, bool); 9] = [
        (vec![requirement("zone", "In", &["a", "b"])], true),
        (vec![requirement("zone", "NotIn", &["a"])], false),
        (vec![requirement("rack", "NotIn", &["x"])], true),
        (vec![requirement("zone", "Exists", &[])], true),
        (vec![requirement("zone", "DoesNotExist", &[])], false),
        (vec![requirement("cores", "Gt", &["4"])], true),
        (vec![requirement("cores", "Lt", &["4"])], false),
        (
            vec![
                requirement("zone", "In", &["a"]),
                requirement("cores", "Gt", &["16"]),
            ],
            false,
        ),
        (vec![requirement("zone", "Bogus", &["a"])], false),
    ];
    for (expressions, expected) in cases {
        let pod = pod_with_terms(vec![NodeSelectorTerm {
            match_expressions: Some(expressions.clone()),
            match_fields: None,
        }]);
        assert_eq!(fits(&pod, &zoned).is_ok(), expected, "{expressions:?}");
    }
    let by_name = pod_with_terms(vec![NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![requirement("metadata.name", "In", &["n1"])]),
    }]);
    assert!(fits(&by_name, &zoned).is_ok());
    let empty_term = pod_with_terms(vec![NodeSelectorTerm::default()]);
    assert!(
        fits(&empty_term, &zoned).is_err(),
        "an empty term matches nothing"
    );
    let either = pod_with_terms(vec![
        NodeSelectorTerm {
            match_expressions: Some(vec![requirement("zone", "In", &["z"])]),
            match_fields: None,
        },
        NodeSelectorTerm {
            match_expressions: Some(vec![requirement("zone", "In", &["a"])]),
            match_fields: None,
        },
    ]);
    assert!(fits(&either, &zoned).is_ok(), "terms are ORed");
}

#[test]
fn toleration_rules() {
    let taint = kosmos_taint();
    let toleration =
        |key: Option<&str>, operator: Option<&str>, value: Option<&str>, effect: Option<&str>| Toleration {
            key: key.map(str::to_owned),
            operator: operator.map(str::to_owned),
            value: value.map(str::to_owned),
            effect: effect.map(str::to_owned),
            toleration_seconds: None,
        };
    assert!(tolerates(
        &toleration(
            Some("kosmos.io/node"),
            Some("Equal"),
            Some("true"),
            Some("NoSchedule")
        ),
        &taint
    ));
    assert!(tolerates(
        &toleration(Some("kosmos.io/node"), None, Some("true"), None),
        &taint
    ));
    assert!(tolerates(
        &toleration(Some("kosmos.io/node"), Some("Exists"), None, None),
        &taint
    ));
    assert!(
        tolerates(&toleration(None, Some("Exists"), None, None), &taint),
        "empty key with Exists tolerates all"
    );
    assert!(!tolerates(
        &toleration(Some("kosmos.io/node"), Some("Equal"), Some("false"), None),
        &taint
    ));
    assert!(!tolerates(
        &toleration(Some("kosmos.io/node"), Some("Exists"), None, Some("NoExecute")),
        &taint
    ));
    assert!(!tolerates(
        &toleration(Some("other"), Some("Exists"), None, None),
        &taint
    ));
    let prefer = Taint {
        effect: "PreferNoSchedule".to_owned(),
        ..kosmos_taint()
    };
    assert!(
        fits(&Pod::default(), &node("n", &[], vec![prefer], true)).is_ok(),
        "PreferNoSchedule never blocks"
    );
}
