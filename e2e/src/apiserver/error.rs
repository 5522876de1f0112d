//! Failures, in the shape the real API server gives them.
//!
//! Clients branch on a failure's `code` and `reason` (kube's finalizer helper
//! and kube-lease-manager look for `409 Conflict`, kube's watcher for `410`,
//! kubectl prints `message`), so every refusal is a `v1.Status` with the code,
//! reason, message format and `details` the real server uses. What the
//! simulator does not implement is a `501` naming the verb and the path, never
//! a guess.

use super::registry::ResourceType;
use serde_json::{Value, json};
use std::path::PathBuf;

/// Why the simulator could not start or load its CRDs.
#[derive(Debug, thiserror::Error)]
pub enum ApiServerError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A CRD file could not be read or parsed.
    #[error("cannot load CRD file {path}: {reason}")]
    CrdFile {
        /// The file.
        path: PathBuf,
        /// Why it was not loaded.
        reason: String,
    },
    /// The simulator refused a CRD or an object it was asked to load.
    #[error("the API simulator refused {what}: {message}")]
    Refused {
        /// What was refused.
        what: String,
        /// The simulator's answer.
        message: String,
    },
    /// A kube client for the simulator could not be built.
    #[error("cannot build a kube client for the API simulator: {0}")]
    Client(String),
}

/// One `details.causes[]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// A failed request, answered as a `v1.Status`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    fn resource_details(rt: &ResourceType, name: &str) -> Value {
        let mut details = json!({"name": name, "kind": rt.resource});
        if !rt.group.is_empty() {
            details["group"] = json!(rt.group);
        }
        details
    }

    /// 404 for a named object.
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", rt.qualified_resource()),
        )
        .with_details(Self::resource_details(rt, name))
    }

    /// 404 for a path that names nothing served.
    pub fn no_such_resource() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    /// 404 for a namespace that does not exist.
    pub fn namespace_not_found(namespace: &str) -> Self {
        Self::new(404, "NotFound", format!("namespaces \"{namespace}\" not found"))
            .with_details(json!({"name": namespace, "kind": "namespaces"}))
    }

    /// 409 AlreadyExists.
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", rt.qualified_resource()),
        )
        .with_details(Self::resource_details(rt, name))
    }

    /// 409 Conflict: `Operation cannot be fulfilled on <resource> "<name>": <why>`.
    pub fn conflict(rt: &ResourceType, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                rt.qualified_resource()
            ),
        )
        .with_details(Self::resource_details(rt, name))
    }

    /// 409 Conflict on a stale resourceVersion.
    pub fn stale(rt: &ResourceType, name: &str) -> Self {
        Self::conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 Conflict of server-side apply with other field managers.
    pub fn apply_conflict(rt: &ResourceType, name: &str, conflicts: &[(String, String, String)]) -> Self {
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(manager, api_version, field)| {
                json!({
                    "reason": "FieldManagerConflict",
                    "message": format!("conflict with \"{manager}\" using {api_version}"),
                    "field": field,
                })
            })
            .collect();
        let message = match conflicts {
            [(manager, api_version, field)] => {
                format!(
                    "Apply failed with 1 conflict: conflict with \"{manager}\" using {api_version}: {field}"
                )
            }
            _ => {
                let mut text = format!("Apply failed with {} conflicts:", conflicts.len());
                for (manager, api_version, field) in conflicts {
                    text.push_str(&format!(
                        " conflict with \"{manager}\" using {api_version}: {field};"
                    ));
                }
                text.trim_end_matches(';').to_owned()
            }
        };
        let mut details = Self::resource_details(rt, name);
        details["causes"] = Value::Array(causes);
        Self::new(409, "Conflict", message).with_details(details)
    }

    /// 422 Invalid with field causes, in the real server's message format:
    /// `<Kind>.<group> "<name>" is invalid: <field>: <detail>`.
    pub fn invalid(rt: &ResourceType, name: &str, causes: Vec<Cause>) -> Self {
        let rendered: Vec<String> = causes
            .iter()
            .map(|cause| {
                if cause.field.is_empty() {
                    cause.message.clone()
                } else {
                    format!("{}: {}", cause.field, cause.message)
                }
            })
            .collect();
        let summary = match rendered.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let mut details = json!({"name": name, "kind": rt.kind});
        if !rt.group.is_empty() {
            details["group"] = json!(rt.group);
        }
        details["causes"] = causes
            .iter()
            .map(|cause| json!({"reason": cause.reason, "message": cause.message, "field": cause.field}))
            .collect();
        Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {summary}", rt.qualified_kind()),
        )
        .with_details(details)
    }

    /// 422 for a request the server understood but cannot process (a failed
    /// JSON patch `test`, for instance).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 406 NotAcceptable.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }

    /// 410 Gone (`Expired`), for a resourceVersion older than the kept history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(413, "RequestEntityTooLarge", message)
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type:?})"
            ),
        )
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
    }

    /// 504 Timeout for a resourceVersion newer than the server's.
    pub fn too_large_resource_version(asked: u64, current: u64) -> Self {
        Self::new(
            504,
            "Timeout",
            format!("Too large resource version: {asked}, current: {current}"),
        )
        .with_details(json!({
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1
        }))
    }

    /// 501: what the simulator does not implement, naming the verb and the path.
    pub fn not_implemented(method: &str, path: &str, what: &str) -> Self {
        Self::new(
            501,
            "NotImplemented",
            format!("the Kubernetes API simulator does not implement {method} {path}: {what}"),
        )
    }

    /// The `v1.Status` body.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::registry::Registry;

    #[test]
    fn not_found_names_the_qualified_resource() {
        let registry = Registry::new();
        let lease = registry
            .find("coordination.k8s.io", "v1", "leases")
            .expect("leases");
        let status = ApiError::not_found(lease, "leader").status();
        assert_eq!(
            status["message"],
            "leases.coordination.k8s.io \"leader\" not found"
        );
        assert_eq!(status["code"], 404);
        assert_eq!(status["details"]["group"], "coordination.k8s.io");
    }

    #[test]
    fn invalid_uses_the_kind_and_lists_several_causes() {
        let registry = Registry::new();
        let pod = registry.find("", "v1", "pods").expect("pods");
        let cause = |field: &str| Cause {
            reason: "FieldValueRequired".to_owned(),
            message: "Required value".to_owned(),
            field: field.to_owned(),
        };
        let one = ApiError::invalid(pod, "p", vec![cause("spec.a")]);
        assert_eq!(one.message, "Pod \"p\" is invalid: spec.a: Required value");
        let two = ApiError::invalid(pod, "p", vec![cause("spec.a"), cause("spec.b")]);
        assert_eq!(
            two.message,
            "Pod \"p\" is invalid: [spec.a: Required value, spec.b: Required value]"
        );
        assert_eq!(two.status()["details"]["causes"][1]["field"], "spec.b");
    }

    #[test]
    fn not_implemented_names_verb_and_path() {
        let error =
            ApiError::not_implemented("POST", "/api/v1/namespaces/default/pods/x/eviction", "eviction");
        assert_eq!(error.code, 501);
        assert!(
            error
                .message
                .contains("POST /api/v1/namespaces/default/pods/x/eviction")
        );
    }
}
