//! The in-memory object store, the global resourceVersion and the change feed.
//!
//! Every write takes the next value of one global, monotonically increasing
//! resourceVersion (as etcd's revision), is appended to a bounded history and
//! broadcast to open watches. A watch resumes from the history; a version
//! older than the history kept is answered 410 Gone, so that clients relist
//! exactly as they must against a real server after compaction.

use super::meta;
use super::registry::{Registry, StorageKey};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

/// `(namespace, name)`; the namespace is "" for cluster-scoped objects.
pub(crate) type ObjectKey = (String, String);

/// What a change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One committed write.
#[derive(Debug)]
pub(crate) struct Change {
    pub rv: u64,
    pub kind: ChangeType,
    pub storage: StorageKey,
    /// The object after the change (for a deletion, the deleted object
    /// carrying the deletion's resourceVersion), in stored form.
    pub object: Value,
    /// The object before the change.
    pub previous: Option<Value>,
}

/// Addresses handed out to Services.
#[derive(Debug, Default)]
pub(crate) struct Allocations {
    pub next_cluster_ip: u32,
    pub next_node_port: u16,
}

/// All objects, with the history of their changes.
#[derive(Debug)]
pub(crate) struct Store {
    pub registry: Registry,
    pub allocations: Allocations,
    rv: u64,
    objects: BTreeMap<StorageKey, BTreeMap<ObjectKey, Value>>,
    uids: HashMap<String, (StorageKey, ObjectKey)>,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    compacted: u64,
    changes: broadcast::Sender<Arc<Change>>,
    expiry: watch::Sender<u64>,
}

/// Why a watch cannot resume from a resourceVersion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Older than the history kept: 410 Gone.
    TooOld { compacted: u64 },
    /// Newer than anything written.
    TooNew { current: u64 },
}

impl Store {
    /// An empty store keeping `history_limit` changes, broadcasting through a
    /// channel of `channel_capacity`.
    pub fn new(history_limit: usize, channel_capacity: usize) -> Self {
        let (changes, _) = broadcast::channel(channel_capacity.max(16));
        let (expiry, _) = watch::channel(0);
        Self {
            registry: Registry::new(),
            allocations: Allocations::default(),
            rv: 0,
            objects: BTreeMap::new(),
            uids: HashMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 0,
            changes,
            expiry,
        }
    }

    /// The resourceVersion of the last write.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    /// A receiver of future changes, and of forced expiries (see [`Store::expire`]).
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<Change>>, watch::Receiver<u64>) {
        (self.changes.subscribe(), self.expiry.subscribe())
    }

    /// The object `name` in `namespace` ("" for cluster-scoped).
    pub fn get(&self, storage: &StorageKey, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(storage)?
            .get(&(namespace.to_owned(), name.to_owned()))
    }

    /// The objects of `storage`, in one namespace or all, ordered by namespace and name.
    pub fn list<'a>(
        &'a self,
        storage: &StorageKey,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .get(storage)
            .into_iter()
            .flat_map(|objects| objects.iter())
            .filter(move |((ns, _), _)| namespace.is_none_or(|wanted| wanted == ns))
            .map(|(_, object)| object)
    }

    /// Every stored object with its storage.
    pub fn all(&self) -> impl Iterator<Item = (&StorageKey, &Value)> {
        self.objects
            .iter()
            .flat_map(|(storage, objects)| objects.values().map(move |object| (storage, object)))
    }

    /// Whether an object with `uid` exists.
    pub fn has_uid(&self, uid: &str) -> bool {
        self.uids.contains_key(uid)
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn key_of(object: &Value) -> ObjectKey {
        (meta::namespace(object).to_owned(), meta::name(object).to_owned())
    }

    /// Stores a new object, giving it the next resourceVersion.
    pub fn insert(&mut self, storage: &StorageKey, mut object: Value) -> Value {
        let rv = self.next_rv();
        meta::metadata_mut(&mut object).insert("resourceVersion".to_owned(), Value::from(rv.to_string()));
        let key = Self::key_of(&object);
        let uid = meta::uid(&object).to_owned();
        if !uid.is_empty() {
            self.uids.insert(uid, (storage.clone(), key.clone()));
        }
        self.objects
            .entry(storage.clone())
            .or_default()
            .insert(key, object.clone());
        self.record(Change {
            rv,
            kind: ChangeType::Added,
            storage: storage.clone(),
            object: object.clone(),
            previous: None,
        });
        object
    }

    /// Replaces a stored object, giving it the next resourceVersion.
    pub fn update(&mut self, storage: &StorageKey, mut object: Value) -> Value {
        let rv = self.next_rv();
        meta::metadata_mut(&mut object).insert("resourceVersion".to_owned(), Value::from(rv.to_string()));
        let key = Self::key_of(&object);
        let previous = self
            .objects
            .entry(storage.clone())
            .or_default()
            .insert(key, object.clone());
        self.record(Change {
            rv,
            kind: ChangeType::Modified,
            storage: storage.clone(),
            object: object.clone(),
            previous,
        });
        object
    }

    /// Removes an object; the deleted object carries the deletion's resourceVersion.
    pub fn remove(&mut self, storage: &StorageKey, namespace: &str, name: &str) -> Option<Value> {
        let key = (namespace.to_owned(), name.to_owned());
        let previous = self.objects.get_mut(storage)?.remove(&key)?;
        self.uids.remove(meta::uid(&previous));
        let rv = self.next_rv();
        let mut object = previous.clone();
        meta::metadata_mut(&mut object).insert("resourceVersion".to_owned(), Value::from(rv.to_string()));
        self.record(Change {
            rv,
            kind: ChangeType::Deleted,
            storage: storage.clone(),
            object: object.clone(),
            previous: Some(previous),
        });
        Some(object)
    }

    /// Forgets a storage that no longer has a served resource.
    pub fn drop_storage(&mut self, storage: &StorageKey) {
        if let Some(objects) = self.objects.remove(storage) {
            for object in objects.values() {
                self.uids.remove(meta::uid(object));
            }
        }
    }

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        self.history.push_back(change.clone());
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted = dropped.rv;
            }
        }
        // No open watch is not an error.
        let _ = self.changes.send(change);
    }

    /// The changes after `rv`, or why a watch cannot resume from it.
    pub fn changes_since(&self, rv: u64) -> Result<Vec<Arc<Change>>, Resume> {
        if rv < self.compacted {
            return Err(Resume::TooOld {
                compacted: self.compacted,
            });
        }
        if rv > self.rv {
            return Err(Resume::TooNew { current: self.rv });
        }
        Ok(self
            .history
            .iter()
            .filter(|change| change.rv > rv)
            .cloned()
            .collect())
    }

    /// The oldest resourceVersion a watch may still resume from.
    pub fn compacted_rv(&self) -> u64 {
        self.compacted
    }

    /// Forgets the whole history (as an etcd compaction would) and tells every
    /// open watch to end with 410 Gone, so that their clients relist.
    pub fn expire(&mut self) {
        self.compacted = self.rv;
        self.history.clear();
        self.expiry.send_modify(|generation| *generation += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rv(object: &Value) -> Option<u64> {
        meta::meta_str(object, "resourceVersion").and_then(|rv| rv.parse().ok())
    }

    fn pods() -> StorageKey {
        StorageKey::new("", "pods")
    }

    fn pod(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")}})
    }

    #[test]
    fn every_write_takes_the_next_resource_version() {
        let mut store = Store::new(100, 16);
        let a = store.insert(&pods(), pod("a"));
        let b = store.insert(&pods(), pod("b"));
        assert_eq!(rv(&a), Some(1));
        assert_eq!(rv(&b), Some(2));
        let a2 = store.update(&pods(), a);
        assert_eq!(rv(&a2), Some(3));
        let gone = store.remove(&pods(), "default", "a").expect("removed");
        assert_eq!(rv(&gone), Some(4));
        assert!(!store.has_uid("uid-a"));
        assert!(store.has_uid("uid-b"));
        assert_eq!(store.list(&pods(), Some("default")).count(), 1);
        let since = store.changes_since(2).expect("kept");
        assert_eq!(
            since.iter().map(|c| c.kind).collect::<Vec<_>>(),
            vec![ChangeType::Modified, ChangeType::Deleted]
        );
    }

    #[test]
    fn a_bounded_history_answers_too_old() {
        let mut store = Store::new(2, 16);
        for name in ["a", "b", "c", "d"] {
            store.insert(&pods(), pod(name));
        }
        assert_eq!(
            store.changes_since(1).err(),
            Some(Resume::TooOld { compacted: 2 })
        );
        assert_eq!(store.changes_since(2).expect("kept").len(), 2);
        assert_eq!(store.changes_since(9).err(), Some(Resume::TooNew { current: 4 }));
        store.expire();
        assert!(store.changes_since(3).is_err());
        assert!(store.changes_since(4).expect("current").is_empty());
    }

    #[test]
    fn watchers_receive_changes_in_order() {
        let mut store = Store::new(10, 16);
        let (mut changes, _) = store.subscribe();
        store.insert(&pods(), pod("a"));
        store.remove(&pods(), "default", "a");
        let first = changes.try_recv().expect("added");
        let second = changes.try_recv().expect("deleted");
        assert_eq!((first.rv, first.kind), (1, ChangeType::Added));
        assert_eq!((second.rv, second.kind), (2, ChangeType::Deleted));
    }
}
