//! Between an object as stored and as served in one version.
//!
//! Custom resources use the `None` conversion: only `apiVersion` changes.
//! Events are stored once, as events.k8s.io/v1, and served as core/v1 too
//! (kube's Events recorder writes the former, `kubectl get events` and
//! `kubectl describe` read the latter), with the field renames the real
//! conversion does.

use super::registry::{Representation, ResourceType};
use serde_json::{Map, Value};

/// events.k8s.io/v1 name → core/v1 name.
const EVENT_RENAMES: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(object: Value, renames: impl Iterator<Item = (&'static str, &'static str)>) -> Value {
    let Value::Object(mut map) = object else {
        return object;
    };
    let pending: Vec<(&str, &str)> = renames.collect();
    let mut renamed = Map::new();
    for (from, to) in &pending {
        if let Some(value) = map.remove(*from) {
            renamed.insert((*to).to_owned(), value);
        }
    }
    map.extend(renamed);
    Value::Object(map)
}

/// The stored object as `rt` serves it.
pub(crate) fn to_wire(rt: &ResourceType, stored: &Value) -> Value {
    let mut object = match rt.representation {
        Representation::Native => stored.clone(),
        Representation::CoreEvent => rename(stored.clone(), EVENT_RENAMES.into_iter()),
    };
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".to_owned(), Value::from(rt.api_version()));
        map.insert("kind".to_owned(), Value::from(rt.kind.clone()));
    }
    object
}

/// An object written through `rt`, in stored form.
pub(crate) fn to_storage(rt: &ResourceType, wire: Value) -> Value {
    let mut object = match rt.representation {
        Representation::Native => wire,
        Representation::CoreEvent => rename(wire, EVENT_RENAMES.into_iter().map(|(new, old)| (old, new))),
    };
    if let Some(map) = object.as_object_mut() {
        map.insert(
            "apiVersion".to_owned(),
            Value::from(rt.storage_api_version.clone()),
        );
        map.insert("kind".to_owned(), Value::from(rt.kind.clone()));
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::registry::Registry;
    use serde_json::json;

    #[test]
    fn events_round_trip_between_versions() {
        let registry = Registry::new();
        let core = registry.find("", "v1", "events").expect("core events");
        let stored = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "hello",
            "reportingController": "drmysql", "reason": "Started", "deprecatedCount": 2
        });
        let wire = to_wire(core, &stored);
        assert_eq!(wire["apiVersion"], "v1");
        assert_eq!(wire["involvedObject"]["name"], "p");
        assert_eq!(wire["message"], "hello");
        assert_eq!(wire["reportingComponent"], "drmysql");
        assert_eq!(wire["count"], 2);
        assert!(wire.get("note").is_none());
        assert_eq!(to_storage(core, wire), stored);
    }

    #[test]
    fn native_objects_only_change_api_version() {
        let registry = Registry::new();
        let pods = registry.find("", "v1", "pods").expect("pods");
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"nodeName": "n"}});
        assert_eq!(to_wire(pods, &pod), pod);
    }
}
