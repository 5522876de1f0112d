//! One Pod on a simulated node, from its network to its end, as a kubelet's
//! pod worker runs it.
//!
//! It takes an address from the node's pod CIDR, creates the Pod's network
//! (retrying, with `FailedCreatePodSandBox` Events, while it cannot), reads
//! the Secrets, ConfigMaps and claims the Pod refers to (binding Pending
//! claims, since the sandbox has no provisioner), and starts the runtime.
//! While the Pod runs it re-reads those objects every couple of seconds and
//! hands the runtime newer objects and newer labels (the controller moves the
//! role label on live Pods, and the sidecar reads it from the downwardAPI
//! volume); it writes `pods/status` whenever the runtime's status changes (on
//! the runtime's change signal and on a poll, since probes flip readiness)
//! and posts the runtime's Events. Told to stop, it stops the runtime (within
//! the deletion grace period for a Pod marked for deletion, then deleting it
//! with `gracePeriodSeconds=0`), removes the network and frees the address.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, PodStatus, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, ResourceExt};
use tokio::sync::watch;

use super::addresses::pod_netns_name;
use super::error::NodeError;
use super::events::{self, Regarding};
use super::pods::{Kubelet, PodSlot, Stop, key_of, lock};
use super::references::{PodReferences, pod_inputs_changed, references, versions};
use super::registration::FIELD_MANAGER;
use super::status::{claim_bound_patch, status_patch};
use crate::kubelet::{EventType, KubeletEvent, PodNetwork, PodObjects, PodPlacement, PodRuntime};

/// How long a worker waits before retrying a pod network it could not create.
const NETWORK_RETRY: Duration = Duration::from_secs(2);
/// The shortest grace a Pod marked for deletion gets (the kubelet's minimum).
const MINIMUM_GRACE: Duration = Duration::from_secs(2);

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

/// The address a worker holds, released when it ends.
struct Address {
    kubelet: Arc<Kubelet>,
    ip: Ipv4Addr,
    uid: String,
}

impl Drop for Address {
    fn drop(&mut self) {
        lock(&self.kubelet.addresses).release(self.ip, &self.uid);
    }
}

/// The Pod a worker runs, and how it hears about it.
struct Work {
    kubelet: Arc<Kubelet>,
    namespace: String,
    name: String,
    uid: String,
    regarding: Regarding,
    pod_updates: watch::Receiver<Pod>,
    stop: watch::Receiver<Option<Stop>>,
}

/// What a running Pod's worker hands the runtime, kept to notice change.
struct Handed {
    pod: Pod,
    objects: PodObjects,
}

impl Work {
    fn pod_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn latest(&self) -> Pod {
        self.pod_updates.borrow().clone()
    }

    async fn post(&self, recorded: &KubeletEvent) {
        let event = events::kubelet_event(&self.regarding, &self.kubelet.node, recorded);
        events::post(&self.kubelet.client, event).await;
    }

    async fn event(&self, type_: EventType, reason: &str, message: String, container: Option<&str>) {
        let recorded = KubeletEvent {
            type_,
            reason: reason.to_owned(),
            message,
            container: container.map(str::to_owned),
            count: 1,
            last_seen: Timestamp::now(),
        };
        self.post(&recorded).await;
    }

    /// The end of a worker whose Pod never ran: a Pod marked for deletion is
    /// deleted for good.
    async fn end_unstarted(&self, why: Stop) -> Result<(), NodeError> {
        if why == Stop::Marked {
            confirm_deletion(&self.kubelet.client, &self.latest()).await;
        }
        Ok(())
    }

    /// The Pod's network, retried until created; the stop that came first
    /// otherwise.
    async fn network(&mut self, netns: &str, ip: Ipv4Addr) -> Result<PodNetwork, Stop> {
        let gateway = lock(&self.kubelet.addresses).cidr().gateway();
        loop {
            let (node_netns, pod_netns) = (self.kubelet.node_netns.clone(), netns.to_owned());
            let created =
                tokio::task::spawn_blocking(move || PodNetwork::create(&node_netns, &pod_netns, ip, gateway))
                    .await;
            let message = match created {
                Ok(Ok(network)) => return Ok(network),
                Ok(Err(error)) => error.to_string(),
                Err(error) => format!("the network setup failed: {error}"),
            };
            tracing::warn!(node = %self.kubelet.node, pod = %self.pod_name(), %message, "cannot create the pod network; retrying");
            self.event(
                EventType::Warning,
                "FailedCreatePodSandBox",
                format!("Failed to create pod sandbox: {message}"),
                None,
            )
            .await;
            tokio::select! {
                () = tokio::time::sleep(NETWORK_RETRY) => {}
                why = stopped(&mut self.stop) => return Err(why),
            }
        }
    }

    /// The objects `pod` refers to, or none when they cannot be read (the
    /// refresh tries again).
    async fn objects(&self, pod: &Pod) -> Option<PodObjects> {
        match fetch_objects(&self.kubelet.client, &self.namespace, &references(pod)).await {
            Ok(objects) => {
                bind_claims(&self.kubelet.client, &self.namespace, &objects).await;
                Some(objects)
            }
            Err(error) => {
                tracing::debug!(%error, pod = %self.pod_name(), "cannot read the Pod's objects");
                None
            }
        }
    }

    /// Keeps the running Pod's inputs fresh and its status written, until
    /// told to stop.
    async fn supervise(&mut self, slot: &PodSlot, mut handed: Handed) -> Stop {
        let options = self.kubelet.options.clone();
        let api: Api<Pod> = Api::namespaced(self.kubelet.client.clone(), &self.namespace);
        let mut changes = match slot.with(PodRuntime::subscribe) {
            Some(changes) => changes,
            None => return stopped(&mut self.stop).await,
        };
        let mut signalled = true;
        let mut written: Option<PodStatus> = None;
        let mut handed_versions = versions(&handed.objects);
        let start = tokio::time::Instant::now();
        let mut refresh =
            tokio::time::interval_at(start + options.refresh_interval, options.refresh_interval);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut poll = tokio::time::interval(options.status_poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                why = stopped(&mut self.stop) => return why,
                changed = self.pod_updates.changed() => {
                    if changed.is_err() {
                        return Stop::Shutdown;
                    }
                    let newer = self.pod_updates.borrow_and_update().clone();
                    if pod_inputs_changed(&handed.pod, &newer) {
                        handed.pod = newer;
                        hand_over(slot, &handed);
                    }
                }
                _ = refresh.tick() => {
                    if let Some(fresh) = self.objects(&handed.pod).await {
                        let fresh_versions = versions(&fresh);
                        if fresh_versions != handed_versions {
                            handed.objects = fresh;
                            handed_versions = fresh_versions;
                            hand_over(slot, &handed);
                        }
                    }
                }
                changed = changes.changed(), if signalled => {
                    signalled = changed.is_ok();
                }
                _ = poll.tick() => {}
            }
            self.sync(&api, slot, &mut written).await;
        }
    }

    /// Writes the status if it changed and posts the runtime's Events.
    async fn sync(&self, api: &Api<Pod>, slot: &PodSlot, written: &mut Option<PodStatus>) {
        let Some((status, recorded)) = slot.with(|runtime| (runtime.status(), runtime.drain_events())) else {
            return;
        };
        if let Some(patch) = status_patch(written.as_ref(), &status) {
            match api
                .patch_status(&self.name, &params(), &Patch::Merge(patch))
                .await
            {
                Ok(_) => *written = Some(status),
                // Deleted: the watch says so next.
                Err(kube::Error::Api(failure)) if failure.code == 404 => {}
                Err(error) => {
                    tracing::warn!(%error, pod = %self.pod_name(), "cannot write the Pod status; retrying")
                }
            }
        }
        for event in &recorded {
            self.post(event).await;
        }
    }

    /// Stops the runtime as `why` asks; whether it stopped cleanly.
    async fn stop_runtime(&self, slot: &PodSlot, why: Stop) -> Result<(), NodeError> {
        // Taken by a node handle that was dropped: its processes were killed.
        let Some(runtime) = lock(&slot.runtime).take() else {
            return Ok(());
        };
        for event in runtime.drain_events() {
            self.post(&event).await;
        }
        if why != Stop::Shutdown {
            // The runtime records these too, but its record goes with it.
            for container in &slot.containers {
                let message = format!("Stopping container {container}");
                self.event(EventType::Normal, "Killing", message, Some(container))
                    .await;
            }
        }
        let stopped = match (why, deletion_grace(&self.latest())) {
            (Stop::Marked, Some(grace)) => runtime.stop_within(grace).await,
            _ => runtime.stop().await,
        };
        stopped.map_err(NodeError::from)
    }
}

/// Waits until a stop is asked for; which one.
async fn stopped(stop: &mut watch::Receiver<Option<Stop>>) -> Stop {
    match stop.wait_for(Option::is_some).await {
        Ok(why) => why.unwrap_or(Stop::Shutdown),
        Err(_) => Stop::Shutdown,
    }
}

/// Runs one Pod until told to stop, after `predecessor` (the previous
/// worker of the same Pod name) has ended.
pub(super) async fn run(
    kubelet: Arc<Kubelet>,
    pod_updates: watch::Receiver<Pod>,
    stop: watch::Receiver<Option<Stop>>,
    predecessor: Option<watch::Receiver<bool>>,
) -> Result<(), NodeError> {
    let pod = pod_updates.borrow().clone();
    let (namespace, name) = key_of(&pod);
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let mut work = Work {
        regarding: Regarding::pod(&namespace, &name, &uid),
        kubelet,
        namespace,
        name,
        uid,
        pod_updates,
        stop,
    };
    if let Some(mut previous) = predecessor {
        tokio::select! {
            () = async { drop(previous.wait_for(|done| *done).await) } => {}
            why = stopped(&mut work.stop) => return work.end_unstarted(why).await,
        }
    }
    let pod = work.pod_updates.borrow_and_update().clone();

    let allocated = lock(&work.kubelet.addresses).allocate(&work.uid);
    let Some(ip) = allocated else {
        let cidr = lock(&work.kubelet.addresses).cidr();
        let message = format!("no free address left in the node's pod CIDR {cidr}");
        work.event(EventType::Warning, "FailedCreatePodSandBox", message, None)
            .await;
        let why = stopped(&mut work.stop).await;
        return work.end_unstarted(why).await;
    };
    let _address = Address {
        kubelet: Arc::clone(&work.kubelet),
        ip,
        uid: work.uid.clone(),
    };
    let netns = pod_netns_name(&work.kubelet.node_netns, &work.uid);
    let network = match work.network(&netns, ip).await {
        Ok(network) => network,
        Err(why) => return work.end_unstarted(why).await,
    };

    let objects = work.objects(&pod).await.unwrap_or_default();
    let placement = PodPlacement {
        node_name: work.kubelet.node.clone(),
        node_netns: work.kubelet.node_netns.clone(),
        pod_netns: netns.clone(),
        pod_ip: IpAddr::V4(ip),
        host_ip: IpAddr::V4(work.kubelet.host_ip),
    };
    let started = PodRuntime::start(
        work.kubelet.runtime.clone(),
        pod.clone(),
        objects.clone(),
        placement,
    );
    let runtime = match started {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::warn!(%error, pod = %work.pod_name(), "the Pod cannot run here");
            work.event(EventType::Warning, "Failed", format!("Error: {error}"), None)
                .await;
            let why = stopped(&mut work.stop).await;
            remove_network(network).await;
            return work.end_unstarted(why).await;
        }
    };
    let key = (work.namespace.clone(), work.name.clone());
    let slot = Arc::new(PodSlot {
        namespace: work.namespace.clone(),
        name: work.name.clone(),
        uid: work.uid.clone(),
        ip,
        netns: netns.clone(),
        containers: pod
            .spec
            .iter()
            .flat_map(|spec| spec.containers.iter().map(|container| container.name.clone()))
            .collect(),
        runtime: Mutex::new(Some(runtime)),
    });
    lock(&work.kubelet.slots).insert(key.clone(), Arc::clone(&slot));
    tracing::info!(node = %work.kubelet.node, pod = %work.pod_name(), %ip, %netns, "running the Pod");

    let why = work.supervise(&slot, Handed { pod, objects }).await;

    // The Pod leaves the node's list first, so that nobody signals
    // processes that are being stopped.
    {
        let mut slots = lock(&work.kubelet.slots);
        if slots.get(&key).is_some_and(|current| Arc::ptr_eq(current, &slot)) {
            slots.remove(&key);
        }
    }
    let stopped = work.stop_runtime(&slot, why).await;
    remove_network(network).await;
    if why == Stop::Marked {
        confirm_deletion(&work.kubelet.client, &work.latest()).await;
    }
    tracing::info!(node = %work.kubelet.node, pod = %work.pod_name(), ?why, "the Pod stopped");
    stopped
}

/// The Secrets, ConfigMaps and claims of `references` in `namespace`; the
/// missing ones are left out (the runtime reports them).
async fn fetch_objects(
    client: &kube::Client,
    namespace: &str,
    references: &PodReferences,
) -> Result<PodObjects, kube::Error> {
    let mut objects = PodObjects::default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for name in &references.secrets {
        objects.secrets.extend(secrets.get_opt(name).await?);
    }
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    for name in &references.config_maps {
        objects.config_maps.extend(maps.get_opt(name).await?);
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    for name in &references.claims {
        objects.claims.extend(claims.get_opt(name).await?);
    }
    Ok(objects)
}

/// Marks the Pod's Pending claims Bound. Best effort: where the status
/// cannot be written (a real cluster's provisioner owns it), nothing is
/// pretended.
async fn bind_claims(client: &kube::Client, namespace: &str, objects: &PodObjects) {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    for claim in &objects.claims {
        let Some(patch) = claim_bound_patch(claim) else {
            continue;
        };
        let name = claim.name_any();
        match api.patch_status(&name, &params(), &Patch::Merge(patch)).await {
            Ok(_) => tracing::debug!(claim = %format!("{namespace}/{name}"), "claim bound"),
            Err(error) => {
                tracing::debug!(%error, claim = %format!("{namespace}/{name}"), "cannot bind the claim")
            }
        }
    }
}

/// Deletes `pod` for good (`gracePeriodSeconds=0`, this uid only).
pub(super) async fn confirm_deletion(client: &kube::Client, pod: &Pod) {
    let (namespace, name) = key_of(pod);
    let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => tracing::debug!(pod = %format!("{namespace}/{name}"), "deletion confirmed"),
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
        Err(error) => {
            tracing::warn!(%error, pod = %format!("{namespace}/{name}"), "cannot confirm the deletion")
        }
    }
}

/// How long a Pod marked for deletion may take to stop.
fn deletion_grace(pod: &Pod) -> Option<Duration> {
    pod.metadata
        .deletion_grace_period_seconds
        .and_then(|seconds| u64::try_from(seconds).ok())
        .map(|seconds| Duration::from_secs(seconds).max(MINIMUM_GRACE))
}

/// Hands newer inputs to the runtime.
fn hand_over(slot: &PodSlot, handed: &Handed) {
    let updated = slot.with(|runtime| runtime.update(handed.pod.clone(), handed.objects.clone()));
    if let Some(Err(error)) = updated {
        tracing::debug!(%error, pod = %format!("{}/{}", slot.namespace, slot.name), "volumes not refreshed yet");
    }
}

/// Removes a pod network off the async threads.
async fn remove_network(mut network: PodNetwork) {
    let namespace = network.pod_netns().to_owned();
    match tokio::task::spawn_blocking(move || network.delete()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, netns = %namespace, "cannot remove the pod network"),
        Err(error) => tracing::warn!(%error, netns = %namespace, "cannot remove the pod network"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_pod_gets_its_deletion_grace_but_at_least_two_seconds() {
        let mut pod = Pod::default();
        assert_eq!(deletion_grace(&pod), None, "not marked: its own grace period");
        pod.metadata.deletion_grace_period_seconds = Some(0);
        assert_eq!(deletion_grace(&pod), Some(MINIMUM_GRACE));
        pod.metadata.deletion_grace_period_seconds = Some(30);
        assert_eq!(deletion_grace(&pod), Some(Duration::from_secs(30)));
    }
}
