//! Server-side apply.
//!
//! An apply creates the object when it is absent and merges the applied
//! configuration into it otherwise (objects merge key by key; lists and
//! scalars are replaced, see the README for how that differs from list-type
//! maps). Ownership is per leaf (see `fields`): applying a value that differs
//! from the current one of a leaf another manager owns is a 409 Conflict
//! unless `force=true`, a leaf the applier applied before and no longer
//! applies is removed unless someone else also owns it, and the applier's
//! `Apply` entry in `managedFields` lists exactly what it applied.

use super::error::ApiError;
use super::fields::{self, Entry, FieldPath, Part, Writer};
use super::registry::ResourceType;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The merged object and its ownership, before the write pipeline stores it.
#[derive(Debug)]
pub(crate) struct Applied {
    pub object: Value,
    pub entries: Vec<Entry>,
}

/// What an apply request asks.
pub(crate) struct ApplyRequest<'a> {
    pub rt: &'a ResourceType,
    pub name: &'a str,
    pub part: Part,
    pub writer: &'a Writer,
    pub force: bool,
}

/// Merges `config` into `current` (or creates it) as `request.writer`.
pub(crate) fn apply(
    request: &ApplyRequest<'_>,
    current: Option<&Value>,
    config: Value,
) -> Result<Applied, ApiError> {
    let config = restrict(strip_nulls(config), request.part);
    let applied: BTreeSet<FieldPath> = fields::leaves(&config, request.part);
    let mut entries = current.map(fields::read).unwrap_or_default();
    let writer = request.writer;
    let is_own_apply = |entry: &Entry| {
        entry.manager == writer.manager
            && entry.operation == "Apply"
            && entry.subresource == writer.subresource
    };
    if let Some(current) = current {
        let mut conflicts = Vec::new();
        for path in &applied {
            let Some(existing) = fields::get(current, path) else {
                continue;
            };
            if Some(existing) == fields::get(&config, path) {
                continue;
            }
            for entry in entries.iter().filter(|entry| entry.manager != writer.manager) {
                if entry.fields.iter().any(|owned| overlaps(owned, path)) {
                    conflicts.push((
                        entry.manager.clone(),
                        entry.api_version.clone(),
                        fields::display(path),
                    ));
                }
            }
        }
        conflicts.dedup();
        if !conflicts.is_empty() && !request.force {
            return Err(ApiError::apply_conflict(request.rt, request.name, &conflicts));
        }
    }
    let mut object = current.cloned().unwrap_or_else(|| skeleton(&config));
    let previously: BTreeSet<FieldPath> = entries
        .iter()
        .filter(|entry| is_own_apply(entry))
        .flat_map(|entry| entry.fields.iter().cloned())
        .collect();
    for dropped in previously.difference(&applied) {
        let shared = entries
            .iter()
            .filter(|entry| !is_own_apply(entry))
            .any(|entry| entry.fields.iter().any(|owned| overlaps(owned, dropped)));
        if !shared {
            fields::remove(&mut object, dropped);
        }
    }
    merge_into(&mut object, &config);
    let changed: Vec<&FieldPath> = applied
        .iter()
        .filter(|path| current.and_then(|current| fields::get(current, path)) != fields::get(&object, path))
        .collect();
    for entry in entries.iter_mut().filter(|entry| !is_own_apply(entry)) {
        entry
            .fields
            .retain(|owned| !changed.iter().any(|path| owned.starts_with(path)));
    }
    let own = fields::apply_entry(&mut entries, writer);
    own.fields = applied;
    own.time = writer.time.clone();
    own.api_version = writer.api_version.clone();
    fields::prune_missing(&mut entries, &object);
    Ok(Applied { object, entries })
}

fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// An applied configuration's `null`s mean "not applied".
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Keeps what `part` may change: no `status` through the main resource of a
/// kind with a status subresource, only `status` through `/status`.
fn restrict(config: Value, part: Part) -> Value {
    match (config, part) {
        (Value::Object(mut map), Part::Main) => {
            map.remove("status");
            Value::Object(map)
        }
        (Value::Object(map), Part::Status) => Value::Object(
            map.into_iter()
                .filter_map(|(key, value)| match key.as_str() {
                    "apiVersion" | "kind" | "status" => Some((key, value)),
                    "metadata" => {
                        let kept: Map<String, Value> = value
                            .as_object()
                            .map(|m| {
                                m.iter()
                                    .filter(|(k, _)| {
                                        matches!(k.as_str(), "name" | "namespace" | "resourceVersion")
                                    })
                                    .map(|(k, v)| (k.clone(), v.clone()))
                                    .collect()
                            })
                            .unwrap_or_default();
                        Some((key, Value::Object(kept)))
                    }
                    _ => None,
                })
                .collect(),
        ),
        (other, _) => other,
    }
}

fn skeleton(config: &Value) -> Value {
    let mut object = Map::new();
    for key in ["apiVersion", "kind"] {
        if let Some(value) = config.get(key) {
            object.insert(key.to_owned(), value.clone());
        }
    }
    Value::Object(object)
}

/// Objects merge key by key; anything else replaces.
pub(crate) fn merge_into(target: &mut Value, source: &Value) {
    match (target, source) {
        (Value::Object(target), Value::Object(source)) => {
            for (key, value) in source {
                match target.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge_into(existing, value)
                    }
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, source) => *target = source.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::registry::Registry;
    use serde_json::json;

    fn writer(manager: &str) -> Writer {
        Writer {
            manager: manager.to_owned(),
            api_version: "coordination.k8s.io/v1".to_owned(),
            subresource: String::new(),
            time: "2024-01-01T00:00:00Z".to_owned(),
        }
    }

    fn lease(holder: &str) -> Value {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": "leader", "namespace": "default"},
               "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15}})
    }

    fn run(current: Option<&Value>, config: Value, manager: &str, force: bool) -> Result<Applied, ApiError> {
        let registry = Registry::new();
        let rt = registry
            .find("coordination.k8s.io", "v1", "leases")
            .expect("leases");
        let writer = writer(manager);
        let request = ApplyRequest {
            rt,
            name: "leader",
            part: Part::Whole,
            writer: &writer,
            force,
        };
        apply(&request, current, config)
    }

    fn stored(applied: Applied) -> Value {
        let mut object = applied.object;
        fields::write(&mut object, &applied.entries);
        object
    }

    #[test]
    fn a_different_manager_changing_an_owned_field_conflicts() {
        let first = stored(run(None, lease("a"), "lease-a", false).expect("create"));
        let error = run(Some(&first), lease("b"), "lease-b", false).expect_err("conflict");
        assert_eq!(error.code, 409);
        assert_eq!(error.reason, "Conflict");
        assert!(
            error.message.contains(".spec.holderIdentity"),
            "{}",
            error.message
        );
        assert!(error.message.contains("lease-a"), "{}", error.message);
        let forced = stored(run(Some(&first), lease("b"), "lease-b", true).expect("forced"));
        assert_eq!(forced["spec"]["holderIdentity"], "b");
        let entries = fields::read(&forced);
        let a = entries
            .iter()
            .find(|e| e.manager == "lease-a")
            .expect("a keeps the shared field");
        assert!(
            !a.fields
                .iter()
                .any(|p| p.last().is_some_and(|k| k == "holderIdentity"))
        );
    }

    #[test]
    fn applying_the_same_value_shares_ownership() {
        let first = stored(run(None, lease("a"), "lease-a", false).expect("create"));
        let shared = stored(run(Some(&first), lease("a"), "lease-b", false).expect("same value"));
        assert_eq!(fields::read(&shared).len(), 2);
    }

    #[test]
    fn a_field_no_longer_applied_is_removed_unless_shared() {
        let first = stored(run(None, lease("a"), "lease-a", false).expect("create"));
        let config = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                            "metadata": {"name": "leader"}, "spec": {"leaseDurationSeconds": 15}});
        let second = stored(run(Some(&first), config, "lease-a", false).expect("drop holder"));
        assert!(second["spec"].get("holderIdentity").is_none());
        assert_eq!(second["spec"]["leaseDurationSeconds"], 15);
    }

    #[test]
    fn status_is_not_applied_through_the_main_resource() {
        assert_eq!(
            restrict(json!({"spec": {"a": 1}, "status": {"b": 2}}), Part::Main),
            json!({"spec": {"a": 1}})
        );
        assert_eq!(
            restrict(
                json!({"metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {"a": 1}, "status": {"b": 2}}),
                Part::Status
            ),
            json!({"metadata": {"name": "x"}, "status": {"b": 2}})
        );
    }

    #[test]
    fn merge_into_merges_objects_and_replaces_the_rest() {
        let mut target = json!({"a": {"b": 1, "c": [1]}, "d": 1});
        merge_into(&mut target, &json!({"a": {"c": [2], "e": 3}, "d": {"x": 1}}));
        assert_eq!(target, json!({"a": {"b": 1, "c": [2], "e": 3}, "d": {"x": 1}}));
    }
}
