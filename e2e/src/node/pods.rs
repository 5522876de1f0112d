//! The kubelet loop of a simulated node: every Pod bound to the node (a
//! watch with `spec.nodeName=<node>`) gets a worker ([`super::worker`]) that
//! runs it through the pod runtime and reports it. This loop decides when a
//! worker starts and stops: a new Pod starts one; a Pod deleted from the API
//! (the simulator deletes at once), missing from a relist, or replaced by
//! another of the same name stops it; a Pod marked for deletion (a real API
//! server waits for the kubelet) stops it and is then deleted for good. A Pod
//! recreated under the same name waits for its predecessor's worker, whose
//! directory and namespace it would otherwise share. The node's handle reads
//! the running Pods (`kill -9`, the list) through [`Kubelet`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_objects};
use kube::{Api, ResourceExt};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::addresses::PodAddresses;
use super::error::NodeError;
use super::worker;
use super::{NodeOptions, RunningPod};
use crate::kubelet::{PodRuntime, RuntimeConfig};

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `(namespace, name)`.
pub(super) type PodKey = (String, String);

pub(super) fn key_of(pod: &Pod) -> PodKey {
    (
        pod.namespace().unwrap_or_else(|| "default".to_owned()),
        pod.name_any(),
    )
}

/// A Pod running on the node, as the node's handle sees it.
pub(crate) struct PodSlot {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) uid: String,
    pub(super) ip: Ipv4Addr,
    pub(super) netns: String,
    pub(super) containers: Vec<String>,
    pub(super) runtime: Mutex<Option<PodRuntime>>,
}

impl PodSlot {
    pub(super) fn with<T>(&self, work: impl FnOnce(&PodRuntime) -> T) -> Option<T> {
        lock(&self.runtime).as_ref().map(work)
    }

    fn running(&self) -> RunningPod {
        let (pids, logs) = self
            .with(|runtime| {
                let logs = self
                    .containers
                    .iter()
                    .filter_map(|container| {
                        runtime
                            .log_path(container)
                            .ok()
                            .map(|path| (container.clone(), path))
                    })
                    .collect();
                (runtime.pids(), logs)
            })
            .unwrap_or_default();
        RunningPod {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            ip: self.ip,
            netns: self.netns.clone(),
            pids,
            logs,
        }
    }
}

/// What every worker of the node shares.
pub(crate) struct Kubelet {
    pub(crate) client: kube::Client,
    pub(crate) node: String,
    pub(crate) node_netns: String,
    pub(crate) host_ip: Ipv4Addr,
    pub(crate) runtime: RuntimeConfig,
    pub(crate) options: NodeOptions,
    pub(super) addresses: Mutex<PodAddresses>,
    pub(super) slots: Mutex<BTreeMap<PodKey, Arc<PodSlot>>>,
}

impl Kubelet {
    pub(crate) fn new(
        client: kube::Client,
        spec: &super::NodeSpec,
        runtime: RuntimeConfig,
        options: NodeOptions,
    ) -> Self {
        Self {
            client,
            node: spec.name.clone(),
            node_netns: spec.netns.clone(),
            host_ip: spec.internal_ip,
            runtime,
            options,
            addresses: Mutex::new(PodAddresses::new(spec.pod_cidr)),
            slots: Mutex::new(BTreeMap::new()),
        }
    }

    fn slot(&self, namespace: &str, name: &str) -> Result<Arc<PodSlot>, NodeError> {
        lock(&self.slots)
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| NodeError::NoSuchPod {
                node: self.node.clone(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
    }

    /// `kill -9` of `container` of a Pod running here.
    pub(crate) fn kill9(&self, namespace: &str, name: &str, container: &str) -> Result<u32, NodeError> {
        let slot = self.slot(namespace, name)?;
        match slot.with(|runtime| runtime.kill9(container)) {
            Some(result) => Ok(result?),
            None => Err(NodeError::NoSuchPod {
                node: self.node.clone(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            }),
        }
    }

    /// The Pods running here.
    pub(crate) fn pods(&self) -> Vec<RunningPod> {
        let slots: Vec<Arc<PodSlot>> = lock(&self.slots).values().cloned().collect();
        slots.iter().map(|slot| slot.running()).collect()
    }

    /// Takes every runtime out (dropping one kills its processes at once).
    pub(crate) fn take_runtimes(&self) -> Vec<PodRuntime> {
        let slots: Vec<Arc<PodSlot>> = lock(&self.slots).values().cloned().collect();
        slots
            .iter()
            .filter_map(|slot| lock(&slot.runtime).take())
            .collect()
    }
}

/// Why a worker stops its Pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// The Pod is gone from the API.
    Deleted,
    /// The Pod is marked for deletion: stop it, then delete it for good.
    Marked,
    /// The node shuts down.
    Shutdown,
}

/// Sets `done` when the worker ends, however it ends.
struct Done(watch::Sender<bool>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// The node's handle on one worker.
struct WorkerHandle {
    uid: String,
    pod: watch::Sender<Pod>,
    stop: watch::Sender<Option<Stop>>,
}

/// The loop's state: workers by Pod, and what it waits for.
struct Pods {
    kubelet: Arc<Kubelet>,
    active: BTreeMap<PodKey, WorkerHandle>,
    /// The `done` signal of the latest worker of each Pod name, so that a
    /// Pod recreated under the same name waits for its predecessor's
    /// directory and network to be gone.
    last_done: BTreeMap<PodKey, watch::Receiver<bool>>,
    /// Uids whose deletion this node confirmed, so that a Pod a finalizer
    /// holds is not deleted again at every update.
    confirmed: HashSet<String>,
    relisted: Option<BTreeSet<PodKey>>,
    tasks: JoinSet<(PodKey, Result<(), NodeError>)>,
}

impl Pods {
    fn retire(&mut self, key: &PodKey, why: Stop) {
        if let Some(worker) = self.active.remove(key) {
            tracing::debug!(node = %self.kubelet.node, pod = %format!("{}/{}", key.0, key.1), ?why, "stopping the Pod");
            worker.stop.send_replace(Some(why));
        }
    }

    fn start(&mut self, key: PodKey, pod: Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let (pod_sender, pod_receiver) = watch::channel(pod);
        let (stop_sender, stop_receiver) = watch::channel(None);
        let (done_sender, done_receiver) = watch::channel(false);
        let predecessor = self.last_done.insert(key.clone(), done_receiver);
        let kubelet = Arc::clone(&self.kubelet);
        let task_key = key.clone();
        self.tasks.spawn(async move {
            let _done = Done(done_sender);
            let result = worker::run(kubelet, pod_receiver, stop_receiver, predecessor).await;
            (task_key, result)
        });
        self.active.insert(
            key,
            WorkerHandle {
                uid,
                pod: pod_sender,
                stop: stop_sender,
            },
        );
    }

    fn on_pod(&mut self, pod: Pod) {
        let key = key_of(&pod);
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if let Some(relisted) = self.relisted.as_mut() {
            relisted.insert(key.clone());
        }
        if self.active.get(&key).is_some_and(|worker| worker.uid != uid) {
            // The Pod was replaced by another of the same name.
            self.retire(&key, Stop::Deleted);
        }
        let marked = pod.metadata.deletion_timestamp.is_some();
        if let Some(worker) = self.active.get(&key) {
            worker.pod.send_replace(pod);
            if marked {
                self.retire(&key, Stop::Marked);
            }
            return;
        }
        if marked {
            let finishing = self.last_done.get(&key).is_some_and(|done| !*done.borrow());
            if !finishing && self.confirmed.insert(uid) {
                // Never ran here (or already stopped): confirm at once.
                let client = self.kubelet.client.clone();
                tokio::spawn(async move { worker::confirm_deletion(&client, &pod).await });
            }
            return;
        }
        let phase = pod.status.as_ref().and_then(|status| status.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            return;
        }
        self.start(key, pod);
    }

    fn on_event(&mut self, event: Event<Pod>) {
        match event {
            Event::Init => self.relisted = Some(BTreeSet::new()),
            Event::InitApply(pod) | Event::Apply(pod) => self.on_pod(pod),
            Event::InitDone => {
                let listed = self.relisted.take().unwrap_or_default();
                let gone: Vec<PodKey> = self
                    .active
                    .keys()
                    .filter(|key| !listed.contains(*key))
                    .cloned()
                    .collect();
                for key in gone {
                    self.retire(&key, Stop::Deleted);
                }
            }
            Event::Delete(pod) => {
                let key = key_of(&pod);
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if self.active.get(&key).is_some_and(|worker| worker.uid == uid) {
                    self.retire(&key, Stop::Deleted);
                }
                self.confirmed.remove(&uid);
            }
        }
    }

    fn finished(
        &self,
        finished: Result<(PodKey, Result<(), NodeError>), tokio::task::JoinError>,
    ) -> Option<String> {
        match finished {
            Ok((_, Ok(()))) => None,
            Ok(((namespace, name), Err(error))) => {
                tracing::warn!(%error, node = %self.kubelet.node, pod = %format!("{namespace}/{name}"), "a Pod did not stop cleanly");
                Some(format!("{namespace}/{name}: {error}"))
            }
            Err(error) => {
                tracing::warn!(%error, node = %self.kubelet.node, "a Pod worker failed");
                Some(format!("a Pod worker failed: {error}"))
            }
        }
    }
}

/// Runs every Pod bound to the node until `shutdown` turns true, then stops
/// them all; an error lists what did not stop cleanly.
pub(crate) async fn run(kubelet: Arc<Kubelet>, mut shutdown: watch::Receiver<bool>) -> Result<(), NodeError> {
    let api: Api<Pod> = Api::all(kubelet.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", kubelet.node));
    let mut stream = watch_objects(api, config).default_backoff().boxed();
    let mut pods = Pods {
        kubelet: Arc::clone(&kubelet),
        active: BTreeMap::new(),
        last_done: BTreeMap::new(),
        confirmed: HashSet::new(),
        relisted: None,
        tasks: JoinSet::new(),
    };
    let mut failures = Vec::new();
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            event = stream.next() => match event {
                Some(Ok(event)) => pods.on_event(event),
                Some(Err(error)) => tracing::warn!(%error, node = %kubelet.node, "Pod watch failed; resuming"),
                None => break,
            },
            Some(finished) = pods.tasks.join_next(), if !pods.tasks.is_empty() => {
                failures.extend(pods.finished(finished));
            }
        }
    }
    let keys: Vec<PodKey> = pods.active.keys().cloned().collect();
    for key in keys {
        pods.retire(&key, Stop::Shutdown);
    }
    while let Some(finished) = pods.tasks.join_next().await {
        failures.extend(pods.finished(finished));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(NodeError::Shutdown {
            node: kubelet.node.clone(),
            message: failures.join("; "),
        })
    }
}
