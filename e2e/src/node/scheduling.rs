//! The sandbox's scheduler for one API: what kube-scheduler does for the
//! Pods the controller creates, so that they reach a simulated node through
//! the API as they would in a cluster. Each unbound Pod whose
//! `schedulerName` is ours is bound, through `pods/binding`, to the first
//! node (by name) that [`crate::scheduler::choose`] admits. When none fits,
//! the Pod gets `PodScheduled=False`, reason `Unschedulable`, with every
//! node's reason in the message, and a `FailedScheduling` Event; it is tried
//! again whenever a Node or an unbound Pod changes, and every two seconds.
//!
//! Against a real API server a real scheduler runs too: `bind_after` then
//! leaves it the first say, and only Pods still unbound that long after they
//! were first seen are bound here.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_objects};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};

use super::error::NodeError;
use super::events::{self, Regarding, Reporter};
use crate::kubelet::EventType;
use crate::scheduler;

/// The scheduler name Pods carry when they name none.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";
/// How often unbound Pods are looked at even when nothing changed.
const RETRY: Duration = Duration::from_secs(2);

/// How the sandbox scheduler behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulerOptions {
    /// Bind only Pods still unbound this long after they were first seen:
    /// zero with the simulator, some seconds when a real scheduler runs.
    pub bind_after: Duration,
    /// The `schedulerName` of the Pods this scheduler takes.
    pub scheduler_name: String,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            bind_after: Duration::ZERO,
            scheduler_name: DEFAULT_SCHEDULER.to_owned(),
        }
    }
}

/// Whether this scheduler should place `pod`: unbound, ours, not being
/// deleted, not finished.
pub fn wants(pod: &Pod, scheduler_name: &str) -> bool {
    let Some(spec) = &pod.spec else {
        return false;
    };
    let unbound = spec.node_name.as_deref().is_none_or(str::is_empty);
    let ours = spec.scheduler_name.as_deref().unwrap_or(DEFAULT_SCHEDULER) == scheduler_name;
    let phase = pod.status.as_ref().and_then(|status| status.phase.as_deref());
    let finished = matches!(phase, Some("Succeeded" | "Failed"));
    unbound && ours && !finished && pod.metadata.deletion_timestamp.is_none()
}

/// Where a Pod goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Bind it to this node.
    Bind(String),
    /// It fits nowhere; the `PodScheduled` message.
    Unschedulable(String),
}

/// The scheduling message for a Pod that fits none of `total` nodes.
pub fn unschedulable_message(total: usize, reasons: &[String]) -> String {
    format!("0/{total} nodes are available: {}.", reasons.join("; "))
}

/// Where `pod` goes among `nodes` (considered by name, so that the choice
/// is the same every time).
pub fn decide(pod: &Pod, nodes: &[Node]) -> Decision {
    let mut sorted = nodes.to_vec();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    match scheduler::choose(pod, &sorted) {
        Ok(node) => Decision::Bind(node.name_any()),
        Err(reasons) => Decision::Unschedulable(unschedulable_message(nodes.len(), &reasons)),
    }
}

/// The `pods/binding` body that puts `pod` on `node`.
pub fn binding(pod: &Pod, node: &str) -> Binding {
    Binding {
        metadata: ObjectMeta {
            name: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            uid: pod.metadata.uid.clone(),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Node".to_owned()),
            name: Some(node.to_owned()),
            ..ObjectReference::default()
        },
    }
}

/// The merge patch of `pods/status` that records `message` as the reason
/// `pod` is unschedulable (its other conditions kept), or `None` when the
/// Pod says exactly that already.
pub fn unschedulable_patch(pod: &Pod, message: &str, now: Timestamp) -> Option<Value> {
    let conditions = pod
        .status
        .as_ref()
        .and_then(|status| status.conditions.clone())
        .unwrap_or_default();
    let current = conditions
        .iter()
        .find(|condition| condition.type_ == "PodScheduled");
    if let Some(current) = current
        && current.status == "False"
        && current.reason.as_deref() == Some("Unschedulable")
        && current.message.as_deref() == Some(message)
    {
        return None;
    }
    let since = current
        .filter(|condition| condition.status == "False")
        .and_then(|condition| condition.last_transition_time.clone())
        .unwrap_or(Time(now));
    let mut conditions: Vec<PodCondition> = conditions
        .into_iter()
        .filter(|condition| condition.type_ != "PodScheduled")
        .collect();
    conditions.push(PodCondition {
        type_: "PodScheduled".to_owned(),
        status: "False".to_owned(),
        reason: Some("Unschedulable".to_owned()),
        message: Some(message.to_owned()),
        last_transition_time: Some(since),
        ..PodCondition::default()
    });
    Some(json!({ "status": { "conditions": conditions } }))
}

/// The objects a watch has shown, as a complete set once its initial list
/// is done: nothing is decided from a half-listed set of Nodes.
#[derive(Debug)]
pub struct Cache<K> {
    items: BTreeMap<(String, String), K>,
    relisting: Option<BTreeMap<(String, String), K>>,
    ready: bool,
}

impl<K> Default for Cache<K> {
    fn default() -> Self {
        Self {
            items: BTreeMap::new(),
            relisting: None,
            ready: false,
        }
    }
}

impl<K: Resource + Clone> Cache<K> {
    fn key(object: &K) -> (String, String) {
        (object.namespace().unwrap_or_default(), object.name_any())
    }

    /// Takes one watcher event.
    pub fn apply(&mut self, event: Event<K>) {
        match event {
            Event::Init => self.relisting = Some(BTreeMap::new()),
            Event::InitApply(object) => {
                let key = Self::key(&object);
                self.relisting
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key, object);
            }
            Event::InitDone => {
                self.items = self.relisting.take().unwrap_or_default();
                self.ready = true;
            }
            Event::Apply(object) => {
                self.items.insert(Self::key(&object), object);
            }
            Event::Delete(object) => {
                self.items.remove(&Self::key(&object));
            }
        }
    }

    /// Whether the initial list is complete.
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// Every object.
    pub fn items(&self) -> impl Iterator<Item = &K> {
        self.items.values()
    }
}

/// What the scheduler remembers between passes.
#[derive(Debug, Default)]
struct Memory {
    /// When each unbound Pod (by uid) was first seen.
    first_seen: HashMap<String, Instant>,
    /// The unschedulable message last reported per Pod uid.
    reported: HashMap<String, String>,
}

struct Scheduler {
    client: kube::Client,
    options: SchedulerOptions,
    memory: Memory,
}

impl Scheduler {
    fn reporter(&self) -> Reporter<'_> {
        Reporter {
            component: &self.options.scheduler_name,
            host: None,
        }
    }

    async fn event(&self, pod: &Pod, type_: EventType, reason: &str, message: &str) {
        let regarding = Regarding::pod(
            &pod.namespace().unwrap_or_default(),
            &pod.name_any(),
            pod.metadata.uid.as_deref().unwrap_or_default(),
        );
        let mut event = events::event(
            &regarding,
            self.reporter(),
            type_,
            reason,
            message,
            None,
            1,
            Timestamp::now(),
        );
        event.action = Some(
            if reason == "Scheduled" {
                "Binding"
            } else {
                "Scheduling"
            }
            .to_owned(),
        );
        events::post(&self.client, event).await;
    }

    /// One look at every unbound Pod.
    async fn pass(&mut self, pods: &Cache<Pod>, nodes: &Cache<Node>) {
        if !pods.ready() || !nodes.ready() {
            return;
        }
        let nodes: Vec<Node> = nodes.items().cloned().collect();
        let now = Instant::now();
        let candidates: Vec<Pod> = pods
            .items()
            .filter(|pod| wants(pod, &self.options.scheduler_name))
            .cloned()
            .collect();
        let live: Vec<String> = candidates
            .iter()
            .filter_map(|pod| pod.metadata.uid.clone())
            .collect();
        self.memory.first_seen.retain(|uid, _| live.contains(uid));
        self.memory.reported.retain(|uid, _| live.contains(uid));
        for pod in candidates {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            let seen = *self.memory.first_seen.entry(uid.clone()).or_insert(now);
            if now.duration_since(seen) < self.options.bind_after {
                continue;
            }
            match decide(&pod, &nodes) {
                Decision::Bind(node) => self.bind(&pod, &node).await,
                Decision::Unschedulable(message) => {
                    if self.memory.reported.get(&uid) == Some(&message) {
                        continue;
                    }
                    if self.unschedulable(&pod, &message).await {
                        self.memory.reported.insert(uid, message);
                    }
                }
            }
        }
    }

    async fn bind(&self, pod: &Pod, node: &str) {
        let namespace = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let bound: Result<Value, kube::Error> = api
            .create_subresource("binding", &name, &PostParams::default(), &binding(pod, node))
            .await;
        match bound {
            Ok(_) => {
                tracing::info!(pod = %format!("{namespace}/{name}"), %node, "bound");
                let message = format!("Successfully assigned {namespace}/{name} to {node}");
                self.event(pod, EventType::Normal, "Scheduled", &message).await;
            }
            // Bound meanwhile (by another scheduler) or deleted: the watch
            // will say so.
            Err(kube::Error::Api(status)) if status.code == 409 || status.code == 404 => {
                tracing::debug!(pod = %format!("{namespace}/{name}"), message = %status.message, "not bound");
            }
            Err(error) => {
                tracing::warn!(%error, pod = %format!("{namespace}/{name}"), %node, "cannot bind; retrying");
            }
        }
    }

    /// Records why `pod` fits nowhere; whether that was written.
    async fn unschedulable(&self, pod: &Pod, message: &str) -> bool {
        let namespace = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let Some(patch) = unschedulable_patch(pod, message, Timestamp::now()) else {
            return true;
        };
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let params = PatchParams {
            field_manager: Some(self.options.scheduler_name.clone()),
            ..PatchParams::default()
        };
        match api.patch_status(&name, &params, &Patch::Merge(patch)).await {
            Ok(_) => {
                tracing::info!(pod = %format!("{namespace}/{name}"), %message, "unschedulable");
                self.event(pod, EventType::Warning, "FailedScheduling", message)
                    .await;
                true
            }
            Err(error) => {
                tracing::warn!(%error, pod = %format!("{namespace}/{name}"), "cannot record that the Pod is unschedulable; retrying");
                false
            }
        }
    }
}

/// Runs the scheduler for the API of `client` until `shutdown` completes.
/// Watch failures are logged and the watches resumed with back-off; it
/// returns `Ok` once shut down.
pub async fn run_scheduler(
    client: kube::Client,
    options: SchedulerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    enum Update {
        Pod(Box<Event<Pod>>),
        Node(Box<Event<Node>>),
    }
    let pod_watch = watch_objects(
        Api::<Pod>::all(client.clone()),
        watcher::Config::default().fields("spec.nodeName="),
    )
    .default_backoff()
    .map(|event| event.map(|event| Update::Pod(Box::new(event))))
    .boxed();
    let node_watch = watch_objects(Api::<Node>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .map(|event| event.map(|event| Update::Node(Box::new(event))))
        .boxed();
    let mut updates = futures::stream::select(pod_watch, node_watch);
    let mut pods = Cache::<Pod>::default();
    let mut nodes = Cache::<Node>::default();
    let mut scheduler = Scheduler {
        client,
        options,
        memory: Memory::default(),
    };
    let mut ticker = tokio::time::interval(RETRY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            update = updates.next() => match update {
                Some(Ok(Update::Pod(event))) => pods.apply(*event),
                Some(Ok(Update::Node(event))) => nodes.apply(*event),
                Some(Err(error)) => {
                    tracing::warn!(%error, "scheduler watch failed; resuming");
                    continue;
                }
                None => {
                    return Err(NodeError::Shutdown {
                        node: scheduler.options.scheduler_name.clone(),
                        message: "the scheduler's watches ended".to_owned(),
                    });
                }
            },
            _ = ticker.tick() => {}
        }
        scheduler.pass(&pods, &nodes).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ready: bool) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .expect("a Node")
    }

    fn pinned(node: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "orders-a", "namespace": "shop", "uid": "u1"},
            "spec": {
                "containers": [{"name": "mysqld"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                    ]}]
                }}}
            },
            "status": {"phase": "Pending"}
        }))
        .expect("a Pod")
    }

    #[test]
    fn only_unbound_live_pods_of_this_scheduler_are_taken() {
        let pod = pinned("n0");
        assert!(wants(&pod, DEFAULT_SCHEDULER));
        assert!(!wants(&pod, "other-scheduler"));
        let mut bound = pod.clone();
        if let Some(spec) = bound.spec.as_mut() {
            spec.node_name = Some("n0".to_owned());
        }
        assert!(!wants(&bound, DEFAULT_SCHEDULER));
        let mut deleting = pod.clone();
        deleting.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert!(!wants(&deleting, DEFAULT_SCHEDULER));
        let mut done = pod.clone();
        if let Some(status) = done.status.as_mut() {
            status.phase = Some("Succeeded".to_owned());
        }
        assert!(!wants(&done, DEFAULT_SCHEDULER));
    }

    #[test]
    fn a_fitting_node_is_chosen_and_otherwise_every_reason_is_given() {
        let nodes = [node("n1", true), node("n0", true), node("n2", false)];
        assert_eq!(decide(&pinned("n0"), &nodes), Decision::Bind("n0".to_owned()));
        let Decision::Unschedulable(message) = decide(&pinned("n9"), &nodes) else {
            panic!("n9 does not exist");
        };
        assert!(message.starts_with("0/3 nodes are available: "), "{message}");
        assert!(
            message.contains("node n0 does not match the Pod's required node affinity"),
            "{message}"
        );
        assert!(message.contains("node n2 is not Ready"), "{message}");
        assert_eq!(
            decide(&pinned("n0"), &[]),
            Decision::Unschedulable("0/0 nodes are available: there are no nodes.".to_owned())
        );
    }

    #[test]
    fn the_binding_targets_the_node() {
        let binding = binding(&pinned("n0"), "n0");
        assert_eq!(binding.metadata.name.as_deref(), Some("orders-a"));
        assert_eq!(binding.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(binding.target.kind.as_deref(), Some("Node"));
        assert_eq!(binding.target.name.as_deref(), Some("n0"));
    }

    #[test]
    fn the_unschedulable_condition_is_written_once_per_message() {
        let now = Timestamp::from_second(1_000).expect("time");
        let mut pod = pinned("n9");
        let patch = unschedulable_patch(&pod, "0/1 nodes are available: x.", now).expect("a patch");
        let conditions = &patch["status"]["conditions"];
        assert_eq!(conditions[0]["type"], "PodScheduled");
        assert_eq!(conditions[0]["status"], "False");
        assert_eq!(conditions[0]["reason"], "Unschedulable");
        assert_eq!(conditions[0]["message"], "0/1 nodes are available: x.");
        // Once the Pod says so, nothing more is written.
        pod.status = Some(
            serde_json::from_value(json!({"phase": "Pending", "conditions": conditions})).expect("status"),
        );
        assert_eq!(
            unschedulable_patch(&pod, "0/1 nodes are available: x.", now),
            None
        );
        // A new reason keeps the transition time.
        let later = Timestamp::from_second(2_000).expect("time");
        let patch = unschedulable_patch(&pod, "0/2 nodes are available: y.", later).expect("a patch");
        assert_eq!(
            patch["status"]["conditions"][0]["lastTransitionTime"],
            conditions[0]["lastTransitionTime"]
        );
        assert_eq!(patch["status"]["conditions"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn the_cache_is_complete_only_after_its_initial_list() {
        let mut cache = Cache::<Node>::default();
        assert!(!cache.ready());
        cache.apply(Event::Init);
        cache.apply(Event::InitApply(node("n0", true)));
        assert!(!cache.ready());
        cache.apply(Event::InitDone);
        assert!(cache.ready());
        cache.apply(Event::Apply(node("n1", true)));
        assert_eq!(cache.items().count(), 2);
        cache.apply(Event::Delete(node("n0", true)));
        assert_eq!(
            cache.items().map(ResourceExt::name_any).collect::<Vec<_>>(),
            ["n1"]
        );
        // A relist replaces everything at its end.
        cache.apply(Event::Init);
        cache.apply(Event::InitApply(node("n2", true)));
        assert_eq!(
            cache.items().count(),
            1,
            "the old set stands until the relist is done"
        );
        cache.apply(Event::InitDone);
        assert_eq!(
            cache.items().map(ResourceExt::name_any).collect::<Vec<_>>(),
            ["n2"]
        );
    }
}
