//! core/v1 Events as a kubelet and kube-scheduler post them, so that
//! `kubectl describe pod` and the scenarios see what happened to a Pod
//! (`Started`, `Killing`, `Unhealthy`, `BackOff`, `FailedMount`,
//! `Scheduled`, `FailedScheduling`) and to a node (`Starting`, `NodeReady`,
//! `NodeNotReady`). Building an Event is pure; posting it is best effort:
//! a lost Event is logged, never retried, as the kubelet's recorder drops
//! events it cannot write.

use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;

use crate::kubelet::{EventType, KubeletEvent};

/// The component name of the simulated kubelet in Events.
pub const KUBELET: &str = "kubelet";

/// The object an Event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regarding {
    /// `Pod` or `Node`.
    pub kind: String,
    /// Its namespace (`default` for Nodes, where kubelets post node Events).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid (a kubelet uses the node's name as the uid of node Events).
    pub uid: String,
}

impl Regarding {
    /// A Pod.
    pub fn pod(namespace: &str, name: &str, uid: &str) -> Self {
        Self {
            kind: "Pod".to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: uid.to_owned(),
        }
    }

    /// A Node.
    pub fn node(name: &str) -> Self {
        Self {
            kind: "Node".to_owned(),
            namespace: "default".to_owned(),
            name: name.to_owned(),
            uid: name.to_owned(),
        }
    }
}

/// Who reports an Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reporter<'a> {
    /// `source.component` and `reportingComponent`, e.g. `kubelet`.
    pub component: &'a str,
    /// `source.host` and `reportingInstance` (the node for a kubelet).
    pub host: Option<&'a str>,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// An Event name as the recorders make them: the object's name and a hex
/// timestamp (made unique within this process).
fn event_name(object: &str, now: Timestamp) -> String {
    let nanos = u64::try_from(now.as_nanosecond()).unwrap_or_default();
    let unique = nanos.wrapping_add(SEQUENCE.fetch_add(1, Ordering::Relaxed));
    format!("{object}.{unique:x}")
}

/// One core/v1 Event about `regarding`.
#[allow(clippy::too_many_arguments)]
pub fn event(
    regarding: &Regarding,
    reporter: Reporter<'_>,
    type_: EventType,
    reason: &str,
    message: &str,
    container: Option<&str>,
    count: u32,
    now: Timestamp,
) -> Event {
    Event {
        metadata: ObjectMeta {
            name: Some(event_name(&regarding.name, now)),
            namespace: Some(regarding.namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some(regarding.kind.clone()),
            name: Some(regarding.name.clone()),
            namespace: (regarding.kind != "Node").then(|| regarding.namespace.clone()),
            uid: Some(regarding.uid.clone()),
            field_path: container.map(|container| format!("spec.containers{{{container}}}")),
            ..ObjectReference::default()
        },
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        type_: Some(type_.as_str().to_owned()),
        source: Some(EventSource {
            component: Some(reporter.component.to_owned()),
            host: reporter.host.map(str::to_owned),
        }),
        reporting_component: Some(reporter.component.to_owned()),
        reporting_instance: Some(reporter.host.unwrap_or(reporter.component).to_owned()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(i32::try_from(count).unwrap_or(i32::MAX)),
        ..Event::default()
    }
}

/// The Event a kubelet posts for `recorded`, about a Pod on `node`.
pub fn kubelet_event(pod: &Regarding, node: &str, recorded: &KubeletEvent) -> Event {
    event(
        pod,
        Reporter {
            component: KUBELET,
            host: Some(node),
        },
        recorded.type_,
        &recorded.reason,
        &recorded.message,
        recorded.container.as_deref(),
        recorded.count,
        recorded.last_seen,
    )
}

/// Posts `event`; a failure is logged and the Event dropped.
pub async fn post(client: &kube::Client, event: Event) {
    let namespace = event
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
    if let Err(error) = api.create(&PostParams::default(), &event).await {
        tracing::warn!(
            %error,
            reason = event.reason.as_deref().unwrap_or_default(),
            object = event.involved_object.name.as_deref().unwrap_or_default(),
            "cannot post an Event"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kubelet_event_names_the_pod_container_and_node() {
        let pod = Regarding::pod("shop", "orders-a", "uid-1");
        let recorded = KubeletEvent {
            type_: EventType::Warning,
            reason: "BackOff".to_owned(),
            message: "back-off 10s restarting failed container=mysqld".to_owned(),
            container: Some("mysqld".to_owned()),
            count: 3,
            last_seen: Timestamp::UNIX_EPOCH,
        };
        let posted = kubelet_event(&pod, "n0", &recorded);
        assert_eq!(posted.metadata.namespace.as_deref(), Some("shop"));
        assert!(
            posted
                .metadata
                .name
                .as_deref()
                .is_some_and(|name| name.starts_with("orders-a."))
        );
        let involved = &posted.involved_object;
        assert_eq!(involved.kind.as_deref(), Some("Pod"));
        assert_eq!(involved.uid.as_deref(), Some("uid-1"));
        assert_eq!(involved.field_path.as_deref(), Some("spec.containers{mysqld}"));
        assert_eq!(posted.type_.as_deref(), Some("Warning"));
        assert_eq!(posted.count, Some(3));
        let source = posted.source.clone().expect("a source");
        assert_eq!(
            (source.component.as_deref(), source.host.as_deref()),
            (Some("kubelet"), Some("n0"))
        );
        assert_eq!(posted.reporting_component.as_deref(), Some("kubelet"));
        assert_eq!(posted.reporting_instance.as_deref(), Some("n0"));
        let again = kubelet_event(&pod, "n0", &recorded);
        assert_ne!(again.metadata.name, posted.metadata.name, "names are unique");
    }

    #[test]
    fn node_events_live_in_default_and_use_the_name_as_uid() {
        let posted = event(
            &Regarding::node("n0"),
            Reporter {
                component: KUBELET,
                host: Some("n0"),
            },
            EventType::Normal,
            "NodeReady",
            "Node n0 status is now: NodeReady",
            None,
            1,
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(posted.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(posted.involved_object.namespace, None);
        assert_eq!(posted.involved_object.uid.as_deref(), Some("n0"));
        assert_eq!(posted.involved_object.field_path, None);
    }
}
