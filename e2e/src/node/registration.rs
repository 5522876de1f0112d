//! A simulated node's own API objects, as a kubelet keeps them: the Node
//! (labels, taints, pod CIDR, addresses, capacity, node info and the Ready
//! condition with its heartbeat) and its Lease in `kube-node-lease`, renewed
//! every heartbeat. Registering creates the Node or takes over an existing
//! one of the same name (merging labels, setting taints and the pod CIDR),
//! as a restarted kubelet does.
//!
//! Paused heartbeats stand in for a node or cluster that stops answering.
//! The sandbox has no node-lifecycle controller to notice the silence, so
//! the node writes what that controller would after its grace period: Ready
//! `Unknown`, reason `NodeStatusUnknown`, at once. The Lease is not renewed
//! while paused, so it expires 40 s later as it would.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeSpec as ApiNodeSpec, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::{Notify, watch};

use super::NodeSpec;
use super::error::NodeError;
use super::events::{self, KUBELET, Regarding, Reporter};
use crate::kubelet::EventType;

/// `status.nodeInfo.kubeletVersion` of every simulated node.
pub const KUBELET_VERSION: &str = "v1.32.0-drmysql-e2e";
/// The label every node carries with its own name.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// Where node Leases live.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// `spec.leaseDurationSeconds` of node Leases (the kubelet's default).
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// The field manager of the node's writes.
pub const FIELD_MANAGER: &str = "drmysql-e2e-kubelet";

/// What the node's Ready condition says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// `True`, reason `KubeletReady`: heartbeats flow.
    Ready,
    /// `Unknown`, reason `NodeStatusUnknown`: heartbeats are paused.
    Unknown,
}

/// The node's labels: the spec's, with `kubernetes.io/hostname`,
/// `kubernetes.io/os` and `kubernetes.io/arch` as a kubelet sets them.
pub fn labels(spec: &NodeSpec) -> BTreeMap<String, String> {
    let mut labels = spec.labels.clone();
    labels.insert(HOSTNAME_LABEL.to_owned(), spec.name.clone());
    labels.insert("kubernetes.io/os".to_owned(), "linux".to_owned());
    labels.insert("kubernetes.io/arch".to_owned(), architecture().to_owned());
    labels
}

fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The Node's metadata and spec (its status is written separately).
pub fn node_object(spec: &NodeSpec) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(spec.name.clone()),
            labels: Some(labels(spec)),
            ..ObjectMeta::default()
        },
        spec: Some(ApiNodeSpec {
            pod_cidr: Some(spec.pod_cidr.to_string()),
            pod_cidrs: Some(vec![spec.pod_cidr.to_string()]),
            taints: (!spec.taints.is_empty()).then(|| spec.taints.clone()),
            ..ApiNodeSpec::default()
        }),
        status: None,
    }
}

/// The merge patch that takes an existing Node over: labels merged, pod
/// CIDR and taints set (no taint removes the Node's taints).
pub fn takeover_patch(spec: &NodeSpec) -> serde_json::Value {
    let taints = if spec.taints.is_empty() {
        serde_json::Value::Null
    } else {
        json!(spec.taints)
    };
    json!({
        "metadata": {"labels": labels(spec)},
        "spec": {
            "podCIDR": spec.pod_cidr.to_string(),
            "podCIDRs": [spec.pod_cidr.to_string()],
            "taints": taints,
        }
    })
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .unwrap_or_default()
}

/// What the node reports about the machine: read from it, except the
/// container runtime, which is the sandbox's pod runtime.
pub fn system_info() -> NodeSystemInfo {
    let os_image = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("PRETTY_NAME="))
                .map(|value| value.trim_matches('"').to_owned())
        })
        .unwrap_or_default();
    NodeSystemInfo {
        architecture: architecture().to_owned(),
        boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
        container_runtime_version: format!("drmysql-e2e://{}", env!("CARGO_PKG_VERSION")),
        kernel_version: read_trimmed("/proc/sys/kernel/osrelease"),
        kube_proxy_version: String::new(),
        kubelet_version: KUBELET_VERSION.to_owned(),
        machine_id: read_trimmed("/etc/machine-id"),
        operating_system: "linux".to_owned(),
        os_image,
        swap: None,
        system_uuid: String::new(),
    }
}

/// The Node's status: the Ready condition as `readiness` says (heartbeat
/// and transition times given), addresses, declared capacity and node info.
pub fn node_status(
    spec: &NodeSpec,
    readiness: Readiness,
    heartbeat: Timestamp,
    transition: Timestamp,
    info: &NodeSystemInfo,
) -> NodeStatus {
    let (status, reason, message) = match readiness {
        Readiness::Ready => ("True", "KubeletReady", "kubelet is posting ready status"),
        Readiness::Unknown => (
            "Unknown",
            "NodeStatusUnknown",
            "Kubelet stopped posting node status.",
        ),
    };
    let resources: BTreeMap<String, Quantity> = [("cpu", "2"), ("memory", "4Gi"), ("pods", "110")]
        .into_iter()
        .map(|(name, amount)| (name.to_owned(), Quantity(amount.to_owned())))
        .collect();
    NodeStatus {
        conditions: Some(vec![NodeCondition {
            type_: "Ready".to_owned(),
            status: status.to_owned(),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            last_heartbeat_time: Some(Time(heartbeat)),
            last_transition_time: Some(Time(transition)),
        }]),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".to_owned(),
                address: spec.internal_ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".to_owned(),
                address: spec.name.clone(),
            },
        ]),
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        node_info: Some(info.clone()),
        ..NodeStatus::default()
    }
}

/// The node's Lease, owned by the Node when its uid is known (so that it
/// goes with the Node).
pub fn lease(node: &str, node_uid: Option<&str>, now: Timestamp) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node.to_owned()),
            namespace: Some(LEASE_NAMESPACE.to_owned()),
            owner_references: node_uid.map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".to_owned(),
                    kind: "Node".to_owned(),
                    name: node.to_owned(),
                    uid: uid.to_owned(),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.to_owned()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(MicroTime(now)),
            ..LeaseSpec::default()
        }),
    }
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

/// Creates the Node, or takes an existing one over; the Node as stored.
pub async fn register_node(client: &kube::Client, spec: &NodeSpec) -> Result<Node, kube::Error> {
    let api: Api<Node> = Api::all(client.clone());
    if api.get_opt(&spec.name).await?.is_some() {
        return api
            .patch(&spec.name, &params(), &Patch::Merge(takeover_patch(spec)))
            .await;
    }
    let created = api
        .create(
            &PostParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..PostParams::default()
            },
            &node_object(spec),
        )
        .await;
    match created {
        // Created meanwhile by someone else: take it over.
        Err(kube::Error::Api(status)) if status.code == 409 => {
            api.patch(&spec.name, &params(), &Patch::Merge(takeover_patch(spec)))
                .await
        }
        other => other,
    }
}

/// Writes the Node's status (lists replaced whole: the kubelet owns them).
pub async fn write_status(client: &kube::Client, name: &str, status: &NodeStatus) -> Result<(), kube::Error> {
    let api: Api<Node> = Api::all(client.clone());
    api.patch_status(name, &params(), &Patch::Merge(json!({ "status": status })))
        .await
        .map(drop)
}

/// Creates or renews the node's Lease.
pub async fn renew_lease(
    client: &kube::Client,
    node: &str,
    node_uid: Option<&str>,
    now: Timestamp,
) -> Result<(), kube::Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let desired = lease(node, node_uid, now);
    if api.get_opt(node).await?.is_some() {
        return api
            .patch(node, &params(), &Patch::Merge(json!({ "spec": desired.spec })))
            .await
            .map(drop);
    }
    match api.create(&PostParams::default(), &desired).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => api
            .patch(node, &params(), &Patch::Merge(json!({ "spec": desired.spec })))
            .await
            .map(drop),
        Err(error) => Err(error),
    }
}

/// Pausing and resuming the heartbeats.
#[derive(Debug, Default)]
pub struct HeartbeatControl {
    paused: AtomicBool,
    wake: Notify,
}

impl HeartbeatControl {
    /// Pauses or resumes; the loop acts at once.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Whether heartbeats are paused.
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
}

/// What the heartbeat loop needs.
pub struct Heartbeats {
    /// The API.
    pub client: kube::Client,
    /// The node.
    pub spec: NodeSpec,
    /// The Node's uid, for the Lease's owner reference.
    pub node_uid: Option<String>,
    /// The interval.
    pub interval: Duration,
    /// Pause and resume.
    pub control: Arc<HeartbeatControl>,
}

/// Registers the node: Node, status Ready, Lease, and the kubelet's
/// `Starting` Event. The Node's uid.
pub async fn register(client: &kube::Client, spec: &NodeSpec) -> Result<Option<String>, NodeError> {
    let node = register_node(client, spec).await?;
    let uid = node.metadata.uid.clone();
    let now = Timestamp::now();
    write_status(
        client,
        &spec.name,
        &node_status(spec, Readiness::Ready, now, now, &system_info()),
    )
    .await?;
    renew_lease(client, &spec.name, uid.as_deref(), now).await?;
    node_event(
        client,
        &spec.name,
        EventType::Normal,
        "Starting",
        "Starting kubelet.",
    )
    .await;
    Ok(uid)
}

async fn node_event(client: &kube::Client, node: &str, type_: EventType, reason: &str, message: &str) {
    let event = events::event(
        &Regarding::node(node),
        Reporter {
            component: KUBELET,
            host: Some(node),
        },
        type_,
        reason,
        message,
        None,
        1,
        Timestamp::now(),
    );
    events::post(client, event).await;
}

/// Keeps the node's status and Lease fresh every `interval` until
/// `shutdown` turns true; writes Ready `Unknown` once while paused. Failed
/// writes are logged and retried at the next beat.
pub async fn heartbeat_loop(beats: Heartbeats, mut shutdown: watch::Receiver<bool>) {
    let Heartbeats {
        client,
        spec,
        node_uid,
        interval,
        control,
    } = beats;
    let info = system_info();
    let mut written = Readiness::Ready;
    let mut transition = Timestamp::now();
    let mut last_heartbeat = transition;
    loop {
        let wake = control.wake.notified();
        tokio::pin!(wake);
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = &mut wake => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let wanted = if control.paused() {
            Readiness::Unknown
        } else {
            Readiness::Ready
        };
        if wanted == Readiness::Unknown && written == Readiness::Unknown {
            continue;
        }
        let now = Timestamp::now();
        let since = if wanted == written { transition } else { now };
        if wanted == Readiness::Ready {
            last_heartbeat = now;
        }
        let status = node_status(&spec, wanted, last_heartbeat, since, &info);
        if let Err(error) = write_status(&client, &spec.name, &status).await {
            tracing::warn!(%error, node = %spec.name, "cannot write the node status; retrying at the next heartbeat");
            continue;
        }
        if wanted == Readiness::Ready
            && let Err(error) = renew_lease(&client, &spec.name, node_uid.as_deref(), now).await
        {
            tracing::warn!(%error, node = %spec.name, "cannot renew the node Lease; retrying at the next heartbeat");
        }
        if wanted != written {
            let (type_, reason) = match wanted {
                Readiness::Ready => (EventType::Normal, "NodeReady"),
                Readiness::Unknown => (EventType::Warning, "NodeNotReady"),
            };
            let message = format!("Node {} status is now: {reason}", spec.name);
            node_event(&client, &spec.name, type_, reason, &message).await;
            written = wanted;
            transition = since;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Taint;
    use std::net::Ipv4Addr;

    fn spec() -> NodeSpec {
        NodeSpec {
            name: "member-a-n0".to_owned(),
            labels: [("topology.kubernetes.io/zone".to_owned(), "a".to_owned())].into(),
            taints: vec![Taint {
                key: "kosmos.io/node".to_owned(),
                value: Some("true".to_owned()),
                effect: "NoSchedule".to_owned(),
                time_added: None,
            }],
            pod_cidr: "10.244.1.0/24".parse().expect("cidr"),
            internal_ip: Ipv4Addr::new(192, 0, 2, 10),
            netns: "node-netns".to_owned(),
        }
    }

    #[test]
    fn the_node_carries_its_hostname_label_cidr_and_taints() {
        let node = node_object(&spec());
        let labels = node.metadata.labels.expect("labels");
        assert_eq!(labels[HOSTNAME_LABEL], "member-a-n0");
        assert_eq!(labels["topology.kubernetes.io/zone"], "a");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        let node_spec = node.spec.expect("spec");
        assert_eq!(node_spec.pod_cidr.as_deref(), Some("10.244.1.0/24"));
        assert_eq!(node_spec.pod_cidrs, Some(vec!["10.244.1.0/24".to_owned()]));
        assert_eq!(node_spec.taints.expect("taints")[0].key, "kosmos.io/node");
        let patch = takeover_patch(&spec());
        assert_eq!(patch["metadata"]["labels"][HOSTNAME_LABEL], "member-a-n0");
        assert_eq!(patch["spec"]["taints"][0]["effect"], "NoSchedule");
        let mut untainted = spec();
        untainted.taints.clear();
        assert!(node_object(&untainted).spec.expect("spec").taints.is_none());
        assert_eq!(
            takeover_patch(&untainted)["spec"]["taints"],
            serde_json::Value::Null,
            "taking over removes taints the spec does not have"
        );
    }

    #[test]
    fn the_status_reports_readiness_addresses_and_capacity() {
        let info = system_info();
        let heartbeat = Timestamp::from_second(100).expect("time");
        let since = Timestamp::from_second(50).expect("time");
        let status = node_status(&spec(), Readiness::Ready, heartbeat, since, &info);
        let ready = &status.conditions.as_ref().expect("conditions")[0];
        assert_eq!(
            (
                ready.type_.as_str(),
                ready.status.as_str(),
                ready.reason.as_deref()
            ),
            ("Ready", "True", Some("KubeletReady"))
        );
        assert_eq!(ready.last_heartbeat_time, Some(Time(heartbeat)));
        assert_eq!(ready.last_transition_time, Some(Time(since)));
        let addresses = status.addresses.as_ref().expect("addresses");
        assert_eq!(addresses[0].type_, "InternalIP");
        assert_eq!(addresses[0].address, "192.0.2.10");
        assert_eq!(addresses[1].address, "member-a-n0");
        let capacity = status.capacity.as_ref().expect("capacity");
        assert_eq!(capacity["cpu"], Quantity("2".to_owned()));
        assert_eq!(capacity["memory"], Quantity("4Gi".to_owned()));
        assert_eq!(capacity["pods"], Quantity("110".to_owned()));
        assert_eq!(status.allocatable, status.capacity);
        assert_eq!(
            status
                .node_info
                .as_ref()
                .map(|info| info.kubelet_version.as_str()),
            Some(KUBELET_VERSION)
        );
        let unknown = node_status(&spec(), Readiness::Unknown, heartbeat, since, &info);
        let condition = &unknown.conditions.expect("conditions")[0];
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_deref()),
            ("Unknown", Some("NodeStatusUnknown"))
        );
    }

    #[test]
    fn the_lease_is_held_by_the_node_and_owned_by_it() {
        let now = Timestamp::from_second(7).expect("time");
        let lease = lease("member-a-n0", Some("uid-1"), now);
        assert_eq!(lease.metadata.namespace.as_deref(), Some(LEASE_NAMESPACE));
        let spec = lease.spec.expect("spec");
        assert_eq!(spec.holder_identity.as_deref(), Some("member-a-n0"));
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
        let owner = &lease.metadata.owner_references.expect("owner")[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Node", "uid-1"));
    }
}
