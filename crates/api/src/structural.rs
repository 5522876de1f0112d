//! Admission of a custom object the way the API server does it, without one.
//!
//! The API server takes a custom object through three steps before it stores
//! it: it rejects fields the structural schema does not declare (with strict
//! field validation, kubectl's default), applies the schema's defaults, checks
//! the values (types, enums, bounds, patterns) and finally runs the CEL rules.
//! [`admit`] does the same, so that tests can prove an example manifest is
//! accepted or rejected with the message a user would see, and so that the e2e
//! API simulator can refuse what a real API server refuses.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Map, Value};
use std::fmt;

/// One reason an object is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Path of the offending field, e.g. `spec.replicas[0].node`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The openAPIV3Schema of `version` in `crd`, as JSON.
pub fn version_schema(crd: &CustomResourceDefinition, version: &str) -> Option<Value> {
    let schema = crd
        .spec
        .versions
        .iter()
        .find(|candidate| candidate.name == version)?
        .schema
        .as_ref()?
        .open_api_v3_schema
        .as_ref()?;
    serde_json::to_value(schema).ok()
}

/// Admits `object` (and, for an update, its previous version `old`) against
/// `schema`: defaulting, then the strict unknown-field check and value validation,
/// then CEL.
/// Returns the defaulted object, or every violation found.
pub fn admit(schema: &Value, object: &Value, old: Option<&Value>) -> Result<Value, Vec<Violation>> {
    let mut violations = Vec::new();
    let defaulted = kube::core::cel::apply_defaults(schema, object);
    check_node(schema, &defaulted, "", true, &mut violations);
    if !violations.is_empty() {
        return Err(violations);
    }
    let old = old.map(|old| kube::core::cel::apply_defaults(schema, old));
    match kube::core::cel::Validator::new().validate(schema, &defaulted, old.as_ref()) {
        Ok(()) => Ok(defaulted),
        Err(errors) => Err(errors
            .into_vec()
            .into_iter()
            .map(|error| Violation {
                path: error.field_path.clone(),
                message: error.message.clone(),
            })
            .collect()),
    }
}

fn check_node(schema: &Value, value: &Value, path: &str, root: bool, out: &mut Vec<Violation>) {
    let mut fail = |message: String| {
        out.push(Violation {
            path: path.to_owned(),
            message,
        })
    };
    if value.is_null() {
        if !flag(schema, "nullable") && schema.get("type").is_some() {
            fail("must not be null".to_owned());
        }
        return;
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        if !(value.is_i64() || value.is_u64() || value.is_string()) {
            fail(format!("must be an integer or a string, not {}", kind_of(value)));
        }
        check_scalar(schema, value, &mut fail);
        return;
    }
    if let Some(expected) = schema.get("type").and_then(Value::as_str)
        && !has_type(value, expected)
    {
        fail(format!("must be of type {expected}, not {}", kind_of(value)));
        return;
    }
    check_scalar(schema, value, &mut fail);
    for keyword in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = schema.get(keyword).and_then(Value::as_array) {
            let passing = branches
                .iter()
                .filter(|branch| {
                    let mut scratch = Vec::new();
                    check_node(branch, value, path, false, &mut scratch);
                    scratch.is_empty()
                })
                .count();
            let ok = match keyword {
                "allOf" => passing == branches.len(),
                "anyOf" => passing >= 1,
                _ => passing == 1,
            };
            if !ok {
                fail(format!("does not satisfy {keyword} of the schema"));
            }
        }
    }
    match value {
        Value::Object(fields) => check_object(schema, fields, path, root, out),
        Value::Array(items) => check_array(schema, items, path, out),
        _ => {}
    }
}

fn check_object(
    schema: &Value,
    fields: &Map<String, Value>,
    path: &str,
    root: bool,
    out: &mut Vec<Violation>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    let count = fields.len() as u64;
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && count > max
    {
        out.push(violation(
            path,
            format!("must have at most {max} entries, has {count}"),
        ));
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && count < min
    {
        out.push(violation(
            path,
            format!("must have at least {min} entries, has {count}"),
        ));
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                out.push(violation(&join(path, name), "Required value".to_owned()));
            }
        }
    }
    for (name, child) in fields {
        let child_path = join(path, name);
        // The API server validates metadata itself; a CRD schema only lists it.
        if root && matches!(name.as_str(), "metadata" | "apiVersion" | "kind") {
            continue;
        }
        if let Some(child_schema) = properties.and_then(|properties| properties.get(name)) {
            check_node(child_schema, child, &child_path, false, out);
        } else if let Some(value_schema) = additional {
            check_node(value_schema, child, &child_path, false, out);
        } else if !preserve
            && (properties.is_some() || schema.get("type").and_then(Value::as_str) == Some("object"))
        {
            out.push(violation(&child_path, "unknown field".to_owned()));
        }
    }
}

fn check_array(schema: &Value, items: &[Value], path: &str, out: &mut Vec<Violation>) {
    let count = items.len() as u64;
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && count > max
    {
        out.push(violation(
            path,
            format!("Too many: {count}: must have at most {max} items"),
        ));
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && count < min
    {
        out.push(violation(
            path,
            format!("Too few: {count}: must have at least {min} items"),
        ));
    }
    if let Some(item_schema) = schema.get("items") {
        for (index, item) in items.iter().enumerate() {
            check_node(item_schema, item, &format!("{path}[{index}]"), false, out);
        }
    }
}

fn check_scalar(schema: &Value, value: &Value, fail: &mut impl FnMut(String)) {
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let listed: Vec<String> = allowed.iter().map(Value::to_string).collect();
        fail(format!(
            "Unsupported value: {value}: supported values: {}",
            listed.join(", ")
        ));
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && number < min
        {
            fail(format!(
                "Invalid value: {value}: must be greater than or equal to {min}"
            ));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && number > max
        {
            fail(format!(
                "Invalid value: {value}: must be less than or equal to {max}"
            ));
        }
        if schema.get("format").and_then(Value::as_str) == Some("int32")
            && value.as_i64().is_none_or(|n| i32::try_from(n).is_err())
        {
            fail(format!("Invalid value: {value}: must fit in a 32-bit integer"));
        }
    }
    if let Some(text) = value.as_str() {
        let length = text.chars().count() as u64;
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && length > max
        {
            fail(format!("Too long: may not be more than {max} characters"));
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && length < min
        {
            fail(format!(
                "Invalid value: {value}: must be at least {min} characters"
            ));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            match regex::Regex::new(pattern) {
                Ok(regex) if regex.is_match(text) => {}
                Ok(_) => fail(format!("Invalid value: {value}: should match '{pattern}'")),
                Err(error) => fail(format!("schema pattern '{pattern}' does not compile: {error}")),
            }
        }
    }
}

fn has_type(value: &Value, expected: &str) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => false,
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool) == Some(true)
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn violation(path: &str, message: String) -> Violation {
    Violation {
        path: path.to_owned(),
        message,
    }
}
