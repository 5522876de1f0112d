//! The generated CRDs must be what the API server accepts and what users can
//! read: structural schemas, a status subresource where drmysql writes status,
//! a description on every DRMySQL field (it is what `kubectl explain` shows),
//! and CEL rules that compile, use only the variables a CRD rule may use, and
//! stay within the API server's cost budget.

use drmysql_api::structural::version_schema;
use kube::CustomResourceExt;
use kube::core::cel::{ScopeContext, WarningKind, analyze_rule, compile_schema};
use serde_json::Value;

fn schemas() -> Vec<(String, Value)> {
    drmysql_api::crds()
        .iter()
        .map(|crd| {
            let schema = version_schema(crd, "v1alpha1").expect("v1alpha1 schema");
            (crd.metadata.name.clone().expect("CRD name"), schema)
        })
        .collect()
}

/// Calls `visit(path, node)` for every schema node under `node`.
fn walk(path: &str, node: &Value, visit: &mut impl FnMut(&str, &Value)) {
    visit(path, node);
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            walk(&format!("{path}.{name}"), child, visit);
        }
    }
    if let Some(items) = node.get("items") {
        walk(&format!("{path}[]"), items, visit);
    }
    if let Some(values) = node.get("additionalProperties").filter(|value| value.is_object()) {
        walk(&format!("{path}{{}}"), values, visit);
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        for branch in node.get(keyword).and_then(Value::as_array).into_iter().flatten() {
            walk(&format!("{path}/{keyword}"), branch, visit);
        }
    }
}

#[test]
fn schemas_are_structural() {
    for (name, schema) in schemas() {
        walk("", &schema, &mut |path, node| {
            let in_junctor = path.contains("/allOf") || path.contains("/anyOf") || path.contains("/oneOf");
            let typed = node.get("type").is_some()
                || node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
                || node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            assert!(in_junctor || typed, "{name}: {path} has no type");
            assert!(node.get("$ref").is_none(), "{name}: {path} uses $ref");
            if in_junctor {
                // `type` is allowed there only for int-or-string's two branches.
                for forbidden in ["description", "default", "additionalProperties", "nullable"] {
                    assert!(
                        node.get(forbidden).is_none(),
                        "{name}: {path} sets {forbidden} inside a junctor"
                    );
                }
            }
        });
    }
}

#[test]
fn status_subresources_are_where_status_is_written() {
    for crd in drmysql_api::crds() {
        let name = crd.metadata.name.clone().expect("CRD name");
        let has_status = crd.spec.versions[0]
            .subresources
            .as_ref()
            .is_some_and(|subresources| subresources.status.is_some());
        // Kosmos's member controller updates Cluster.status with a plain update,
        // which a status subresource would discard.
        let expected = name != "clusters.kosmos.io";
        assert_eq!(has_status, expected, "{name}: status subresource");
    }
}

#[test]
fn every_drmysql_field_is_documented() {
    let crd = drmysql_api::drmysql::DRMySQL::crd();
    let schema = version_schema(&crd, "v1alpha1").expect("DRMySQL schema");
    let mut undocumented = Vec::new();
    for section in ["spec", "status"] {
        walk(section, &schema["properties"][section], &mut |path, node| {
            let documented = node
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|text| !text.trim().is_empty());
            // List items and map values are described by their field.
            let element = path.ends_with("[]") || path.ends_with("{}");
            if !documented && !element && !path.contains('/') {
                undocumented.push(path.to_owned());
            }
        });
    }
    assert!(
        undocumented.is_empty(),
        "fields without a description: {undocumented:#?}"
    );
}

#[test]
fn cel_rules_compile_are_in_scope_and_within_budget() {
    let mut count = 0;
    for (name, schema) in schemas() {
        walk("", &schema, &mut |path, node| {
            let Some(rules) = node.get("x-kubernetes-validations").and_then(Value::as_array) else {
                return;
            };
            let compiled = compile_schema(node);
            assert!(
                !compiled.has_errors(),
                "{name}: {path}: a rule does not compile: {:?}",
                compiled.compilation_errors()
            );
            for rule in rules {
                let text = rule["rule"].as_str().expect("rule text");
                let message = rule["message"].as_str().unwrap_or_default();
                assert!(
                    !message.is_empty(),
                    "{name}: {path}: rule {text:?} has no message"
                );
                let bound = comprehension_variables(text);
                let warnings: Vec<_> = analyze_rule(text, &compiled, ScopeContext::CrdValidation)
                    .into_iter()
                    .filter(|warning| {
                        !(warning.kind == WarningKind::WrongScope
                            && bound
                                .iter()
                                .any(|var| warning.message.contains(&format!("variable '{var}'"))))
                    })
                    .collect();
                assert!(
                    warnings.is_empty(),
                    "{name}: {path}: rule {text:?}: {warnings:#?}"
                );
                count += 1;
            }
        });
    }
    assert!(count >= 15, "expected at least 15 CEL rules, found {count}");
}

/// Variables bound by CEL comprehension macros (`list.all(x, ...)` and kin). kube-cel's
/// scope check does not know them and reports them as out of scope.
fn comprehension_variables(rule: &str) -> Vec<String> {
    let pattern =
        regex::Regex::new(r"\.(?:all|exists|exists_one|filter|map)\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")
            .expect("pattern compiles");
    pattern
        .captures_iter(rule)
        .map(|captures| captures[1].to_owned())
        .collect()
}

#[test]
fn comprehension_variables_are_found() {
    assert_eq!(
        comprehension_variables(
            "self.a.all(r, self.b.filter(o, o == r).size() == 1) && [1].exists(p, p > 0)"
        ),
        ["r", "o", "p"]
    );
}
