//! The controllers a real control plane runs beside the API server, reduced
//! to what the project relies on, run to a fixed point after every write:
//!
//! - the CRD controller: a CRD gets `NamesAccepted` and `Established` and its
//!   resources are served at once; a deleted CRD deletes its objects
//!   (waiting for their finalizers) and then stops being served;
//! - the namespace controller: a terminating Namespace deletes its objects
//!   and is removed when none is left;
//! - the garbage collector: an object whose owners are all gone is deleted
//!   (background propagation), and a foreground-deleted owner goes once its
//!   dependents are gone;
//! - the EndpointSlice controller (in `endpointslices`).
//!
//! Running them inside the write that triggered them (under the store lock)
//! makes their effects immediate and ordered; the real ones lag by a moment.

use super::delete::{self, FOREGROUND, Propagation};
use super::endpointslices;
use super::meta;
use super::registry::{self, ResourceType, StorageKey};
use super::store::Store;
use serde_json::{Value, json};

const CRD_CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";
const ROUNDS: usize = 64;

/// Runs every controller until none has anything left to do.
pub(crate) fn settle(store: &mut Store) {
    for _ in 0..ROUNDS {
        let mut changed = crds(store);
        changed |= namespaces(store);
        changed |= garbage_collect(store);
        changed |= endpointslices::reconcile(store);
        if !changed {
            return;
        }
    }
    tracing::warn!("the API simulator's controllers did not settle within {ROUNDS} rounds");
}

fn storage_type(store: &Store, storage: &StorageKey) -> Option<ResourceType> {
    store.registry.storage_type(storage).cloned()
}

fn delete_in_background(store: &mut Store, storage: &StorageKey, namespace: &str, name: &str) -> bool {
    match storage_type(store, storage) {
        Some(rt) => {
            delete::delete_object(store, &rt, namespace, name, Propagation::Background, false).is_some()
        }
        None => false,
    }
}

fn crd_status(crd: &Value, terminating: bool) -> Value {
    let names = &crd["spec"]["names"];
    let kind = names["kind"].as_str().unwrap_or_default();
    let mut accepted = names.clone();
    if let Some(map) = accepted.as_object_mut() {
        map.entry("singular")
            .or_insert_with(|| json!(kind.to_lowercase()));
        map.entry("listKind")
            .or_insert_with(|| json!(format!("{kind}List")));
    }
    let storage_version = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["storage"].as_bool() == Some(true))
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default()
        .to_owned();
    let mut stored: Vec<String> = crd["status"]["storedVersions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    if !stored.contains(&storage_version) {
        stored.push(storage_version);
    }
    let previous = crd["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        let since = previous
            .iter()
            .find(|c| c["type"] == type_ && c["status"] == status)
            .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_owned))
            .unwrap_or_else(meta::now);
        json!({"type": type_, "status": status, "lastTransitionTime": since, "reason": reason, "message": message})
    };
    let mut conditions = vec![
        condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
        condition(
            "Established",
            "True",
            "InitialNamesAccepted",
            "the initial names have been accepted",
        ),
    ];
    if terminating {
        conditions.push(condition(
            "Terminating",
            "True",
            "InstanceDeletionInProgress",
            "CustomResource deletion is in progress",
        ));
    }
    json!({"conditions": conditions, "acceptedNames": accepted, "storedVersions": stored})
}

fn crds(store: &mut Store) -> bool {
    let crd_storage = StorageKey::new("apiextensions.k8s.io", "customresourcedefinitions");
    let crds: Vec<Value> = store.list(&crd_storage, None).cloned().collect();
    let mut changed = false;
    for crd in crds {
        let name = meta::name(&crd).to_owned();
        let terminating = meta::is_deleting(&crd);
        if !terminating {
            match registry::custom_types(&crd) {
                Ok(types) => store.registry.set_custom(&name, types),
                Err(errors) => {
                    tracing::warn!(crd = %name, ?errors, "a stored CRD cannot be served");
                    continue;
                }
            }
        }
        let mut desired = crd.clone();
        meta::ensure_object(&mut desired).insert("status".to_owned(), crd_status(&crd, terminating));
        let mut finalizers = meta::finalizers(&crd);
        if terminating {
            let storage = store.registry.custom_storage(&name);
            let remaining: Vec<(String, String, bool)> = storage
                .as_ref()
                .map(|storage| {
                    store
                        .list(storage, None)
                        .map(|o| {
                            (
                                meta::namespace(o).to_owned(),
                                meta::name(o).to_owned(),
                                meta::is_deleting(o),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if let Some(storage) = &storage {
                for (namespace, object, deleting) in &remaining {
                    if !deleting {
                        changed |= delete_in_background(store, storage, namespace, object);
                    }
                }
            }
            if remaining.is_empty() {
                finalizers.retain(|f| f != CRD_CLEANUP);
                if finalizers.is_empty() {
                    store.remove(&crd_storage, "", &name);
                    store.registry.remove_custom(&name);
                    if let Some(storage) = &storage {
                        store.drop_storage(storage);
                    }
                    changed = true;
                    continue;
                }
            }
        } else if !finalizers.iter().any(|f| f == CRD_CLEANUP) {
            finalizers.push(CRD_CLEANUP.to_owned());
        }
        meta::set_finalizers(&mut desired, &finalizers);
        if desired != crd {
            store.update(&crd_storage, desired);
            changed = true;
        }
    }
    changed
}

fn namespaces(store: &mut Store) -> bool {
    let ns_storage = StorageKey::new("", "namespaces");
    let terminating: Vec<Value> = store
        .list(&ns_storage, None)
        .filter(|ns| meta::is_deleting(ns))
        .cloned()
        .collect();
    let mut changed = false;
    for namespace in terminating {
        let name = meta::name(&namespace).to_owned();
        let contained: Vec<(StorageKey, String, bool)> = store
            .all()
            .filter(|(_, object)| meta::namespace(object) == name)
            .map(|(storage, object)| {
                (
                    storage.clone(),
                    meta::name(object).to_owned(),
                    meta::is_deleting(object),
                )
            })
            .collect();
        for (storage, object, deleting) in &contained {
            if !deleting {
                changed |= delete_in_background(store, storage, &name, object);
            }
        }
        if contained.is_empty() {
            let mut finalized = namespace.clone();
            if let Some(spec) = finalized.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("finalizers".to_owned(), json!([]));
            }
            if meta::finalizers(&finalized).is_empty() {
                store.remove(&ns_storage, "", &name);
            } else if finalized != namespace {
                store.update(&ns_storage, finalized);
            } else {
                continue;
            }
            changed = true;
        }
    }
    changed
}

fn garbage_collect(store: &mut Store) -> bool {
    let orphans: Vec<(StorageKey, String, String)> = store
        .all()
        .filter(|(_, object)| !meta::is_deleting(object))
        .filter(|(_, object)| {
            let owners = meta::owner_uids(object);
            !owners.is_empty() && owners.iter().all(|uid| !store.has_uid(uid))
        })
        .map(|(storage, object)| {
            (
                storage.clone(),
                meta::namespace(object).to_owned(),
                meta::name(object).to_owned(),
            )
        })
        .collect();
    let mut changed = false;
    for (storage, namespace, name) in orphans {
        changed |= delete_in_background(store, &storage, &namespace, &name);
    }
    let foreground: Vec<(StorageKey, Value)> = store
        .all()
        .filter(|(_, object)| {
            meta::is_deleting(object) && meta::finalizers(object).iter().any(|f| f == FOREGROUND)
        })
        .map(|(storage, object)| (storage.clone(), object.clone()))
        .collect();
    for (storage, owner) in foreground {
        let uid = meta::uid(&owner).to_owned();
        let dependents: Vec<(StorageKey, String, String, bool)> = store
            .all()
            .filter(|(_, object)| meta::owner_uids(object).contains(&uid))
            .map(|(storage, object)| {
                (
                    storage.clone(),
                    meta::namespace(object).to_owned(),
                    meta::name(object).to_owned(),
                    meta::is_deleting(object),
                )
            })
            .collect();
        if dependents.is_empty() {
            let mut released = owner.clone();
            let finalizers: Vec<String> = meta::finalizers(&owner)
                .into_iter()
                .filter(|f| f != FOREGROUND)
                .collect();
            meta::set_finalizers(&mut released, &finalizers);
            let Some(rt) = storage_type(store, &storage) else {
                continue;
            };
            if delete::blocked(&rt, &released) {
                store.update(&storage, released);
            } else {
                store.remove(&storage, meta::namespace(&owner), meta::name(&owner));
            }
            changed = true;
        } else {
            for (dependent_storage, namespace, name, deleting) in dependents {
                if !deleting {
                    changed |= delete_in_background(store, &dependent_storage, &namespace, &name);
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configmap(name: &str, uid: &str, owner: Option<&str>) -> Value {
        let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": name, "namespace": "default", "uid": uid}});
        if let Some(owner) = owner {
            object["metadata"]["ownerReferences"] =
                json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner}]);
        }
        object
    }

    #[test]
    fn dependents_of_a_vanished_owner_are_collected_transitively() {
        let mut store = Store::new(100, 16);
        let storage = StorageKey::new("", "configmaps");
        store.insert(&storage, configmap("child", "c", Some("gone")));
        store.insert(&storage, configmap("grandchild", "g", Some("c")));
        store.insert(&storage, configmap("alone", "a", None));
        settle(&mut store);
        let names: Vec<&str> = store.list(&storage, None).map(meta::name).collect();
        assert_eq!(names, vec!["alone"]);
    }

    #[test]
    fn a_crd_is_established_and_served() {
        let mut store = Store::new(100, 16);
        let storage = StorageKey::new("apiextensions.k8s.io", "customresourcedefinitions");
        store.insert(
            &storage,
            json!({"metadata": {"name": "widgets.example.io", "uid": "w"},
                   "spec": {"group": "example.io", "scope": "Namespaced",
                            "names": {"plural": "widgets", "kind": "Widget"},
                            "versions": [{"name": "v1", "served": true, "storage": true}]}}),
        );
        settle(&mut store);
        assert!(store.registry.find("example.io", "v1", "widgets").is_some());
        let crd = store.get(&storage, "", "widgets.example.io").expect("crd");
        assert_eq!(crd["status"]["conditions"][1]["type"], "Established");
        assert_eq!(crd["status"]["acceptedNames"]["listKind"], "WidgetList");
        assert_eq!(meta::finalizers(crd), vec![CRD_CLEANUP.to_owned()]);
    }
}
