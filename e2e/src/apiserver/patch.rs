//! PATCH bodies: JSON patch, JSON merge patch and strategic merge patch.
//!
//! kube's finalizer helper sends JSON patches with a `test` op (a failed test
//! must answer 422 so that it retries), the Events recorder and most
//! controllers send merge patches, kube-lease-manager sends strategic merge
//! patches of scalar fields. A strategic merge patch is exactly a merge patch
//! as long as it holds no list and no `$` directive; the simulator has no
//! per-type patch strategies, so a strategic patch with a list or a directive
//! answers 501 instead of silently merging it the wrong way.

use super::error::ApiError;
use serde_json::Value;

/// The patch flavours, by Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// The patch type of a request's Content-Type.
    pub fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/json-patch+json" => Ok(Self::Json),
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml" => Ok(Self::Apply),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("error decoding patch: {error}")))
}

/// Applies a JSON, merge or strategic merge patch to `target`; `path` is the
/// request's, for a 501.
pub(crate) fn patch(kind: PatchType, target: &mut Value, body: &[u8], path: &str) -> Result<(), ApiError> {
    match kind {
        PatchType::Json => {
            let operations: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|error| ApiError::bad_request(format!("error decoding patch: {error}")))?;
            json_patch_atomically(target, &operations)
        }
        PatchType::Merge => {
            let patch = parse_json(body)?;
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "a merge patch must be a JSON object".to_owned(),
                ));
            }
            json_patch::merge(target, &patch);
            Ok(())
        }
        PatchType::Strategic => {
            let patch = parse_json(body)?;
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "a strategic merge patch must be a JSON object".to_owned(),
                ));
            }
            if let Some(reason) = strategic_beyond_merge(&patch, "") {
                return Err(ApiError::not_implemented(
                    "PATCH",
                    path,
                    &format!(
                        "{reason}; only strategic merge patches without lists or directives are \
                         implemented (send a JSON merge patch or use server-side apply)"
                    ),
                ));
            }
            json_patch::merge(target, &patch);
            Ok(())
        }
        PatchType::Apply => Err(ApiError::internal(
            "server-side apply is not a patch to merge".to_owned(),
        )),
    }
}

/// Applies every operation or none. A `test` of `null` on a missing field
/// passes, as in the Go implementation the real server uses (kube's
/// finalizer helper relies on it to add the first finalizer).
fn json_patch_atomically(target: &mut Value, operations: &json_patch::Patch) -> Result<(), ApiError> {
    let mut working = target.clone();
    for (index, operation) in operations.0.iter().enumerate() {
        if let json_patch::PatchOperation::Test(test) = operation
            && test.value.is_null()
            && missing_with_parent(&working, test.path.as_str())
        {
            continue;
        }
        json_patch::patch(&mut working, std::slice::from_ref(operation)).map_err(|error| {
            ApiError::unprocessable(format!(
                "the JSON patch could not be applied: operation {index} at {:?}: {}",
                error.path.as_str(),
                error.kind
            ))
        })?;
    }
    *target = working;
    Ok(())
}

fn missing_with_parent(document: &Value, pointer: &str) -> bool {
    let parent = pointer.rsplit_once('/').map_or("", |(parent, _)| parent);
    document.pointer(pointer).is_none() && document.pointer(parent).is_some()
}

/// Why a strategic merge patch is not a plain merge patch: the first list or
/// `$` directive it holds.
fn strategic_beyond_merge(patch: &Value, path: &str) -> Option<String> {
    match patch {
        Value::Array(_) => Some(format!("it holds a list at {path}")),
        Value::Object(map) => map.iter().find_map(|(key, value)| {
            if key.starts_with('$') {
                Some(format!(
                    "it holds the directive {key} at {}",
                    if path.is_empty() { "." } else { path }
                ))
            } else {
                strategic_beyond_merge(value, &format!("{path}.{key}"))
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types_map_to_patch_types() {
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml; charset=utf-8").expect("apply"),
            PatchType::Apply
        );
        assert_eq!(
            PatchType::from_content_type("application/json")
                .expect_err("plain")
                .code,
            415
        );
    }

    #[test]
    fn json_patch_test_failure_is_422() {
        let mut object = json!({"metadata": {"finalizers": ["a"]}});
        let body = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": ["b"]},
            {"op": "remove", "path": "/metadata/finalizers/0"}
        ]);
        let error =
            patch(PatchType::Json, &mut object, body.to_string().as_bytes(), "/p").expect_err("test fails");
        assert_eq!(error.code, 422);
        assert_eq!(
            object,
            json!({"metadata": {"finalizers": ["a"]}}),
            "nothing applied"
        );
        let body = json!([{"op": "test", "path": "/metadata/finalizers", "value": ["a"]},
                          {"op": "remove", "path": "/metadata/finalizers/0"}]);
        patch(PatchType::Json, &mut object, body.to_string().as_bytes(), "/p").expect("test passes");
        assert_eq!(object, json!({"metadata": {"finalizers": []}}));
        let mut bare = json!({"metadata": {}});
        let first = json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                           {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}]);
        patch(PatchType::Json, &mut bare, first.to_string().as_bytes(), "/p")
            .expect("null test on a missing field");
        assert_eq!(bare, json!({"metadata": {"finalizers": ["f"]}}));
    }

    #[test]
    fn merge_patch_removes_nulls_and_replaces_lists() {
        let mut object = json!({"spec": {"a": 1, "b": [1, 2], "c": {"d": 1}}});
        let body = json!({"spec": {"a": null, "b": [3], "c": {"e": 2}}});
        patch(PatchType::Merge, &mut object, body.to_string().as_bytes(), "/p").expect("merge");
        assert_eq!(object, json!({"spec": {"b": [3], "c": {"d": 1, "e": 2}}}));
    }

    #[test]
    fn strategic_patches_with_lists_or_directives_are_not_implemented() {
        let mut object = json!({"spec": {"holderIdentity": "a"}});
        let scalar = json!({"spec": {"holderIdentity": null, "leaseTransitions": 2}});
        patch(
            PatchType::Strategic,
            &mut object,
            scalar.to_string().as_bytes(),
            "/p",
        )
        .expect("scalar strategic");
        assert_eq!(object, json!({"spec": {"leaseTransitions": 2}}));
        let list = json!({"spec": {"containers": [{"name": "a"}]}});
        let error = patch(
            PatchType::Strategic,
            &mut object,
            list.to_string().as_bytes(),
            "/p",
        )
        .expect_err("list");
        assert_eq!(error.code, 501);
        assert!(error.message.contains(".spec.containers"), "{}", error.message);
        let directive = json!({"$setElementOrder/containers": [{"name": "a"}]});
        let error = patch(
            PatchType::Strategic,
            &mut object,
            directive.to_string().as_bytes(),
            "/p",
        )
        .expect_err("directive");
        assert!(
            error.message.contains("$setElementOrder/containers"),
            "{}",
            error.message
        );
    }
}
