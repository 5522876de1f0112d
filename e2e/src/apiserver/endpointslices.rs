//! EndpointSlices for Services: the endpoint-slice controller's job.
//!
//! "The writer Service points to the primary" is checked through the slices,
//! so the simulator keeps them as the real controller does: for every Service
//! with a selector, one slice per address family and resolved port set,
//! named `<service>-<5 chars>`, labelled `kubernetes.io/service-name` and
//! owned by the Service, listing the Pods of the namespace that match the
//! selector and have an IP (not Succeeded or Failed), with `ready` from the
//! Pod's Ready condition (or always, with `publishNotReadyAddresses`),
//! `serving` from it too and `terminating` from `deletionTimestamp`. Named
//! target ports are resolved per Pod from its container ports. A Service
//! without matching Pods keeps one empty slice. Core/v1 Endpoints objects are
//! not maintained.
//!
//! As the real controller, it syncs only the Services a change concerns: a
//! Service written, a Pod written in its namespace (its selector may match the
//! old labels or the new), or one of its slices written.

use super::controllers::Pending;
use super::fields::{self, Writer};
use super::meta;
use super::registry::StorageKey;
use super::store::{Change, Store};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const CONTROLLER: &str = "endpointslice-controller.k8s.io";
const SERVICE_NAME: &str = "kubernetes.io/service-name";

fn slices_key() -> StorageKey {
    StorageKey::new("discovery.k8s.io", "endpointslices")
}

fn services_key() -> StorageKey {
    StorageKey::new("", "services")
}

fn pods_key() -> StorageKey {
    StorageKey::new("", "pods")
}

/// One slice's worth of endpoints: (address type, ports as JSON text) → (ports, endpoints).
type Groups = BTreeMap<(String, String), (Vec<Value>, Vec<Value>)>;

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn selector_matches(selector: &serde_json::Map<String, Value>, pod: &Value) -> bool {
    let labels = meta::labels(pod);
    selector.iter().all(|(key, value)| {
        value
            .as_str()
            .is_some_and(|value| labels.get(key).is_some_and(|l| l == value))
    })
}

/// The port a Service port targets on `pod`, when it resolves.
fn resolve_port(service_port: &Value, pod: &Value) -> Option<Value> {
    let target = service_port.get("targetPort").unwrap_or(&service_port["port"]);
    let number = match target {
        Value::Number(number) => number.as_u64()?,
        Value::String(name) => pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .find(|p| p["name"].as_str() == Some(name.as_str()))
            .and_then(|p| p["containerPort"].as_u64())?,
        _ => return None,
    };
    let mut port = json!({
        "name": service_port["name"].as_str().unwrap_or_default(),
        "port": number,
        "protocol": service_port["protocol"].as_str().unwrap_or("TCP"),
    });
    if let Some(app) = service_port["appProtocol"].as_str() {
        port["appProtocol"] = json!(app);
    }
    Some(port)
}

fn desired_groups(service: &Value, pods: &[&Value]) -> Groups {
    let selector = service["spec"]["selector"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let publish_not_ready = service["spec"]["publishNotReadyAddresses"].as_bool() == Some(true);
    let service_ports = service["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let mut groups = Groups::new();
    for pod in pods {
        if !selector_matches(&selector, pod) {
            continue;
        }
        if matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed")) {
            continue;
        }
        let Some(ip) = pod["status"]["podIP"].as_str().filter(|ip| !ip.is_empty()) else {
            continue;
        };
        let address_type = if ip.contains(':') { "IPv6" } else { "IPv4" };
        let ports: Vec<Value> = service_ports
            .iter()
            .filter_map(|p| resolve_port(p, pod))
            .collect();
        let ready = is_ready(pod);
        let terminating = meta::is_deleting(pod);
        let mut endpoint = json!({
            "addresses": [ip],
            "conditions": {
                "ready": publish_not_ready || (ready && !terminating),
                "serving": publish_not_ready || ready,
                "terminating": terminating,
            },
            "targetRef": {
                "kind": "Pod",
                "namespace": meta::namespace(pod),
                "name": meta::name(pod),
                "uid": meta::uid(pod),
            },
        });
        if let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            endpoint["nodeName"] = json!(node);
        }
        let key = (address_type.to_owned(), Value::from(ports.clone()).to_string());
        groups
            .entry(key)
            .or_insert_with(|| (ports, Vec::new()))
            .1
            .push(endpoint);
    }
    if groups.is_empty() {
        groups.insert(("IPv4".to_owned(), "[]".to_owned()), (Vec::new(), Vec::new()));
    }
    groups
}

fn slice_labels(service: &Value) -> Value {
    let mut labels: serde_json::Map<String, Value> = meta::labels(service)
        .into_iter()
        .map(|(k, v)| (k, Value::from(v)))
        .collect();
    labels.insert(SERVICE_NAME.to_owned(), json!(meta::name(service)));
    labels.insert(MANAGED_BY.to_owned(), json!(CONTROLLER));
    Value::Object(labels)
}

fn fill(slice: &mut Value, service: &Value, address_type: &str, ports: &[Value], endpoints: &[Value]) {
    let root = meta::ensure_object(slice);
    root.insert("apiVersion".to_owned(), json!("discovery.k8s.io/v1"));
    root.insert("kind".to_owned(), json!("EndpointSlice"));
    root.insert("addressType".to_owned(), json!(address_type));
    root.insert("endpoints".to_owned(), Value::from(endpoints.to_vec()));
    if ports.is_empty() {
        root.remove("ports");
    } else {
        root.insert("ports".to_owned(), Value::from(ports.to_vec()));
    }
    let metadata = meta::metadata_mut(slice);
    metadata.insert("labels".to_owned(), slice_labels(service));
    metadata.insert(
        "ownerReferences".to_owned(),
        json!([{
            "apiVersion": "v1",
            "kind": "Service",
            "name": meta::name(service),
            "uid": meta::uid(service),
            "controller": true,
            "blockOwnerDeletion": true,
        }]),
    );
}

fn controller_writer() -> Writer {
    Writer {
        manager: CONTROLLER.to_owned(),
        api_version: "discovery.k8s.io/v1".to_owned(),
        subresource: String::new(),
        time: meta::now(),
    }
}

fn record(old: Option<&Value>, new: &mut Value) {
    let mut entries = old.map(fields::read).unwrap_or_default();
    fields::record_update(&mut entries, old, new, &controller_writer());
    fields::write(new, &entries);
}

/// The Services, as `(namespace, name)`, whose slices `changes` may have
/// made stale.
pub(crate) fn concerned(store: &Store, changes: &[Arc<Change>]) -> BTreeSet<(String, String)> {
    let mut services = BTreeSet::new();
    let mut pod_namespaces = BTreeSet::new();
    for change in changes {
        let namespace = meta::namespace(&change.object);
        if change.storage == services_key() {
            services.insert((namespace.to_owned(), meta::name(&change.object).to_owned()));
        } else if change.storage == pods_key() {
            pod_namespaces.insert(namespace.to_owned());
        } else if change.storage == slices_key() {
            for slice in std::iter::once(&change.object).chain(change.previous.as_ref()) {
                if let Some(service) = meta::labels(slice).remove(SERVICE_NAME) {
                    services.insert((namespace.to_owned(), service));
                }
            }
        }
    }
    if !pod_namespaces.is_empty() {
        services.extend(
            store
                .list(&services_key(), None)
                .filter(|service| pod_namespaces.contains(meta::namespace(service)))
                .map(|service| {
                    (
                        meta::namespace(service).to_owned(),
                        meta::name(service).to_owned(),
                    )
                }),
        );
    }
    services
}

/// Brings the slices of every Service `work` concerns up to date; whether
/// anything was written.
pub(crate) fn reconcile(store: &mut Store, work: &Pending) -> bool {
    let services: Vec<Value> = match work {
        Pending::Everything => store
            .list(&services_key(), None)
            .filter(|s| !meta::is_deleting(s))
            .cloned()
            .collect(),
        Pending::Changes(changes) => concerned(store, changes)
            .into_iter()
            .filter_map(|(namespace, name)| store.get(&services_key(), &namespace, &name))
            .filter(|s| !meta::is_deleting(s))
            .cloned()
            .collect(),
    };
    let mut changed = false;
    for service in &services {
        match reconcile_service(store, service) {
            Ok(written) => changed |= written,
            Err(error) => tracing::warn!(service = meta::name(service), %error, "EndpointSlice not written"),
        }
    }
    changed
}

fn reconcile_service(store: &mut Store, service: &Value) -> Result<bool, String> {
    let namespace = meta::namespace(service).to_owned();
    let name = meta::name(service).to_owned();
    let existing: Vec<Value> = store
        .list(&slices_key(), Some(&namespace))
        .filter(|slice| {
            let labels = meta::labels(slice);
            labels.get(SERVICE_NAME) == Some(&name)
                && labels.get(MANAGED_BY).map(String::as_str) == Some(CONTROLLER)
        })
        .cloned()
        .collect();
    let has_selector = service["spec"]["selector"]
        .as_object()
        .is_some_and(|s| !s.is_empty())
        && service["spec"]["type"] != "ExternalName";
    let mut changed = false;
    if !has_selector {
        for slice in &existing {
            store.remove(&slices_key(), &namespace, meta::name(slice));
            changed = true;
        }
        return Ok(changed);
    }
    let pods: Vec<Value> = store.list(&pods_key(), Some(&namespace)).cloned().collect();
    let pod_refs: Vec<&Value> = pods.iter().collect();
    let groups = desired_groups(service, &pod_refs);
    let mut unused: Vec<Value> = existing;
    for ((address_type, _), (ports, endpoints)) in &groups {
        let position = unused.iter().position(|slice| {
            slice["addressType"] == address_type.as_str()
                && slice["ports"].as_array().map(Vec::as_slice).unwrap_or_default() == ports.as_slice()
        });
        match position {
            Some(index) => {
                let old = unused.remove(index);
                let mut slice = old.clone();
                fill(&mut slice, service, address_type, ports, endpoints);
                if slice != old {
                    let generation = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
                    meta::metadata_mut(&mut slice).insert("generation".to_owned(), json!(generation));
                    record(Some(&old), &mut slice);
                    store.update(&slices_key(), slice);
                    changed = true;
                }
            }
            None => {
                let mut slice = json!({"metadata": {
                    "name": format!("{name}-{}", meta::random_suffix().map_err(|e| e.message)?),
                    "generateName": format!("{name}-"),
                    "namespace": namespace,
                    "uid": meta::new_uid().map_err(|e| e.message)?,
                    "creationTimestamp": meta::now(),
                    "generation": 1,
                }});
                fill(&mut slice, service, address_type, ports, endpoints);
                record(None, &mut slice);
                store.insert(&slices_key(), slice);
                changed = true;
            }
        }
    }
    for slice in unused {
        store.remove(&slices_key(), &namespace, meta::name(&slice));
        changed = true;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, role: &str, ip: Option<&str>, ready: bool) -> Value {
        let mut pod = json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                                          "labels": {"app": "orders", "role": role}},
                             "spec": {"nodeName": "n1", "containers": [{"name": "mysqld",
                                      "ports": [{"name": "mysql", "containerPort": 3306}]}]},
                             "status": {"phase": "Running", "conditions": [
                                 {"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        if let Some(ip) = ip {
            pod["status"]["podIP"] = json!(ip);
        }
        pod
    }

    fn service(target: Value) -> Value {
        json!({"metadata": {"name": "orders-primary", "namespace": "default", "uid": "svc"},
               "spec": {"selector": {"app": "orders", "role": "primary"},
                        "ports": [{"name": "mysql", "port": 3306, "targetPort": target, "protocol": "TCP"}]}})
    }

    #[test]
    fn matching_pods_with_an_ip_become_endpoints() {
        let pods = [
            pod("a", "primary", Some("10.0.0.1"), true),
            pod("b", "primary", Some("10.0.0.2"), false),
            pod("c", "primary", None, true),
            pod("d", "replica", Some("10.0.0.4"), true),
        ];
        let refs: Vec<&Value> = pods.iter().collect();
        let groups = desired_groups(&service(json!(3306)), &refs);
        assert_eq!(groups.len(), 1);
        let ((address_type, _), (ports, endpoints)) = groups.iter().next().expect("one group");
        assert_eq!(address_type, "IPv4");
        assert_eq!(ports[0]["port"], 3306);
        let summary: Vec<(String, bool)> = endpoints
            .iter()
            .map(|e| {
                (
                    e["addresses"][0].as_str().unwrap_or_default().to_owned(),
                    e["conditions"]["ready"].as_bool().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![("10.0.0.1".to_owned(), true), ("10.0.0.2".to_owned(), false)]
        );
    }

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let pods = [pod("a", "primary", Some("10.0.0.1"), true)];
        let refs: Vec<&Value> = pods.iter().collect();
        let groups = desired_groups(&service(json!("mysql")), &refs);
        let (_, (ports, _)) = groups.iter().next().expect("one group");
        assert_eq!(ports[0]["port"], 3306);
    }

    #[test]
    fn a_service_without_pods_keeps_an_empty_slice() {
        let groups = desired_groups(&service(json!(3306)), &[]);
        assert_eq!(groups.len(), 1);
        assert!(groups.values().all(|(_, endpoints)| endpoints.is_empty()));
    }

    #[test]
    fn slices_follow_pods_in_the_store() {
        let mut store = Store::new(100, 16);
        store.insert(&StorageKey::new("", "services"), service(json!(3306)));
        store.insert(
            &StorageKey::new("", "pods"),
            pod("a", "primary", Some("10.0.0.1"), false),
        );
        assert!(reconcile(&mut store, &Pending::Everything));
        assert!(
            !reconcile(&mut store, &Pending::Everything),
            "a second pass has nothing to do"
        );
        let slice = store
            .list(&slices_key(), Some("default"))
            .next()
            .expect("slice")
            .clone();
        assert!(meta::name(&slice).starts_with("orders-primary-"));
        assert_eq!(slice["endpoints"][0]["conditions"]["ready"], false);
        store.update(
            &StorageKey::new("", "pods"),
            pod("a", "primary", Some("10.0.0.1"), true),
        );
        assert!(reconcile(&mut store, &Pending::Everything));
        let slice = store.list(&slices_key(), Some("default")).next().expect("slice");
        assert_eq!(slice["endpoints"][0]["conditions"]["ready"], true);
        assert_eq!(slice["metadata"]["labels"][SERVICE_NAME], "orders-primary");
    }
}
