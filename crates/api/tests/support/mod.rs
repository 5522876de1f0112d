//! Helpers shared by the API crate's integration tests.

#![allow(dead_code)]

use drmysql_api::structural::{Violation, admit, version_schema};
use kube::CustomResourceExt;
use serde_json::{Value, json};

/// The DRMySQL CRD's schema, as the API server would hold it.
pub fn drmysql_schema() -> Value {
    version_schema(&drmysql_api::drmysql::DRMySQL::crd(), "v1alpha1").expect("DRMySQL schema")
}

/// A minimal valid DRMySQL, for tests to modify.
pub fn minimal() -> Value {
    json!({
        "apiVersion": "drmysql.io/v1alpha1",
        "kind": "DRMySQL",
        "metadata": {"name": "orders", "namespace": "default"},
        "spec": {
            "engine": {"image": "mariadb:11.4"},
            "primary": {"node": "host-node-1"},
            "replicas": [{"node": "kosmos-member-tencent"}]
        }
    })
}

/// `minimal()` with `patch` merged in (RFC 7386 merge patch semantics).
pub fn with(patch: Value) -> Value {
    let mut object = minimal();
    merge(&mut object, patch);
    object
}

/// RFC 7386 JSON merge patch.
pub fn merge(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            let target = target.as_object_mut().expect("object");
            for (key, value) in fields {
                if value.is_null() {
                    target.remove(&key);
                } else {
                    merge(target.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other,
    }
}

/// Admits a DRMySQL create.
pub fn create(object: &Value) -> Result<Value, Vec<Violation>> {
    admit(&drmysql_schema(), object, None)
}

/// Admits a DRMySQL update from `old` to `new`.
pub fn update(old: &Value, new: &Value) -> Result<Value, Vec<Violation>> {
    admit(&drmysql_schema(), new, Some(old))
}

/// Asserts that `result` was refused with a violation whose text contains `expected`.
pub fn assert_refused(result: Result<Value, Vec<Violation>>, expected: &str) {
    match result {
        Ok(_) => panic!("accepted, but expected a refusal containing {expected:?}"),
        Err(violations) => {
            let texts: Vec<String> = violations.iter().map(ToString::to_string).collect();
            assert!(
                texts.iter().any(|text| text.contains(expected)),
                "expected a violation containing {expected:?}, got {texts:#?}"
            );
        }
    }
}

/// Asserts that `result` was admitted, showing the violations otherwise.
pub fn assert_admitted(result: Result<Value, Vec<Violation>>) -> Value {
    match result {
        Ok(value) => value,
        Err(violations) => {
            let texts: Vec<String> = violations.iter().map(ToString::to_string).collect();
            panic!("refused: {texts:#?}")
        }
    }
}
