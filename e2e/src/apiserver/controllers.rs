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
//!
//! Like the real ones, they are driven by what changed: each round looks at
//! the changes written since the previous round (the store's history), so a
//! write costs work in proportion to what it touched, not to the size of the
//! store. When those changes are not known (the first write to a store, or a
//! history compacted past them), a round looks at everything.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::delete::{self, FOREGROUND, Propagation};
use super::endpointslices;
use super::meta;
use super::registry::{self, ResourceType, StorageKey};
use super::store::{Change, ChangeType, Store};
use serde_json::{Value, json};

const CRD_CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";
const ROUNDS: usize = 64;

fn crd_storage() -> StorageKey {
    StorageKey::new("apiextensions.k8s.io", "customresourcedefinitions")
}

/// What the controllers have to look at in one round.
pub(crate) enum Pending {
    /// Everything in the store: what changed is not known.
    Everything,
    /// These changes, oldest first.
    Changes(Vec<Arc<Change>>),
}

impl Pending {
    /// Whether the round has to look at everything, or at a change of `storage`.
    fn touches(&self, storage: &StorageKey) -> bool {
        match self {
            Self::Everything => true,
            Self::Changes(changes) => changes.iter().any(|change| &change.storage == storage),
        }
    }
}

/// The newest change the controllers have looked at, per store (by the
/// store's address: the store has no field for it). An entry is believed only
/// while that very change (the same allocation) is still in the store's
/// history, so a new store at a dropped one's address, or a history compacted
/// past the entry, gets a round that looks at everything.
static SEEN: Mutex<Vec<(usize, Weak<Change>)>> = Mutex::new(Vec::new());

fn store_key(store: &Store) -> usize {
    std::ptr::from_ref(store).addr()
}

/// The changes written since [`mark_seen`] last ran on `store`.
fn pending(store: &Store) -> Pending {
    let key = store_key(store);
    let last = SEEN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, seen)| seen.upgrade());
    let Some(last) = last else {
        return Pending::Everything;
    };
    match store.changes_since(last.rv.saturating_sub(1)) {
        Ok(changes) if changes.first().is_some_and(|first| Arc::ptr_eq(first, &last)) => {
            Pending::Changes(changes.into_iter().skip(1).collect())
        }
        _ => Pending::Everything,
    }
}

/// Records that everything written to `store` so far has been looked at.
fn mark_seen(store: &Store) {
    let key = store_key(store);
    let newest = store
        .changes_since(store.current_rv().saturating_sub(1))
        .ok()
        .and_then(|changes| changes.into_iter().last());
    let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    seen.retain(|(k, change)| *k != key && change.strong_count() > 0);
    if let Some(newest) = newest {
        seen.push((key, Arc::downgrade(&newest)));
    }
}

/// Runs every controller until none has anything left to do.
pub(crate) fn settle(store: &mut Store) {
    let mut work = pending(store);
    for _ in 0..ROUNDS {
        mark_seen(store);
        let mut changed = crds(store, &work);
        changed |= namespaces(store);
        changed |= garbage_collect(store, &work);
        changed |= endpointslices::reconcile(store, &work);
        if !changed {
            return;
        }
        work = pending(store);
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

fn crds(store: &mut Store, work: &Pending) -> bool {
    let crd_storage = crd_storage();
    // A CRD's status and served types follow the CRD; a terminating one waits
    // for its objects, whatever changed.
    if !work.touches(&crd_storage) && !store.list(&crd_storage, None).any(meta::is_deleting) {
        return false;
    }
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

/// Whether `object` is not being deleted and every owner it names is gone.
fn orphaned(store: &Store, object: &Value) -> bool {
    if meta::is_deleting(object) {
        return false;
    }
    let owners = meta::owner_uids(object);
    !owners.is_empty() && owners.iter().all(|uid| !store.has_uid(uid))
}

/// The objects whose owners are all gone: among everything, or among the
/// objects `changes` wrote and the dependents of the objects they deleted.
fn orphans(store: &Store, work: &Pending) -> Vec<(StorageKey, String, String)> {
    let key = |storage: &StorageKey, object: &Value| {
        (
            storage.clone(),
            meta::namespace(object).to_owned(),
            meta::name(object).to_owned(),
        )
    };
    // A CRD's storage can be dropped without a change per object.
    let changes = match work {
        Pending::Changes(changes) if !work.touches(&crd_storage()) => changes,
        _ => {
            return store
                .all()
                .filter(|(_, object)| orphaned(store, object))
                .map(|(storage, object)| key(storage, object))
                .collect();
        }
    };
    let mut found: Vec<(StorageKey, String, String)> = Vec::new();
    let mut deleted: HashSet<&str> = HashSet::new();
    for change in changes {
        if change.kind == ChangeType::Deleted {
            deleted.insert(meta::uid(&change.object));
            continue;
        }
        let object = &change.object;
        if let Some(current) = store.get(&change.storage, meta::namespace(object), meta::name(object))
            && orphaned(store, current)
        {
            found.push(key(&change.storage, current));
        }
    }
    deleted.remove("");
    if !deleted.is_empty() {
        found.extend(
            store
                .all()
                .filter(|(_, object)| {
                    meta::owner_uids(object)
                        .iter()
                        .any(|uid| deleted.contains(uid.as_str()))
                })
                .filter(|(_, object)| orphaned(store, object))
                .map(|(storage, object)| key(storage, object)),
        );
    }
    found.sort();
    found.dedup();
    found
}

/// Whether a foreground deletion may have moved on: an object was deleted or
/// is being deleted.
fn foreground_may_change(work: &Pending) -> bool {
    match work {
        Pending::Everything => true,
        Pending::Changes(changes) => changes
            .iter()
            .any(|change| change.kind == ChangeType::Deleted || meta::is_deleting(&change.object)),
    }
}

fn garbage_collect(store: &mut Store, work: &Pending) -> bool {
    let mut changed = false;
    for (storage, namespace, name) in orphans(store, work) {
        changed |= delete_in_background(store, &storage, &namespace, &name);
    }
    if !foreground_may_change(work) {
        return changed;
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

    fn service(namespace: &str, name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": namespace, "uid": format!("svc-{namespace}-{name}")},
               "spec": {"selector": {"app": name},
                        "ports": [{"name": "mysql", "port": 3306, "targetPort": 3306, "protocol": "TCP"}]}})
    }

    fn pod(namespace: &str, app: &str, ip: Option<&str>) -> Value {
        let mut pod = json!({"metadata": {"name": format!("{app}-0"), "namespace": namespace,
                                          "uid": format!("pod-{namespace}-{app}"), "labels": {"app": app}},
                             "spec": {"containers": [{"name": "mysqld"}]},
                             "status": {"phase": "Running"}});
        if let Some(ip) = ip {
            pod["status"]["podIP"] = json!(ip);
        }
        pod
    }

    fn addresses(store: &Store, namespace: &str) -> Vec<String> {
        store
            .list(
                &StorageKey::new("discovery.k8s.io", "endpointslices"),
                Some(namespace),
            )
            .flat_map(|slice| slice["endpoints"].as_array().cloned().unwrap_or_default())
            .filter_map(|endpoint| endpoint["addresses"][0].as_str().map(str::to_owned))
            .collect()
    }

    #[test]
    fn later_writes_are_settled_from_their_changes() {
        let mut store = Store::new(100, 16);
        let services = StorageKey::new("", "services");
        let pods = StorageKey::new("", "pods");
        let configmaps = StorageKey::new("", "configmaps");
        store.insert(&services, service("a", "orders"));
        store.insert(&services, service("b", "orders"));
        settle(&mut store);
        assert!(matches!(pending(&store), Pending::Changes(ref changes) if changes.is_empty()));

        // A Pod in namespace a: a's Service gets it, b's is not looked at.
        store.insert(&pods, pod("a", "orders", Some("10.0.0.1")));
        assert!(matches!(pending(&store), Pending::Changes(ref changes) if changes.len() == 1));
        assert_eq!(
            endpointslices_concerned(&store),
            vec![("a".to_owned(), "orders".to_owned())]
        );
        settle(&mut store);
        assert_eq!(addresses(&store, "a"), vec!["10.0.0.1"]);
        assert!(addresses(&store, "b").is_empty());

        // Its new IP, then its deletion.
        store.update(&pods, pod("a", "orders", Some("10.0.0.2")));
        settle(&mut store);
        assert_eq!(addresses(&store, "a"), vec!["10.0.0.2"]);
        store.remove(&pods, "a", "orders-0");
        settle(&mut store);
        assert!(addresses(&store, "a").is_empty());

        // The garbage collector follows a deleted owner, and an object
        // written with an owner that does not exist.
        store.insert(&configmaps, configmap("child", "c", Some("svc-a-orders")));
        settle(&mut store);
        assert!(store.get(&configmaps, "default", "child").is_some());
        store.remove(&services, "a", "orders");
        settle(&mut store);
        assert!(store.get(&configmaps, "default", "child").is_none());
        assert!(
            store
                .list(&StorageKey::new("discovery.k8s.io", "endpointslices"), Some("a"))
                .next()
                .is_none(),
            "the deleted Service's slice is collected"
        );
        store.insert(&configmaps, configmap("stray", "s", Some("nobody")));
        settle(&mut store);
        assert!(store.get(&configmaps, "default", "stray").is_none());
    }

    fn endpointslices_concerned(store: &Store) -> Vec<(String, String)> {
        let Pending::Changes(changes) = pending(store) else {
            panic!("the changes since the last settle are known");
        };
        endpointslices::concerned(store, &changes).into_iter().collect()
    }

    #[test]
    fn a_history_compacted_past_the_last_settle_gets_a_full_pass() {
        let mut store = Store::new(2, 16);
        let services = StorageKey::new("", "services");
        let pods = StorageKey::new("", "pods");
        store.insert(&services, service("a", "orders"));
        settle(&mut store);
        for n in 0..4 {
            store.insert(
                &StorageKey::new("", "configmaps"),
                configmap(&format!("cm-{n}"), &format!("cm-{n}"), None),
            );
        }
        store.insert(&pods, pod("a", "orders", Some("10.0.0.1")));
        assert!(matches!(pending(&store), Pending::Everything));
        settle(&mut store);
        assert_eq!(addresses(&store, "a"), vec!["10.0.0.1"]);
    }
}
