//! Field ownership (`metadata.managedFields`).
//!
//! Server-side apply needs to know who set what: kube-lease-manager's lock is
//! an apply of `spec.holderIdentity` that must fail with 409 when another
//! manager holds it, and an applier that stops applying a field expects it
//! removed. Ownership is tracked per leaf: a scalar, a list (lists are atomic
//! here, see the README) or an empty object. Entries are kept in the object's
//! `managedFields` in the real `FieldsV1` encoding (`{"f:spec":{"f:x":{}}}`),
//! keyed by manager, operation and subresource as the real server keys them.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// A path of field names from the object's root.
pub(crate) type FieldPath = Vec<String>;

/// Metadata fields the server owns; they are never tracked.
const SERVER_METADATA: [&str; 10] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Which part of an object a write covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Everything but `status`.
    Main,
    /// Only `status`.
    Status,
    /// Everything (kinds without a status subresource).
    Whole,
}

impl Part {
    fn includes(self, top: &str) -> bool {
        match self {
            Part::Main => top != "status",
            Part::Status => top == "status",
            Part::Whole => true,
        }
    }
}

/// The tracked leaves of `object` within `part`.
pub(crate) fn leaves(object: &Value, part: Part) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    if let Some(root) = object.as_object() {
        for (key, value) in root {
            if matches!(key.as_str(), "apiVersion" | "kind") || !part.includes(key) {
                continue;
            }
            if key == "metadata" {
                if let Some(metadata) = value.as_object() {
                    for (field, child) in metadata {
                        if !SERVER_METADATA.contains(&field.as_str()) {
                            collect(child, vec![key.clone(), field.clone()], &mut out);
                        }
                    }
                }
                continue;
            }
            collect(value, vec![key.clone()], &mut out);
        }
    }
    out
}

fn collect(value: &Value, path: FieldPath, out: &mut BTreeSet<FieldPath>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let mut child_path = path.clone();
                child_path.push(key.clone());
                collect(child, child_path, out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// The value at `path`.
pub(crate) fn get<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(object, |current, key| current.get(key))
}

/// Removes the value at `path` (parents stay).
pub(crate) fn remove(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = object;
    for key in parents {
        match current.get_mut(key) {
            Some(next) => current = next,
            None => return,
        }
    }
    if let Some(map) = current.as_object_mut() {
        map.remove(last);
    }
}

/// `.spec.holderIdentity`, as conflicts name a field.
pub(crate) fn display(path: &[String]) -> String {
    path.iter().map(|key| format!(".{key}")).collect()
}

/// `FieldsV1` for a set of leaves.
pub(crate) fn to_fields_v1(paths: &BTreeSet<FieldPath>) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut current = &mut root;
        for key in path {
            let entry = current
                .entry(format!("f:{key}"))
                .or_insert_with(|| Value::Object(Map::new()));
            current = super::meta::ensure_object(entry);
        }
    }
    Value::Object(root)
}

/// The leaves a `FieldsV1` lists. Keys other than `f:` (list keys, set
/// values, the `.` self marker) are not produced by the simulator; they make
/// their parent a leaf.
pub(crate) fn from_fields_v1(fields: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    walk_fields(fields, Vec::new(), &mut out);
    out
}

fn walk_fields(node: &Value, path: FieldPath, out: &mut BTreeSet<FieldPath>) {
    let children: Vec<(&String, &Value)> = node
        .as_object()
        .map(|map| map.iter().filter(|(key, _)| key.starts_with("f:")).collect())
        .unwrap_or_default();
    let opaque = node
        .as_object()
        .is_some_and(|map| map.keys().any(|key| !key.starts_with("f:")));
    if (children.is_empty() || opaque) && !path.is_empty() {
        out.insert(path.clone());
    }
    for (key, child) in children {
        let mut child_path = path.clone();
        child_path.push(key[2..].to_owned());
        walk_fields(child, child_path, out);
    }
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: String,
    pub fields: BTreeSet<FieldPath>,
}

impl Entry {
    fn same_key(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }
}

/// The entries of `object`'s `managedFields`.
pub(crate) fn read(object: &Value) -> Vec<Entry> {
    object
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|entry| {
                    let text = |key: &str| entry[key].as_str().unwrap_or_default().to_owned();
                    Entry {
                        manager: text("manager"),
                        operation: text("operation"),
                        api_version: text("apiVersion"),
                        time: text("time"),
                        subresource: text("subresource"),
                        fields: from_fields_v1(&entry["fieldsV1"]),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `entries` as `object`'s `managedFields`, dropping empty ones.
pub(crate) fn write(object: &mut Value, entries: &[Entry]) {
    let rendered: Vec<Value> = entries
        .iter()
        .filter(|entry| !entry.fields.is_empty())
        .map(|entry| {
            let mut value = json!({
                "manager": entry.manager,
                "operation": entry.operation,
                "apiVersion": entry.api_version,
                "time": entry.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&entry.fields),
            });
            if !entry.subresource.is_empty() {
                value["subresource"] = json!(entry.subresource);
            }
            value
        })
        .collect();
    let metadata = super::meta::metadata_mut(object);
    if rendered.is_empty() {
        metadata.remove("managedFields");
    } else {
        metadata.insert("managedFields".to_owned(), Value::Array(rendered));
    }
}

/// Who a write is recorded for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Writer {
    pub manager: String,
    pub api_version: String,
    pub subresource: String,
    pub time: String,
}

/// Records a non-apply write from `old` to `new`: the writer takes the leaves
/// it added or changed; leaves that no longer exist are dropped from everyone.
pub(crate) fn record_update(entries: &mut Vec<Entry>, old: Option<&Value>, new: &Value, writer: &Writer) {
    let now_leaves = leaves(new, Part::Whole);
    for entry in entries.iter_mut() {
        entry.fields.retain(|path| now_leaves.contains(path));
    }
    let changed: BTreeSet<FieldPath> = now_leaves
        .into_iter()
        .filter(|path| old.and_then(|old| get(old, path)) != get(new, path))
        .collect();
    if changed.is_empty() {
        entries.retain(|entry| !entry.fields.is_empty());
        return;
    }
    for entry in entries.iter_mut() {
        entry.fields.retain(|path| !changed.contains(path));
    }
    let position = entries
        .iter()
        .position(|entry| entry.same_key(&writer.manager, "Update", &writer.subresource));
    let entry = match position {
        Some(index) => &mut entries[index],
        None => {
            entries.push(Entry {
                manager: writer.manager.clone(),
                operation: "Update".to_owned(),
                api_version: writer.api_version.clone(),
                time: writer.time.clone(),
                subresource: writer.subresource.clone(),
                fields: BTreeSet::new(),
            });
            let last = entries.len() - 1;
            &mut entries[last]
        }
    };
    entry.fields.extend(changed);
    entry.time = writer.time.clone();
    entry.api_version = writer.api_version.clone();
    entries.retain(|entry| !entry.fields.is_empty());
}

/// Drops from every entry the leaves `object` no longer has.
pub(crate) fn prune_missing(entries: &mut Vec<Entry>, object: &Value) {
    let now_leaves = leaves(object, Part::Whole);
    for entry in entries.iter_mut() {
        entry.fields.retain(|path| now_leaves.contains(path));
    }
    entries.retain(|entry| !entry.fields.is_empty());
}

/// The entry of `writer`'s applies, created when missing.
pub(crate) fn apply_entry<'a>(entries: &'a mut Vec<Entry>, writer: &Writer) -> &'a mut Entry {
    let position = entries
        .iter()
        .position(|entry| entry.same_key(&writer.manager, "Apply", &writer.subresource));
    match position {
        Some(index) => &mut entries[index],
        None => {
            entries.push(Entry {
                manager: writer.manager.clone(),
                operation: "Apply".to_owned(),
                api_version: writer.api_version.clone(),
                time: writer.time.clone(),
                subresource: writer.subresource.clone(),
                fields: BTreeSet::new(),
            });
            let last = entries.len() - 1;
            &mut entries[last]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> FieldPath {
        text.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn leaves_skip_server_metadata_and_honour_the_part() {
        let object = json!({
            "apiVersion": "v1", "kind": "X",
            "metadata": {"name": "a", "resourceVersion": "3", "labels": {"app": "x"}},
            "spec": {"a": 1, "b": {"c": [1, 2]}, "empty": {}},
            "status": {"phase": "Ready"}
        });
        let main = leaves(&object, Part::Main);
        assert!(main.contains(&path("metadata.labels.app")));
        assert!(main.contains(&path("spec.b.c")));
        assert!(main.contains(&path("spec.empty")));
        assert!(!main.iter().any(|p| p[0] == "status"));
        assert!(!main.contains(&path("metadata.name")));
        let status = leaves(&object, Part::Status);
        assert_eq!(status.into_iter().collect::<Vec<_>>(), vec![path("status.phase")]);
    }

    #[test]
    fn fields_v1_round_trips() {
        let paths: BTreeSet<FieldPath> = [
            path("spec.holderIdentity"),
            path("spec.renewTime"),
            path("metadata.labels.a"),
        ]
        .into_iter()
        .collect();
        let encoded = to_fields_v1(&paths);
        assert_eq!(encoded["f:spec"]["f:holderIdentity"], json!({}));
        assert_eq!(from_fields_v1(&encoded), paths);
    }

    #[test]
    fn updates_take_changed_leaves_from_other_managers() {
        let writer = |manager: &str| Writer {
            manager: manager.to_owned(),
            api_version: "v1".to_owned(),
            subresource: String::new(),
            time: "t".to_owned(),
        };
        let mut entries = Vec::new();
        let first = json!({"spec": {"a": 1, "b": 2}});
        record_update(&mut entries, None, &first, &writer("one"));
        assert_eq!(entries.len(), 1);
        let second = json!({"spec": {"a": 1, "b": 3}});
        record_update(&mut entries, Some(&first), &second, &writer("two"));
        assert_eq!(entries[0].fields, [path("spec.a")].into_iter().collect());
        assert_eq!(entries[1].fields, [path("spec.b")].into_iter().collect());
        let third = json!({"spec": {"b": 3}});
        record_update(&mut entries, Some(&second), &third, &writer("two"));
        assert_eq!(entries.len(), 1, "manager one owns nothing any more");
        let mut written = third.clone();
        write(&mut written, &entries);
        assert_eq!(read(&written), entries);
    }

    #[test]
    fn remove_and_get_follow_paths() {
        let mut object = json!({"spec": {"a": {"b": 1}, "c": 2}});
        assert_eq!(get(&object, &path("spec.a.b")), Some(&json!(1)));
        remove(&mut object, &path("spec.a.b"));
        remove(&mut object, &path("spec.missing.x"));
        assert_eq!(object, json!({"spec": {"a": {}, "c": 2}}));
        assert_eq!(display(&path("spec.c")), ".spec.c");
    }
}
