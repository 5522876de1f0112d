//! The controller's part of the request contract, played by the tests:
//! a DRMySQL status as the controller writes it, waiting for a request
//! annotation, removing it, and the answer and progress records it writes.

use std::collections::BTreeMap;
use std::time::Duration;

use drmysql_api::drmysql::DRMySQL;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::{ago, patch_status};

/// A DRMySQL whose primary is orders-cloud-a, healthy, with one finished
/// switchover and an older answer in `status.lastRequest`.
pub fn running_status() -> Value {
    json!({
        "phase": "Running",
        "currentPrimary": "orders-cloud-a",
        "primaryNode": "vm-0-7-rockylinux",
        "instances": [
            {"name": "orders-cloud-a", "role": "Primary", "node": "vm-0-7-rockylinux", "ready": true},
            {"name": "orders-tencent", "role": "Replica", "node": "kosmos-member-tencent", "ready": true,
             "lagSeconds": 0.25}
        ],
        "tunnel": [
            {"from": "orders-cloud-a", "to": "orders-tencent", "reachable": true, "rttMs": 11.0,
             "checkedAt": ago(60)},
            {"from": "orders-tencent", "to": "orders-cloud-a", "reachable": true, "rttMs": 11.5,
             "checkedAt": ago(60)}
        ],
        "conditions": [
            {"type": "PrimaryAvailable", "status": "True", "reason": "PrimaryHealthy",
             "message": "orders-cloud-a answers the controller and orders-tencent", "lastTransitionTime": ago(600)}
        ],
        "history": [old_record()],
        "lastRequest": {"kind": "Switchover", "target": "orders-cloud-a", "forced": false, "outcome": "Started",
                        "message": "switching over from orders-tencent", "answeredAt": "2026-02-27T10:00:00Z"}
    })
}

pub fn old_record() -> Value {
    json!({"kind": "Switchover", "from": "orders-tencent", "to": "orders-cloud-a", "reason": "planned move back",
           "startedAt": "2026-02-27T10:00:00Z", "finishedAt": "2026-02-27T10:00:04Z", "outcome": "Succeeded",
           "forced": false})
}

pub fn api(client: &kube::Client) -> Api<DRMySQL> {
    Api::namespaced(client.clone(), "default")
}

pub async fn annotations(client: &kube::Client) -> BTreeMap<String, String> {
    api(client)
        .get("orders")
        .await
        .expect("orders is readable")
        .annotations()
        .clone()
}

pub async fn resource_version(client: &kube::Client) -> Option<String> {
    api(client)
        .get("orders")
        .await
        .expect("orders is readable")
        .resource_version()
}

/// The controller's first move: waits (up to 30 s) for `key` on orders and
/// returns every annotation as it found them.
pub async fn requested(client: &kube::Client, key: &str) -> BTreeMap<String, String> {
    let wait = async {
        loop {
            let found = annotations(client).await;
            if found.contains_key(key) {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("the plugin did not write {key} within 30 s"))
}

/// The controller's answer: removes the request annotations.
pub async fn remove(client: &kube::Client, keys: &[&str]) {
    let removals: serde_json::Map<String, Value> =
        keys.iter().map(|key| ((*key).to_owned(), Value::Null)).collect();
    api(client)
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": removals}})),
        )
        .await
        .expect("the annotations are removed");
}

pub fn answer(kind: &str, target: Option<&str>, forced: bool, outcome: &str, message: &str) -> Value {
    json!({"kind": kind, "target": target, "forced": forced, "outcome": outcome, "message": message,
           "answeredAt": ago(0)})
}

pub fn progress(kind: &str, step: &str, forced: bool) -> Value {
    json!({"kind": kind, "from": "orders-cloud-a", "target": "orders-tencent", "step": step,
           "startedAt": ago(0), "reason": "kubectl drmysql", "forced": forced})
}

/// Plays a transition the controller started: two steps, then the record.
pub async fn carry_out(client: &kube::Client, kind: &str, forced: bool, record: Value) {
    let pause = Duration::from_millis(300);
    patch_status(
        client,
        "default",
        json!({"failover": progress(kind, "Promote", forced)}),
    )
    .await;
    tokio::time::sleep(pause).await;
    patch_status(
        client,
        "default",
        json!({"failover": progress(kind, "MoveWriterEndpoint", forced)}),
    )
    .await;
    tokio::time::sleep(pause).await;
    patch_status(
        client,
        "default",
        json!({"failover": null, "currentPrimary": "orders-tencent", "history": [old_record(), record]}),
    )
    .await;
}
