//! Simulated nodes: what turns the API simulator (or a real API server)
//! into a cluster whose Pods really run. A [`SimulatedNode`] registers a
//! Node and keeps it Ready with heartbeats and a Lease, as a kubelet does,
//! and runs every Pod bound to it as real processes through the pod runtime
//! ([`crate::kubelet`]), in pod network namespaces wired to the node's
//! namespace, writing their status and Events back. [`run_scheduler`] binds
//! pending Pods to the nodes that admit them ([`crate::scheduler`]), so the
//! controller's Pods travel the same path as in a cluster: created, bound,
//! run, reported.
//!
//! - [`registration`]: the Node and its Lease, heartbeats, pause/resume;
//! - `pods` and `worker` (private): the kubelet loop and its per-Pod
//!   workers;
//! - [`scheduling`]: the scheduler loop and its pure decisions;
//! - [`addresses`], [`references`], [`status`], [`events`]: the pure parts
//!   (IP bookkeeping, which objects a Pod needs, when to write, what an
//!   Event says), unit-tested;
//! - [`error`]: the [`NodeError`] type.
//!
//! The node's namespace must exist already (the topology creates it); the
//! node creates and removes only its Pods' namespaces. Running Pods needs
//! root, `ip`, `mariadbd` and `mariadb-install-db`, as the pod runtime does.

pub mod addresses;
pub mod error;
pub mod events;
mod pods;
pub mod references;
pub mod registration;
pub mod scheduling;
pub mod status;
mod worker;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Taint;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::NodeError;
pub use scheduling::{DEFAULT_SCHEDULER, SchedulerOptions, run_scheduler};

use crate::kubelet::netns::netns_path;
use crate::kubelet::process::is_alive;
use crate::kubelet::{Ipv4Cidr, RuntimeConfig};
use registration::{HeartbeatControl, Heartbeats};

/// What a simulated node is.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSpec {
    /// The Node object's name.
    pub name: String,
    /// Its labels; `kubernetes.io/hostname=<name>` (and `kubernetes.io/os`,
    /// `kubernetes.io/arch`) are always added.
    pub labels: BTreeMap<String, String>,
    /// Its taints, e.g. `kosmos.io/node=true:NoSchedule` for a virtual node.
    pub taints: Vec<Taint>,
    /// `spec.podCIDR(s)`; Pods get their addresses from it (the first host
    /// address is the gateway on the node side of every Pod's veth).
    pub pod_cidr: Ipv4Cidr,
    /// `status.addresses` InternalIP, and the Pods' `hostIP`.
    pub internal_ip: Ipv4Addr,
    /// The node's network namespace (it must exist) that Pods are wired to.
    pub netns: String,
}

/// How often a node does things; the defaults are a kubelet's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeOptions {
    /// Node status heartbeat and Lease renewal (10 s).
    pub heartbeat_interval: Duration,
    /// How often a running Pod's Secrets, ConfigMaps and claims are re-read
    /// (2 s).
    pub refresh_interval: Duration,
    /// How often a running Pod's status is compared with what was written,
    /// besides the runtime's own change signal (1 s).
    pub status_poll: Duration,
}

/// The shortest interval a node accepts (a zero interval would spin).
const MINIMUM_INTERVAL: Duration = Duration::from_millis(10);

impl NodeOptions {
    fn clamped(self) -> Self {
        Self {
            heartbeat_interval: self.heartbeat_interval.max(MINIMUM_INTERVAL),
            refresh_interval: self.refresh_interval.max(MINIMUM_INTERVAL),
            status_poll: self.status_poll.max(MINIMUM_INTERVAL),
        }
    }
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(10),
            refresh_interval: Duration::from_secs(2),
            status_poll: Duration::from_secs(1),
        }
    }
}

/// A Pod running on a node, for scenarios and the demo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// uid.
    pub uid: String,
    /// Its address (`status.podIP`).
    pub ip: Ipv4Addr,
    /// Its network namespace.
    pub netns: String,
    /// The pid of each running container.
    pub pids: BTreeMap<String, u32>,
    /// The log file of each container.
    pub logs: BTreeMap<String, PathBuf>,
}

/// A node registered with an API and running the Pods bound to it.
pub struct SimulatedNode {
    name: String,
    kubelet: Arc<pods::Kubelet>,
    control: Arc<HeartbeatControl>,
    shutdown: watch::Sender<bool>,
    heartbeats: Option<JoinHandle<()>>,
    pods: Option<JoinHandle<Result<(), NodeError>>>,
}

impl SimulatedNode {
    /// Registers the Node (creating it, or taking over an existing one),
    /// keeps it Ready (the Ready condition's heartbeat and a Lease in
    /// `kube-node-lease`, renewed every 10 s), and runs every Pod bound to it
    /// as real processes, writing their status and the kubelet's Events
    /// back. Pods' own directories go under `runtime.pods_dir/<node name>`,
    /// so that nodes may share one [`RuntimeConfig`]. Fails when the node's
    /// namespace does not exist or the API refuses the registration.
    pub async fn start(
        client: kube::Client,
        spec: NodeSpec,
        runtime: RuntimeConfig,
    ) -> Result<SimulatedNode, NodeError> {
        Self::start_with(client, spec, runtime, NodeOptions::default()).await
    }

    /// [`Self::start`] with other intervals (at least 10 ms each).
    pub async fn start_with(
        client: kube::Client,
        spec: NodeSpec,
        mut runtime: RuntimeConfig,
        options: NodeOptions,
    ) -> Result<SimulatedNode, NodeError> {
        let invalid = |message: String| NodeError::Invalid {
            node: spec.name.clone(),
            message,
        };
        if spec.name.is_empty() || spec.name.contains('/') || spec.name.starts_with('.') {
            return Err(invalid(format!("{:?} cannot name a node", spec.name)));
        }
        if !netns_path(&spec.netns).exists() {
            return Err(invalid(format!(
                "the node network namespace {} does not exist",
                spec.netns
            )));
        }
        let options = options.clamped();
        runtime.pods_dir = runtime.pods_dir.join(&spec.name);
        let node_uid = registration::register(&client, &spec).await?;
        let control = Arc::new(HeartbeatControl::default());
        let (shutdown, _) = watch::channel(false);
        let heartbeats = tokio::spawn(registration::heartbeat_loop(
            Heartbeats {
                client: client.clone(),
                spec: spec.clone(),
                node_uid,
                interval: options.heartbeat_interval,
                control: Arc::clone(&control),
            },
            shutdown.subscribe(),
        ));
        let kubelet = Arc::new(pods::Kubelet::new(client, &spec, runtime, options));
        let pods = tokio::spawn(pods::run(Arc::clone(&kubelet), shutdown.subscribe()));
        tracing::info!(node = %spec.name, cidr = %spec.pod_cidr, netns = %spec.netns, "node registered");
        Ok(SimulatedNode {
            name: spec.name,
            kubelet,
            control,
            shutdown,
            heartbeats: Some(heartbeats),
            pods: Some(pods),
        })
    }

    /// The Node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `kill -9` of `container` of Pod `namespace/pod` running here, without
    /// warning (a crash, the OOM killer); the runtime restarts it under the
    /// Pod's restartPolicy. The pid that was killed.
    pub fn kill9(&self, namespace: &str, pod: &str, container: &str) -> Result<u32, NodeError> {
        self.kubelet.kill9(namespace, pod, container)
    }

    /// The Pods running here, with their address, namespace and pids.
    pub fn pods(&self) -> Vec<RunningPod> {
        self.kubelet.pods()
    }

    /// Stops the heartbeats: the Lease is no longer renewed and the Ready
    /// condition turns `Unknown` (reason `NodeStatusUnknown`) at once, what
    /// the node-lifecycle controller the sandbox lacks would write after its
    /// grace period. The Pods keep running and reporting.
    pub fn pause_heartbeats(&self) {
        self.control.set_paused(true);
    }

    /// Resumes the heartbeats: Ready `True` and the Lease renewed at once.
    pub fn resume_heartbeats(&self) {
        self.control.set_paused(false);
    }

    /// Stops every Pod (processes gone, pod namespaces removed) and the
    /// loops, and checks that none of the Pods' processes and namespaces
    /// survived. The Node object stays, as a stopped kubelet leaves it.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        let running = self.kubelet.pods();
        self.shutdown.send_replace(true);
        let mut problems = Vec::new();
        if let Some(heartbeats) = self.heartbeats.take()
            && let Err(error) = heartbeats.await
        {
            problems.push(format!("the heartbeat loop failed: {error}"));
        }
        if let Some(pods) = self.pods.take() {
            match pods.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => problems.push(error.to_string()),
                Err(error) => problems.push(format!("the Pod loop failed: {error}")),
            }
        }
        for pod in &running {
            for (container, pid) in &pod.pids {
                if is_alive(*pid) {
                    problems.push(format!(
                        "{}/{} container {container} (pid {pid}) survived",
                        pod.namespace, pod.name
                    ));
                }
            }
            if netns_path(&pod.netns).exists() {
                problems.push(format!(
                    "{}/{}: the network namespace {} survived",
                    pod.namespace, pod.name, pod.netns
                ));
            }
        }
        if problems.is_empty() {
            tracing::info!(node = %self.name, "node stopped");
            Ok(())
        } else {
            Err(NodeError::Shutdown {
                node: self.name.clone(),
                message: problems.join("; "),
            })
        }
    }
}

impl Drop for SimulatedNode {
    /// A node dropped without [`SimulatedNode::shutdown`] still leaves no
    /// process: its Pods' processes are killed at once, and the loops are
    /// told to stop (removing the Pods' namespaces as they end).
    fn drop(&mut self) {
        if self.pods.is_some() {
            self.shutdown.send_replace(true);
            drop(self.kubelet.take_runtimes());
        }
    }
}
