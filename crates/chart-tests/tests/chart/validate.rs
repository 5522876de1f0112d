//! Every rendered object is valid: built-in kinds for Kubernetes
//! `KUBERNETES_VERSION` by `kubernetes-validate --strict`, custom kinds against
//! the generated CRDs or the monitoring schemas. And both checks do refuse
//! invalid objects.

use std::collections::BTreeSet;

use drmysql_chart_tests::objects::{CustomSchemas, validate_all, validate_built_in};
use drmysql_chart_tests::render::{describe, label, parse_documents};
use serde_json::json;

#[test]
fn every_rendered_object_is_valid() {
    let schemas = CustomSchemas::load();
    for (values, objects) in crate::rendered() {
        assert!(
            !objects.is_empty(),
            "{} renders nothing",
            label(values.as_deref())
        );
        let mut seen = BTreeSet::new();
        for object in objects {
            let key = (
                object["kind"].to_string(),
                object["metadata"]["namespace"].to_string(),
                object["metadata"]["name"].to_string(),
            );
            assert!(seen.insert(key), "{} rendered twice", describe(object));
        }
        if let Err(problems) = validate_all(objects, &schemas) {
            panic!("with {}:\n{problems}", label(values.as_deref()));
        }
    }
}

#[test]
fn the_custom_object_check_accepts_the_examples_and_refuses_bad_objects() {
    let schemas = CustomSchemas::load();
    let examples = drmysql_chart_tests::repo_root().join("examples").join("mysql");
    let mut accepted = 0;
    for entry in std::fs::read_dir(&examples).expect("examples/mysql") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            let text = std::fs::read_to_string(&path).expect("an example");
            for object in parse_documents(&text)
                .iter()
                .filter(|object| object["apiVersion"] == "drmysql.io/v1alpha1")
            {
                schemas
                    .check(object)
                    .unwrap_or_else(|problem| panic!("{}: {problem}", path.display()));
                accepted += 1;
            }
        }
    }
    assert!(accepted > 0, "no DRMySQL in examples/mysql");

    let typo = json!({"apiVersion": "drmysql.io/v1alpha1", "kind": "DRMySQL", "metadata": {"name": "x"},
        "spec": {"engine": {"image": "mariadb:11.4"}, "primary": {"node": "a"}, "replicas": [{"node": "b"}], "replikas": 2}});
    let refused = schemas
        .check(&typo)
        .expect_err("an unknown DRMySQL field is refused");
    assert!(refused.contains("spec.replikas"), "{refused}");

    let monitor = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": {"name": "x"},
        "spec": {"selector": {}, "podMetricsEndpoints": [{"port": "sidecar", "interval": "half a minute"}]}});
    let refused = schemas.check(&monitor).expect_err("a bad interval is refused");
    assert!(refused.contains("interval"), "{refused}");

    let unknown = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}});
    assert!(
        schemas.check(&unknown).is_err(),
        "a kind without a schema is refused"
    );
}

#[test]
fn the_built_in_check_refuses_unknown_fields() {
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i", "readinessProbe": {"httpGet": {"port": 1}}, "sidecarImage": "i"}]}}}});
    let refused = validate_built_in(&[&deployment]).expect_err("an unknown container field is refused");
    assert!(refused.contains("sidecarImage"), "{refused}");
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
        "spec": {"ports": [{"port": 8080}]}});
    validate_built_in(&[&service]).expect("a plain Service is valid");
}
