//! Deletion: finalizers, propagation policies and preconditions.
//!
//! An object with finalizers (or a Namespace with `spec.finalizers`) is only
//! marked: `deletionTimestamp` is set (with `deletionGracePeriodSeconds: 0`
//! and a generation bump, as the real server does) and it is removed by the
//! write that empties its finalizers. Anything else is removed at once; there
//! is no kubelet, so a Pod's graceful termination does not happen and
//! `gracePeriodSeconds` is ignored. Dependents are then handled by
//! `controllers`: background (the default) deletes dependents whose owners
//! are all gone, foreground keeps the owner (`foregroundDeletion` finalizer)
//! until its dependents are gone, orphan removes the owner references from
//! the dependents first.

use super::controllers;
use super::convert::to_wire;
use super::error::ApiError;
use super::meta;
use super::registry::{ResourceType, StorageKey};
use super::store::Store;
use serde_json::{Value, json};

/// `propagationPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Propagation {
    Background,
    Foreground,
    Orphan,
}

/// DeleteOptions, from the body or the query.
#[derive(Clone, Debug)]
pub(crate) struct DeleteOptions {
    pub propagation: Propagation,
    pub dry_run: bool,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

impl DeleteOptions {
    /// Reads a DeleteOptions body (may be empty) and the query parameters.
    pub fn parse(body: &[u8], query: &super::http::Query) -> Result<Self, ApiError> {
        let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(body)
                .map_err(|error| ApiError::bad_request(format!("error decoding DeleteOptions: {error}")))?
        };
        let policy = body["propagationPolicy"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| query.get("propagationPolicy").map(str::to_owned));
        let orphan = body["orphanDependents"]
            .as_bool()
            .or_else(|| query.get("orphanDependents").map(|v| v == "true"));
        let propagation = match (policy.as_deref(), orphan) {
            (Some("Background"), _) | (None, Some(false)) | (None, None) => Propagation::Background,
            (Some("Foreground"), _) => Propagation::Foreground,
            (Some("Orphan"), _) | (None, Some(true)) => Propagation::Orphan,
            (Some(other), _) => {
                return Err(ApiError::bad_request(format!(
                    "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                )));
            }
        };
        let dry_run = body["dryRun"]
            .as_array()
            .is_some_and(|values| values.iter().any(|v| v == "All"))
            || query.get("dryRun") == Some("All");
        Ok(Self {
            propagation,
            dry_run,
            uid: body["preconditions"]["uid"].as_str().map(str::to_owned),
            resource_version: body["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_owned),
        })
    }
}

/// Whether anything keeps `object` from being removed.
pub(crate) fn blocked(rt: &ResourceType, object: &Value) -> bool {
    !meta::finalizers(object).is_empty()
        || (rt.group.is_empty()
            && rt.resource == "namespaces"
            && object["spec"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty()))
}

/// What a deletion did.
#[derive(Debug)]
pub(crate) enum Deleted {
    /// Removed; the last state.
    Gone(Value),
    /// Marked for deletion; waits for its finalizers.
    Pending(Value),
}

/// Deletes one object (also used by the controllers). `None` when absent.
pub(crate) fn delete_object(
    store: &mut Store,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    propagation: Propagation,
    dry_run: bool,
) -> Option<Deleted> {
    let current = store.get(&rt.storage, namespace, name)?.clone();
    let uid = meta::uid(&current).to_owned();
    if propagation == Propagation::Orphan && !dry_run {
        orphan_dependents(store, &uid);
    }
    let mut object = current.clone();
    if propagation == Propagation::Foreground && !meta::finalizers(&object).iter().any(|f| f == FOREGROUND) {
        let mut finalizers = meta::finalizers(&object);
        finalizers.push(FOREGROUND.to_owned());
        meta::set_finalizers(&mut object, &finalizers);
    }
    if blocked(rt, &object) {
        if !meta::is_deleting(&object) {
            let generation = object["metadata"]["generation"].as_i64().unwrap_or(0);
            let metadata = meta::metadata_mut(&mut object);
            metadata.insert("deletionTimestamp".to_owned(), json!(meta::now()));
            metadata.insert("deletionGracePeriodSeconds".to_owned(), json!(0));
            if generation > 0 {
                metadata.insert("generation".to_owned(), json!(generation + 1));
            }
            if rt.group.is_empty() && rt.resource == "namespaces" {
                meta::ensure_object(&mut object).insert("status".to_owned(), json!({"phase": "Terminating"}));
            }
        }
        if object != current && !dry_run {
            object = store.update(&rt.storage, object);
        }
        return Some(Deleted::Pending(object));
    }
    if dry_run {
        return Some(Deleted::Gone(object));
    }
    store.remove(&rt.storage, namespace, name).map(Deleted::Gone)
}

/// The finalizer of foreground deletion.
pub(crate) const FOREGROUND: &str = "foregroundDeletion";

fn orphan_dependents(store: &mut Store, owner_uid: &str) {
    let dependents: Vec<(StorageKey, Value)> = store
        .all()
        .filter(|(_, object)| meta::owner_uids(object).iter().any(|uid| uid == owner_uid))
        .map(|(storage, object)| (storage.clone(), object.clone()))
        .collect();
    for (storage, mut dependent) in dependents {
        if let Some(Value::Array(refs)) = meta::metadata_mut(&mut dependent).get_mut("ownerReferences") {
            refs.retain(|r| r["uid"] != owner_uid);
        }
        if meta::owner_uids(&dependent).is_empty() {
            meta::metadata_mut(&mut dependent).remove("ownerReferences");
        }
        store.update(&storage, dependent);
    }
}

/// Namespaces the real server never deletes.
const PROTECTED_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// DELETE of one object: 200 with the object while finalizers hold it (and
/// for custom resources, which the real server answers with the object),
/// a `Success` Status otherwise.
pub(crate) fn delete(
    store: &mut Store,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    options: &DeleteOptions,
) -> Result<Value, ApiError> {
    let current = store
        .get(&rt.storage, namespace, name)
        .ok_or_else(|| ApiError::not_found(rt, name))?;
    if let Some(uid) = options.uid.as_deref()
        && uid != meta::uid(current)
    {
        return Err(ApiError::conflict(
            rt,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::uid(current)
            ),
        ));
    }
    if let Some(rv) = options.resource_version.as_deref()
        && Some(rv) != meta::meta_str(current, "resourceVersion")
    {
        return Err(ApiError::conflict(
            rt,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta::meta_str(current, "resourceVersion").unwrap_or_default()
            ),
        ));
    }
    if rt.group.is_empty() && rt.resource == "namespaces" && PROTECTED_NAMESPACES.contains(&name) {
        return Err(ApiError::forbidden(format!(
            "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
        )));
    }
    let uid = meta::uid(current).to_owned();
    let outcome = delete_object(store, rt, namespace, name, options.propagation, options.dry_run);
    if !options.dry_run {
        controllers::settle(store);
    }
    match outcome {
        Some(Deleted::Pending(object)) => Ok(to_wire(rt, &object)),
        Some(Deleted::Gone(object)) if rt.custom.is_some() => Ok(to_wire(rt, &object)),
        Some(Deleted::Gone(_)) => {
            let mut details = json!({"name": name, "kind": rt.resource, "uid": uid});
            if !rt.group.is_empty() {
                details["group"] = json!(rt.group);
            }
            Ok(
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
            )
        }
        None => Err(ApiError::not_found(rt, name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::http::Query;
    use crate::apiserver::registry::Registry;

    #[test]
    fn options_come_from_the_body_or_the_query() {
        let query = Query::parse("");
        let body = br#"{"propagationPolicy":"Foreground","dryRun":["All"],"preconditions":{"uid":"u"}}"#;
        let options = DeleteOptions::parse(body, &query).expect("valid");
        assert_eq!(options.propagation, Propagation::Foreground);
        assert!(options.dry_run);
        assert_eq!(options.uid.as_deref(), Some("u"));
        let query = Query::parse("propagationPolicy=Orphan");
        assert_eq!(
            DeleteOptions::parse(b"", &query).expect("query").propagation,
            Propagation::Orphan
        );
        assert_eq!(
            DeleteOptions::parse(br#"{"propagationPolicy":"Sometimes"}"#, &Query::parse(""))
                .expect_err("bad")
                .code,
            400
        );
    }

    #[test]
    fn finalizers_hold_an_object_until_they_are_gone() {
        let registry = Registry::new();
        let rt = registry.find("", "v1", "configmaps").expect("configmaps").clone();
        let mut store = Store::new(100, 16);
        store.insert(
            &rt.storage,
            json!({"metadata": {"name": "c", "namespace": "default", "uid": "u", "generation": 1, "finalizers": ["x"]}}),
        );
        let pending =
            delete_object(&mut store, &rt, "default", "c", Propagation::Background, false).expect("exists");
        let Deleted::Pending(object) = pending else {
            panic!("expected pending, got {pending:?}");
        };
        assert!(meta::is_deleting(&object));
        assert_eq!(object["metadata"]["deletionGracePeriodSeconds"], 0);
        assert_eq!(object["metadata"]["generation"], 2);
        let mut released = object.clone();
        meta::set_finalizers(&mut released, &[]);
        store.update(&rt.storage, released);
        let gone =
            delete_object(&mut store, &rt, "default", "c", Propagation::Background, false).expect("exists");
        assert!(matches!(gone, Deleted::Gone(_)));
        assert!(store.get(&rt.storage, "default", "c").is_none());
    }

    #[test]
    fn orphan_removes_owner_references() {
        let registry = Registry::new();
        let rt = registry.find("", "v1", "configmaps").expect("configmaps").clone();
        let mut store = Store::new(100, 16);
        store.insert(
            &rt.storage,
            json!({"metadata": {"name": "owner", "namespace": "default", "uid": "o"}}),
        );
        store.insert(
            &rt.storage,
            json!({"metadata": {"name": "child", "namespace": "default", "uid": "c",
                   "ownerReferences": [{"uid": "o", "name": "owner", "kind": "ConfigMap", "apiVersion": "v1"}]}}),
        );
        delete_object(&mut store, &rt, "default", "owner", Propagation::Orphan, false).expect("exists");
        let child = store
            .get(&rt.storage, "default", "child")
            .expect("orphaned child stays");
        assert!(child["metadata"].get("ownerReferences").is_none());
    }
}
