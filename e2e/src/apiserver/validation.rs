//! Admission of custom objects against their CRD's openAPIV3Schema.
//!
//! The API server prunes (or, with `fieldValidation=Strict`, refuses) fields
//! the schema does not declare, applies defaults, checks values and runs the
//! CEL `x-kubernetes-validations`. `drmysql_api::structural::admit` does the
//! checking and defaulting; this module adds the field-validation modes and
//! answers refusals as the real server does: 422 `Invalid` with one cause per
//! violation and the message `<Kind>.<group> "<name>" is invalid: <field>: ...`.
//! CEL failures are rendered like the real server's
//! (`<field>: Invalid value: "<type>": <rule message>`).
//! Built-in kinds are not validated against any schema (see the README).

use super::error::{ApiError, Cause};
use super::meta;
use super::registry::ResourceType;
use drmysql_api::structural::{Violation, admit};
use serde_json::Value;

/// The `fieldValidation` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    /// Unknown fields are pruned silently.
    Ignore,
    /// Unknown fields are pruned with a warning (the server's default).
    Warn,
    /// Unknown fields refuse the request (kubectl's default).
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter; absent means `Warn`.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// Admits `object` (an update of `old` when given): prunes unknown fields,
/// applies defaults in place and returns the warnings to send back.
pub(crate) fn admit_custom(
    rt: &ResourceType,
    object: &mut Value,
    old: Option<&Value>,
    mode: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let Some(schema) = rt.schema() else {
        return Ok(Vec::new());
    };
    let mut unknown = Vec::new();
    prune(schema, object, "", true, &mut unknown);
    let warnings: Vec<String> = unknown
        .iter()
        .map(|path| format!("unknown field \"{path}\""))
        .collect();
    if mode == FieldValidation::Strict && !warnings.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
            rt.kind,
            rt.api_version(),
            rt.kind,
            warnings.join(", ")
        )));
    }
    match admit(schema, object, old) {
        Ok(defaulted) => {
            *object = defaulted;
            Ok(if mode == FieldValidation::Warn {
                warnings
            } else {
                Vec::new()
            })
        }
        Err(violations) => {
            let cel = cel_failures(schema, object, old);
            let causes = violations
                .iter()
                .map(|violation| {
                    match cel
                        .iter()
                        .find(|c| c.0 == violation.path && c.1 == violation.message)
                    {
                        Some((_, _, reason)) => cel_cause(schema, violation, reason.as_deref()),
                        None => structural_cause(violation),
                    }
                })
                .collect();
            Err(ApiError::invalid(rt, meta::name(object), causes))
        }
    }
}

/// The CEL failures of `object`, as (field path, message, reason).
fn cel_failures(
    schema: &Value,
    object: &Value,
    old: Option<&Value>,
) -> Vec<(String, String, Option<String>)> {
    let defaulted = kube::core::cel::apply_defaults(schema, object);
    let old = old.map(|old| kube::core::cel::apply_defaults(schema, old));
    match kube::core::cel::Validator::new().validate(schema, &defaulted, old.as_ref()) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_vec()
            .into_iter()
            .map(|error| {
                (
                    error.field_path.clone(),
                    error.message.clone(),
                    error.reason.clone(),
                )
            })
            .collect(),
    }
}

fn cel_cause(schema: &Value, violation: &Violation, reason: Option<&str>) -> Cause {
    let (reason, message) = match reason {
        Some("FieldValueForbidden") => ("FieldValueForbidden", format!("Forbidden: {}", violation.message)),
        Some("FieldValueRequired") => (
            "FieldValueRequired",
            format!("Required value: {}", violation.message),
        ),
        Some("FieldValueDuplicate") => (
            "FieldValueDuplicate",
            format!("Duplicate value: {}", violation.message),
        ),
        _ => (
            "FieldValueInvalid",
            format!(
                "Invalid value: \"{}\": {}",
                schema_type_at(schema, &violation.path),
                violation.message
            ),
        ),
    };
    Cause {
        reason: reason.to_owned(),
        message,
        field: violation.path.clone(),
    }
}

fn structural_cause(violation: &Violation) -> Cause {
    let message = &violation.message;
    let reason = if message.starts_with("Required value") {
        "FieldValueRequired"
    } else if message.starts_with("Unsupported value") {
        "FieldValueNotSupported"
    } else if message.starts_with("Too many") {
        "FieldValueTooMany"
    } else if message.starts_with("Too long") {
        "FieldValueTooLong"
    } else {
        "FieldValueInvalid"
    };
    let known_prefix = [
        "Required value",
        "Unsupported value",
        "Too many",
        "Too few",
        "Too long",
        "Invalid value",
    ]
    .iter()
    .any(|prefix| message.starts_with(prefix));
    Cause {
        reason: reason.to_owned(),
        message: if known_prefix {
            message.clone()
        } else {
            format!("Invalid value: {message}")
        },
        field: violation.path.clone(),
    }
}

/// The schema `type` at a field path like `spec.replicas[0].node`.
fn schema_type_at(schema: &Value, path: &str) -> String {
    let mut node = schema;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (name, indexes) = match segment.find('[') {
            Some(at) => (&segment[..at], segment[at..].matches('[').count()),
            None => (segment, 0),
        };
        let next = node
            .get("properties")
            .and_then(|p| p.get(name))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()));
        let Some(mut next) = next else {
            return "object".to_owned();
        };
        for _ in 0..indexes {
            match next.get("items") {
                Some(items) => next = items,
                None => return "object".to_owned(),
            }
        }
        node = next;
    }
    if node.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        return "string".to_owned();
    }
    node.get("type")
        .and_then(Value::as_str)
        .unwrap_or("object")
        .to_owned()
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool) == Some(true)
}

/// Removes the fields `schema` does not declare, recording their paths.
fn prune(schema: &Value, value: &mut Value, path: &str, root: bool, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
            let embedded = root || flag(schema, "x-kubernetes-embedded-resource");
            let closed = !preserve
                && (properties.is_some() || schema.get("type").and_then(Value::as_str) == Some("object"));
            let mut unknown = Vec::new();
            for (key, child) in map.iter_mut() {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if embedded && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(child_schema) = properties.and_then(|p| p.get(key)) {
                    prune(child_schema, child, &child_path, false, out);
                } else if let Some(value_schema) = additional {
                    prune(value_schema, child, &child_path, false, out);
                } else if closed {
                    unknown.push((key.clone(), child_path));
                }
            }
            for (key, child_path) in unknown {
                map.remove(&key);
                out.push(child_path);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter_mut().enumerate() {
                    prune(item_schema, item, &format!("{path}[{index}]"), false, out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::registry::custom_types;
    use serde_json::json;

    fn widget() -> ResourceType {
        let crd = json!({
            "metadata": {"name": "widgets.example.io"},
            "spec": {"group": "example.io", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {
                        "type": "object",
                        "properties": {
                            "size": {"type": "integer", "default": 1, "maximum": 10},
                            "mode": {"type": "string"}
                        },
                        "x-kubernetes-validations": [
                            {"rule": "self.size != 3", "message": "spec.size must not be 3", "fieldPath": ".size"}
                        ]
                    }}
                }}}]}
        });
        custom_types(&crd).expect("valid CRD").remove(0)
    }

    fn object(spec: Value) -> Value {
        json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec})
    }

    #[test]
    fn defaults_are_applied_and_unknown_fields_pruned_with_a_warning() {
        let rt = widget();
        let mut value = object(json!({"mode": "a", "extra": true}));
        let warnings = admit_custom(&rt, &mut value, None, FieldValidation::Warn).expect("admitted");
        assert_eq!(warnings, vec!["unknown field \"spec.extra\"".to_owned()]);
        assert_eq!(value["spec"], json!({"mode": "a", "size": 1}));
    }

    #[test]
    fn strict_field_validation_refuses_unknown_fields() {
        let rt = widget();
        let mut value = object(json!({"extra": true}));
        let error = admit_custom(&rt, &mut value, None, FieldValidation::Strict).expect_err("strict");
        assert_eq!(error.code, 400);
        assert!(
            error
                .message
                .contains("strict decoding error: unknown field \"spec.extra\""),
            "{}",
            error.message
        );
    }

    #[test]
    fn schema_violations_are_422_with_causes() {
        let rt = widget();
        let mut value = object(json!({"size": 11}));
        let error = admit_custom(&rt, &mut value, None, FieldValidation::Warn).expect_err("too big");
        assert_eq!(error.code, 422);
        assert_eq!(
            error.message,
            "Widget.example.io \"w\" is invalid: spec.size: Invalid value: 11: must be less than or equal to 10"
        );
        assert_eq!(
            error.status()["details"]["causes"][0]["reason"],
            "FieldValueInvalid"
        );
    }

    #[test]
    fn cel_failures_are_rendered_like_the_real_server() {
        let rt = widget();
        let mut value = object(json!({"size": 3}));
        let error = admit_custom(&rt, &mut value, None, FieldValidation::Warn).expect_err("CEL");
        assert_eq!(
            error.message,
            "Widget.example.io \"w\" is invalid: spec.size: Invalid value: \"integer\": spec.size must not be 3"
        );
    }

    #[test]
    fn schema_types_are_found_through_lists() {
        let schema = json!({"properties": {"spec": {"properties": {"replicas": {"type": "array",
            "items": {"type": "object", "properties": {"node": {"type": "string"}}}}}}}});
        assert_eq!(schema_type_at(&schema, "spec.replicas[0].node"), "string");
        assert_eq!(schema_type_at(&schema, "spec.replicas"), "array");
        assert_eq!(schema_type_at(&schema, "spec"), "object");
    }
}
