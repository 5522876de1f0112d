//! `values.schema.json` covers every value and refuses bad ones, naming the
//! field; contradictory values fail the render with the field named; and
//! `Chart.yaml`'s appVersion is the workspace version.

use drmysql_chart_tests::render::{parse_documents, template_run};
use drmysql_chart_tests::{chart_dir, repo_root};
use serde_json::Value;

fn refused(sets: &[&str], expected: &str) {
    let run = template_run(None, sets);
    assert!(!run.success, "helm accepted {sets:?}:\n{}", run.stdout);
    assert!(
        run.stderr.contains(expected),
        "helm refused {sets:?} without naming {expected}:\n{}",
        run.stderr
    );
}

#[test]
fn the_schema_refuses_bad_values_naming_the_field() {
    refused(&["controller.replicas=0"], "/controller/replicas");
    refused(&["logFormat=xml"], "/logFormat");
    refused(&["clusterlink.role=satellite"], "/clusterlink/role");
    refused(&["controller.replicaz=2"], "replicaz");
    refused(
        &["prometheusRule.alerts.replicationLagHigh.for=two minutes"],
        "/prometheusRule/alerts/replicationLagHigh/for",
    );
    refused(&["controller.metricsPort=70000"], "/controller/metricsPort");
}

#[test]
fn contradictory_values_fail_naming_the_field() {
    refused(
        &["controller.leaderElection.enabled=false", "controller.replicas=2"],
        "controller.replicas must be 1",
    );
    refused(
        &["clusterlink.enabled=true"],
        "clusterlink.clusterName is required",
    );
    refused(
        &[
            "clusterlink.enabled=true",
            "clusterlink.clusterName=m",
            "clusterlink.role=member",
        ],
        "clusterlink.hostKubeconfig.secretName is required",
    );
}

fn schema_has(schema: &Value, path: &[&str]) -> bool {
    let mut node = schema;
    for key in path {
        match node["properties"].get(*key) {
            Some(child) => node = child,
            // A free-form map (labels, resources): its keys are the user's.
            None => return node["type"] == "object" && node.get("properties").is_none(),
        }
    }
    true
}

fn walk(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(fields) = value {
        for (key, child) in fields {
            path.push(key.clone());
            out.push(path.clone());
            walk(child, path, out);
            path.pop();
        }
    }
}

#[test]
fn the_schema_covers_every_value() {
    let text = std::fs::read_to_string(chart_dir().join("values.yaml")).expect("values.yaml");
    let values = parse_documents(&text).pop().expect("one document");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(chart_dir().join("values.schema.json")).expect("values.schema.json"),
    )
    .expect("values.schema.json is JSON");
    let mut paths = Vec::new();
    walk(&values, &mut Vec::new(), &mut paths);
    assert!(paths.len() > 50, "values.yaml has only {} keys", paths.len());
    let missing: Vec<String> = paths
        .iter()
        .filter(|path| !schema_has(&schema, &path.iter().map(String::as_str).collect::<Vec<_>>()))
        .map(|path| path.join("."))
        .collect();
    assert!(missing.is_empty(), "values.schema.json lacks {missing:?}");
}

#[test]
fn app_version_is_the_workspace_version() {
    let cargo = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    let mut in_package = false;
    let mut version = None;
    for line in cargo.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if in_package && let Some(rest) = line.strip_prefix("version") {
            version = Some(
                rest.trim_start()
                    .trim_start_matches('=')
                    .trim()
                    .trim_matches('"')
                    .to_owned(),
            );
        }
    }
    let version = version.expect("[workspace.package] version in Cargo.toml");
    let chart =
        parse_documents(&std::fs::read_to_string(chart_dir().join("Chart.yaml")).expect("Chart.yaml"))
            .pop()
            .expect("Chart.yaml");
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(version.as_str()),
        "Chart.yaml appVersion must be the workspace version {version}"
    );
}
