//! What the real server does to built-in kinds on create and update, for the
//! kinds and fields the project relies on.
//!
//! - Pods start `Pending` with a computed QoS class; status is reset on create.
//! - Services get their defaults (type, session affinity, protocol,
//!   targetPort, IP family), a cluster IP from 10.96.0.0/12 and node ports
//!   from 30000-32767 where their type needs them; an update that leaves them
//!   out keeps the allocated ones, as the real server does. No load balancer
//!   is ever provisioned.
//! - PersistentVolumeClaims start `Pending` (nothing binds them).
//! - Namespaces start `Active` with the `kubernetes` finalizer.
//! - CustomResourceDefinitions start without status (the CRD controller in
//!   `controllers` sets `Established`).
//! - `pods/binding` sets `spec.nodeName` once, with the PodScheduled condition.
//! - Secrets' `stringData` is merged into `data` (base64) and dropped, on
//!   create and update, so readers see only `data`.
//!
//! Other defaulting and validation of built-in kinds is not done (see the README).

use super::error::ApiError;
use super::meta;
use super::store::Store;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// First cluster IP handed out (10.96.0.1 is the `kubernetes` Service's on a real cluster).
const CLUSTER_IP_BASE: u32 = u32::from_be_bytes([10, 96, 0, 10]);
const CLUSTER_IP_LAST: u32 = u32::from_be_bytes([10, 111, 255, 254]);
const NODE_PORT_FIRST: u16 = 30000;
const NODE_PORT_LAST: u16 = 32767;

/// Create-time defaults and status of a built-in kind.
pub(crate) fn on_create(
    store: &mut Store,
    group: &str,
    resource: &str,
    object: &mut Value,
) -> Result<(), ApiError> {
    let root = meta::ensure_object(object);
    match (group, resource) {
        ("", "pods") => {
            let qos = qos_class(root.get("spec").unwrap_or(&Value::Null));
            root.insert("status".to_owned(), json!({"phase": "Pending", "qosClass": qos}));
        }
        ("", "services") => {
            root.insert("status".to_owned(), json!({"loadBalancer": {}}));
            default_service(store, object, None)?;
        }
        ("", "persistentvolumeclaims") => {
            root.insert("status".to_owned(), json!({"phase": "Pending"}));
        }
        ("", "namespaces") => {
            root.insert("spec".to_owned(), json!({"finalizers": ["kubernetes"]}));
            root.insert("status".to_owned(), json!({"phase": "Active"}));
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            root.remove("status");
        }
        ("", "secrets") => merge_string_data(object)?,
        _ => {}
    }
    Ok(())
}

/// Moves a Secret's `stringData` into `data`, base64-encoded, over any
/// existing key, as the real server does on every write.
fn merge_string_data(secret: &mut Value) -> Result<(), ApiError> {
    use base64::Engine as _;
    let root = meta::ensure_object(secret);
    let Some(string_data) = root.remove("stringData") else {
        return Ok(());
    };
    let Value::Object(entries) = string_data else {
        return Err(ApiError::bad_request(
            "Secret stringData must be a map of strings",
        ));
    };
    let data = root.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    for (key, value) in entries {
        let Value::String(text) = value else {
            return Err(ApiError::bad_request(format!(
                "Secret stringData.{key} must be a string"
            )));
        };
        data[key.as_str()] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
    Ok(())
}

/// Update rules of a built-in kind, from `old` to `new`.
pub(crate) fn on_update(
    store: &mut Store,
    group: &str,
    resource: &str,
    old: &Value,
    new: &mut Value,
) -> Result<(), ApiError> {
    match (group, resource) {
        ("", "services") => default_service(store, new, Some(old)),
        ("", "secrets") => merge_string_data(new),
        ("", "namespaces") => {
            // spec.finalizers is changed only through namespaces/finalize (not implemented).
            if let Some(spec) = old.get("spec") {
                meta::ensure_object(new).insert("spec".to_owned(), spec.clone());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|key| spec.get(*key).and_then(Value::as_array))
        .flatten()
        .collect();
    let amount = |container: &Value, kind: &str, resource: &str| {
        container
            .get("resources")
            .and_then(|r| r.get(kind))
            .and_then(|r| r.get(resource))
            .cloned()
    };
    let any_set = containers.iter().any(|c| {
        ["requests", "limits"]
            .iter()
            .any(|kind| ["cpu", "memory"].iter().any(|res| amount(c, kind, res).is_some()))
    });
    if !any_set {
        return "BestEffort";
    }
    let guaranteed = !containers.is_empty()
        && containers.iter().all(|c| {
            ["cpu", "memory"].iter().all(|res| {
                let limit = amount(c, "limits", res);
                let request = amount(c, "requests", res).or_else(|| limit.clone());
                limit.is_some() && limit == request
            })
        });
    if guaranteed { "Guaranteed" } else { "Burstable" }
}

fn used_cluster_ips(store: &Store) -> BTreeSet<String> {
    store
        .list(&super::registry::StorageKey::new("", "services"), None)
        .filter_map(|s| s["spec"]["clusterIP"].as_str().map(str::to_owned))
        .collect()
}

fn used_node_ports(store: &Store) -> BTreeSet<u64> {
    store
        .list(&super::registry::StorageKey::new("", "services"), None)
        .flat_map(|s| s["spec"]["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["nodePort"].as_u64())
        .collect()
}

fn allocate_cluster_ip(store: &mut Store) -> Result<String, ApiError> {
    let used = used_cluster_ips(store);
    let span = CLUSTER_IP_LAST - CLUSTER_IP_BASE + 1;
    for _ in 0..span {
        let offset = store.allocations.next_cluster_ip % span;
        store.allocations.next_cluster_ip = store.allocations.next_cluster_ip.wrapping_add(1);
        let ip = Ipv4Addr::from(CLUSTER_IP_BASE + offset).to_string();
        if !used.contains(&ip) {
            return Ok(ip);
        }
    }
    Err(ApiError::internal("the service cluster IP range is exhausted"))
}

fn allocate_node_port(store: &mut Store, taken: &BTreeSet<u64>) -> Result<u64, ApiError> {
    let span = NODE_PORT_LAST - NODE_PORT_FIRST + 1;
    for _ in 0..span {
        let port = u64::from(NODE_PORT_FIRST + store.allocations.next_node_port % span);
        store.allocations.next_node_port = store.allocations.next_node_port.wrapping_add(1);
        if !taken.contains(&port) {
            return Ok(port);
        }
    }
    Err(ApiError::internal("the node port range is exhausted"))
}

fn default_service(store: &mut Store, service: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    let old_spec = old
        .and_then(|old| old.get("spec"))
        .cloned()
        .unwrap_or(Value::Null);
    let spec = meta::ensure_object(meta::ensure_object(service).entry("spec").or_insert(Value::Null));
    let service_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_owned();
    spec.insert("type".to_owned(), json!(service_type));
    spec.entry("sessionAffinity").or_insert(json!("None"));
    if service_type == "ExternalName" {
        return Ok(());
    }
    spec.entry("internalTrafficPolicy").or_insert(json!("Cluster"));
    let needs_node_ports = matches!(service_type.as_str(), "NodePort" | "LoadBalancer");
    if needs_node_ports {
        spec.entry("externalTrafficPolicy").or_insert(json!("Cluster"));
    }
    if service_type == "LoadBalancer" {
        spec.entry("allocateLoadBalancerNodePorts").or_insert(json!(true));
    }
    let cluster_ip = match spec.get("clusterIP").and_then(Value::as_str) {
        Some(ip) if !ip.is_empty() => ip.to_owned(),
        _ => match old_spec["clusterIP"].as_str() {
            Some(ip) if !ip.is_empty() => ip.to_owned(),
            _ => allocate_cluster_ip(store)?,
        },
    };
    let spec = meta::ensure_object(meta::ensure_object(service).entry("spec").or_insert(Value::Null));
    spec.insert("clusterIP".to_owned(), json!(cluster_ip));
    spec.insert("clusterIPs".to_owned(), json!([cluster_ip]));
    if cluster_ip != "None" {
        spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
        spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
    }
    let mut ports = spec
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut taken = used_node_ports(store);
    let old_ports = old_spec["ports"].as_array().cloned().unwrap_or_default();
    for port in &mut ports {
        let entry = meta::ensure_object(port);
        entry.entry("protocol").or_insert(json!("TCP"));
        if let Some(number) = entry.get("port").cloned() {
            entry.entry("targetPort").or_insert(number);
        }
        if needs_node_ports && entry.get("nodePort").is_none() {
            let previous = old_ports
                .iter()
                .find(|old| old["port"] == entry["port"] && old["protocol"] == entry["protocol"])
                .and_then(|old| old["nodePort"].as_u64());
            let node_port = match previous {
                Some(port) => port,
                None => allocate_node_port(store, &taken)?,
            };
            taken.insert(node_port);
            entry.insert("nodePort".to_owned(), json!(node_port));
        }
    }
    if !ports.is_empty() {
        let spec = meta::ensure_object(meta::ensure_object(service).entry("spec").or_insert(Value::Null));
        spec.insert("ports".to_owned(), Value::Array(ports));
    }
    Ok(())
}

/// `pods/binding`: the node to bind `pod` to, from a Binding body.
pub(crate) fn bind(pod: &mut Value, binding: &Value) -> Result<(), String> {
    let target = binding["target"]["name"].as_str().unwrap_or_default();
    if target.is_empty() {
        return Err("target.name: Required value".to_owned());
    }
    if let Some(kind) = binding["target"]["kind"].as_str()
        && !kind.is_empty()
        && kind != "Node"
    {
        return Err(format!(
            "target.kind: Invalid value: \"{kind}\": must be empty or 'Node'"
        ));
    }
    if let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        return Err(format!(
            "pod {} is already assigned to node \"{node}\"",
            meta::name(pod)
        ));
    }
    let root = meta::ensure_object(pod);
    meta::ensure_object(root.entry("spec").or_insert(Value::Null))
        .insert("nodeName".to_owned(), json!(target));
    let status = meta::ensure_object(root.entry("status").or_insert(Value::Null));
    let conditions = status.entry("conditions").or_insert(json!([]));
    if let Some(list) = conditions.as_array_mut() {
        list.retain(|c| c["type"] != "PodScheduled");
        list.push(
            json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                         "lastTransitionTime": meta::now()}),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_string_data_is_merged_into_data() {
        let mut store = Store::new(10, 16);
        let mut secret = json!({"metadata": {"name": "s"}, "data": {"a": "b2xk", "keep": "eA=="},
            "stringData": {"a": "new", "b": "pw"}});
        on_create(&mut store, "", "secrets", &mut secret).expect("create");
        assert_eq!(secret["data"], json!({"a": "bmV3", "b": "cHc=", "keep": "eA=="}));
        assert!(secret.get("stringData").is_none());
        let old = secret.clone();
        let mut update = json!({"metadata": {"name": "s"}, "stringData": {"c": "x"}});
        on_update(&mut store, "", "secrets", &old, &mut update).expect("update");
        assert_eq!(update["data"], json!({"c": "eA=="}));
        let mut bad = json!({"metadata": {"name": "s"}, "stringData": {"n": 1}});
        assert!(on_create(&mut store, "", "secrets", &mut bad).is_err());
    }

    #[test]
    fn services_get_defaults_and_a_cluster_ip_that_survives_updates() {
        let mut store = Store::new(10, 16);
        let mut service = json!({"metadata": {"name": "s"}, "spec": {"selector": {"a": "b"},
            "ports": [{"port": 3306}], "type": "NodePort"}});
        on_create(&mut store, "", "services", &mut service).expect("create");
        let spec = &service["spec"];
        assert_eq!(spec["clusterIP"], "10.96.0.10");
        assert_eq!(spec["ports"][0]["targetPort"], 3306);
        assert_eq!(spec["ports"][0]["protocol"], "TCP");
        assert_eq!(spec["ports"][0]["nodePort"], 30000);
        let mut update = json!({"metadata": {"name": "s"}, "spec": {"selector": {"a": "c"},
            "ports": [{"port": 3306}], "type": "NodePort"}});
        on_update(&mut store, "", "services", &service, &mut update).expect("update");
        assert_eq!(update["spec"]["clusterIP"], "10.96.0.10");
        assert_eq!(update["spec"]["ports"][0]["nodePort"], 30000);
    }

    #[test]
    fn headless_services_keep_none() {
        let mut store = Store::new(10, 16);
        let mut service = json!({"spec": {"clusterIP": "None", "ports": [{"port": 1}]}});
        on_create(&mut store, "", "services", &mut service).expect("create");
        assert_eq!(service["spec"]["clusterIP"], "None");
        assert!(service["spec"].get("ipFamilies").is_none());
    }

    #[test]
    fn pods_start_pending_with_their_qos_class() {
        let mut store = Store::new(10, 16);
        let mut pod = json!({"spec": {"containers": [{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}}}]}, "status": {"phase": "Running"}});
        on_create(&mut store, "", "pods", &mut pod).expect("create");
        assert_eq!(
            pod["status"],
            json!({"phase": "Pending", "qosClass": "Guaranteed"})
        );
        assert_eq!(qos_class(&json!({"containers": [{"name": "a"}]})), "BestEffort");
        assert_eq!(
            qos_class(&json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]})),
            "Burstable"
        );
    }

    #[test]
    fn binding_sets_the_node_once() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {}});
        bind(&mut pod, &json!({"target": {"kind": "Node", "name": "n1"}})).expect("bound");
        assert_eq!(pod["spec"]["nodeName"], "n1");
        assert_eq!(pod["status"]["conditions"][0]["type"], "PodScheduled");
        let error = bind(&mut pod, &json!({"target": {"name": "n2"}})).expect_err("already bound");
        assert!(error.contains("already assigned"), "{error}");
    }
}
