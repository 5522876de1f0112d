//! [`PodRuntime`]: one Pod's containers as real processes, supervised the
//! way a kubelet supervises them.
//!
//! Volumes are set up first (the Pod waits in `ContainerCreating` until its
//! ConfigMaps, Secrets and claims exist). Each container then has a
//! supervisor task: it resolves the container's env (waiting in
//! `CreateContainerConfigError` while a Secret key is missing), starts the
//! process in the Pod's network namespace, runs the Pod's probes against it
//! from the node's namespace, records how it ended, and starts it again under
//! the Pod's `restartPolicy` with the kubelet's crash-loop back-off, so a
//! `kill -9` of mysqld is followed by a restart as in a cluster. Stopping
//! sends SIGTERM to every process group, SIGKILL after the grace period, and
//! checks that no process survived.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod, PodStatus};
use k8s_openapi::jiff::Timestamp;
use nix::sys::signal::Signal;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::command::require;
use super::error::KubeletError;
use super::events::{EventLog, EventType, KubeletEvent};
use super::fieldpath::PodFacts;
use super::launch::{Launch, LaunchInputs, prepare};
use super::mysqld::{self, InitOutcome, defaults_file, mariadbd, server_args};
use super::objects::PodObjects;
use super::probe::{ProbeKind, ProbeSpec, ProbeTracker};
use super::process::{LivePids, Spawner, process_environment};
use super::restart::{BackoffState, RestartBackoff, should_restart};
use super::status::{
    CONTAINER_CREATING, CRASH_LOOP_BACK_OFF, CREATE_CONTAINER_CONFIG_ERROR, CREATE_CONTAINER_ERROR,
    ConditionClock, ContainerRecord, PodPlace, RunState, Termination, pod_status, summary,
};
use super::volumes::{self, MountMap, PodDirs};

/// How often a container that cannot be configured or created, or a Pod
/// whose volumes cannot be set up, is retried.
const RETRY: Duration = Duration::from_secs(1);
/// The grace period when the Pod names none (Kubernetes' default).
const DEFAULT_GRACE: Duration = Duration::from_secs(30);
/// How long after the grace period a stop may still take before the
/// processes are killed outright.
const STOP_MARGIN: Duration = Duration::from_secs(10);

/// What every Pod of a sandbox node shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// The drmysql binary (see [`super::drmysql_binary`]).
    pub drmysql_binary: PathBuf,
    /// Where Pods' own directories go (removed with each Pod).
    pub pods_dir: PathBuf,
    /// Where claims' directories go (kept across Pods).
    pub claims_root: PathBuf,
    /// The crash-loop back-off.
    pub backoff: RestartBackoff,
}

/// Where a Pod runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodPlacement {
    /// The node's name (`spec.nodeName`).
    pub node_name: String,
    /// The node's network namespace, where probes come from.
    pub node_netns: String,
    /// The Pod's network namespace (see [`super::PodNetwork`]).
    pub pod_netns: String,
    /// The Pod's address.
    pub pod_ip: IpAddr,
    /// The node's address (`status.hostIP`).
    pub host_ip: IpAddr,
}

struct Inputs {
    pod: Pod,
    objects: PodObjects,
}

/// How one run of a container's process ended.
enum Work {
    Exited(ExitStatus),
    Failed {
        exit_code: i32,
        reason: &'static str,
        message: String,
    },
    Stopped,
}

struct Shared {
    config: RuntimeConfig,
    placement: PodPlacement,
    dirs: PodDirs,
    ip: PathBuf,
    pod_key: String,
    hostname: String,
    containers: Vec<Container>,
    probes: Vec<Vec<ProbeSpec>>,
    restart_policy: Option<String>,
    start_time: Timestamp,
    inputs: Mutex<Inputs>,
    records: Mutex<Vec<ContainerRecord>>,
    clock: Mutex<ConditionClock>,
    events: Mutex<EventLog>,
    volumes_ready: Mutex<bool>,
    live: LivePids,
    grace: Mutex<Duration>,
    stopping: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
    changes: watch::Sender<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A terminated run becomes the last state when the container moves on.
fn leave_terminated(record: &mut ContainerRecord) {
    if let RunState::Terminated(termination) = &record.state {
        record.last_termination = Some(termination.clone());
    }
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn changed(&self) {
        self.changes
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    fn update_record<T>(&self, index: usize, change: impl FnOnce(&mut ContainerRecord) -> T) -> Option<T> {
        let result = lock(&self.records).get_mut(index).map(change);
        self.changed();
        result
    }

    fn record(&self, index: usize) -> Option<ContainerRecord> {
        lock(&self.records).get(index).cloned()
    }

    fn event(&self, type_: EventType, reason: &str, message: String, container: Option<&str>) {
        lock(&self.events).record(type_, reason, message, container, Timestamp::now());
    }

    /// Sleeps, or returns early with `true` when the Pod is being stopped.
    async fn sleep_or_stop(&self, duration: Duration) -> bool {
        let mut stop = self.stop.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(duration) => self.stopping(),
            _ = stop.wait_for(|stopping| *stopping) => true,
        }
    }

    fn materialise(&self) -> Result<(), KubeletError> {
        let mut ready = lock(&self.volumes_ready);
        let inputs = lock(&self.inputs);
        volumes::materialise(&inputs.pod, &inputs.objects, &self.dirs)?;
        *ready = true;
        Ok(())
    }

    fn prepare(&self, container: &Container) -> Result<Launch, KubeletError> {
        let inputs = lock(&self.inputs);
        let mounts = MountMap::for_pod(&inputs.pod, &self.dirs, &inputs.objects)?;
        let launch_inputs = LaunchInputs {
            facts: PodFacts {
                pod: &inputs.pod,
                node_name: &self.placement.node_name,
                pod_ip: self.placement.pod_ip,
                host_ip: self.placement.host_ip,
            },
            objects: &inputs.objects,
            mounts: &mounts,
            dirs: &self.dirs,
            drmysql_binary: &self.config.drmysql_binary,
        };
        prepare(container, &launch_inputs)
    }

    /// Signals the current process of container `index`.
    fn signal(&self, index: usize, signal: Signal) {
        if let Some(pid) = self.record(index).and_then(|record| record.pid) {
            self.live.signal(pid, signal);
        }
    }

    fn kill_everything(&self) {
        self.live.signal_all(Signal::SIGKILL);
    }
}

/// One Pod's containers, running.
pub struct PodRuntime {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl PodRuntime {
    /// Starts running `pod` (already bound to `placement.node_name`) with
    /// the objects it refers to. Fails only when the Pod cannot be run at all
    /// (no spec, a probe kind the sandbox cannot run, `ip` missing); a
    /// missing object or key shows in [`Self::status`] instead, and the Pod
    /// starts once [`Self::update`] brings it.
    pub fn start(
        config: RuntimeConfig,
        pod: Pod,
        objects: PodObjects,
        placement: PodPlacement,
    ) -> Result<Self, KubeletError> {
        let ip = require("ip", "iproute2")?;
        let spec = pod
            .spec
            .clone()
            .ok_or_else(|| KubeletError::Pod("the Pod has no spec".to_owned()))?;
        if spec.containers.is_empty() {
            return Err(KubeletError::Pod("the Pod has no containers".to_owned()));
        }
        if spec.init_containers.as_ref().is_some_and(|init| !init.is_empty()) {
            return Err(KubeletError::Pod(
                "init containers are not supported by the sandbox kubelet".to_owned(),
            ));
        }
        let mut probes = Vec::new();
        for container in &spec.containers {
            let mut specs = Vec::new();
            for kind in [ProbeKind::Startup, ProbeKind::Readiness, ProbeKind::Liveness] {
                if let Some(probe) = ProbeSpec::of(kind, container).map_err(KubeletError::Pod)? {
                    specs.push(probe);
                }
            }
            probes.push(specs);
        }
        let dirs = PodDirs::new(&config.pods_dir, &config.claims_root, &pod)?;
        for directory in [dirs.root().join("logs"), dirs.root().join("run")] {
            std::fs::create_dir_all(&directory).map_err(KubeletError::io("cannot create", &directory))?;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let namespace = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let grace = spec
            .termination_grace_period_seconds
            .and_then(|seconds| u64::try_from(seconds).ok())
            .map_or(DEFAULT_GRACE, Duration::from_secs);
        let shared = Arc::new(Shared {
            config,
            placement,
            dirs,
            ip,
            pod_key: format!("{name}_{namespace}"),
            hostname: spec.hostname.clone().unwrap_or_else(|| name.clone()),
            records: Mutex::new(vec![ContainerRecord::default(); spec.containers.len()]),
            containers: spec.containers.clone(),
            probes,
            restart_policy: spec.restart_policy.clone(),
            start_time: Timestamp::now(),
            inputs: Mutex::new(Inputs { pod, objects }),
            clock: Mutex::new(ConditionClock::default()),
            events: Mutex::new(EventLog::default()),
            volumes_ready: Mutex::new(false),
            live: LivePids::default(),
            grace: Mutex::new(grace),
            stopping: Arc::new(AtomicBool::new(false)),
            stop: watch::channel(false).0,
            changes: watch::channel(0).0,
        });
        let worker = tokio::spawn(run_pod(Arc::clone(&shared)));
        Ok(Self {
            shared,
            worker: Some(worker),
        })
    }

    /// Takes a newer version of the Pod (its labels and annotations reach
    /// downwardAPI volumes and env `fieldRef`s) and of the objects it refers
    /// to (ConfigMap and Secret volumes are refreshed; env is read at the next
    /// container start, as in Kubernetes). The spec is not re-read.
    pub fn update(&self, pod: Pod, objects: PodObjects) -> Result<(), KubeletError> {
        *lock(&self.shared.inputs) = Inputs { pod, objects };
        let ready = *lock(&self.shared.volumes_ready);
        let refreshed = if ready { self.shared.materialise() } else { Ok(()) };
        self.shared.changed();
        refreshed
    }

    /// The Pod's status now, as the kubelet would write it.
    pub fn status(&self) -> PodStatus {
        let shared = &self.shared;
        let records = lock(&shared.records).clone();
        let pod = lock(&shared.inputs).pod.clone();
        let place = PodPlace {
            pod_ip: shared.placement.pod_ip,
            host_ip: shared.placement.host_ip,
            start_time: shared.start_time,
        };
        pod_status(&pod, &records, place, &mut lock(&shared.clock), Timestamp::now())
    }

    /// Where the Pod runs.
    pub fn placement(&self) -> &PodPlacement {
        &self.shared.placement
    }

    /// A receiver that changes whenever the status may have changed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// Waits up to `timeout` until `predicate` holds for the status.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut predicate: impl FnMut(&PodStatus) -> bool,
    ) -> Result<PodStatus, KubeletError> {
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.status();
            if predicate(&status) {
                return Ok(status);
            }
            // Probes flip readiness without a status write, so poll as well.
            let wake = tokio::time::timeout(Duration::from_millis(200), changes.changed());
            if tokio::time::Instant::now() >= deadline {
                return Err(KubeletError::Timeout(format!(
                    "the Pod did not reach the expected state within {timeout:?}: {}",
                    summary(&status)
                )));
            }
            let _ = wake.await;
        }
    }

    /// The pid of each running container.
    pub fn pids(&self) -> BTreeMap<String, u32> {
        let records = lock(&self.shared.records);
        self.shared
            .containers
            .iter()
            .zip(records.iter())
            .filter(|(_, record)| matches!(record.state, RunState::Running { .. }))
            .filter_map(|(container, record)| record.pid.map(|pid| (container.name.clone(), pid)))
            .collect()
    }

    /// The log file of `container` (every run's stdout and stderr).
    pub fn log_path(&self, container: &str) -> Result<PathBuf, KubeletError> {
        self.index(container)?;
        Ok(self.shared.dirs.log(container))
    }

    /// Takes the events recorded since the last call.
    pub fn drain_events(&self) -> Vec<KubeletEvent> {
        lock(&self.shared.events).drain()
    }

    fn index(&self, container: &str) -> Result<usize, KubeletError> {
        self.shared
            .containers
            .iter()
            .position(|candidate| candidate.name == container)
            .ok_or_else(|| KubeletError::NoSuchContainer(container.to_owned()))
    }

    /// `kill -9` of a container's processes, without warning: what a crash
    /// or the OOM killer does. The supervisor then restarts it under the
    /// Pod's restart policy. Returns the pid that was killed.
    pub fn kill9(&self, container: &str) -> Result<u32, KubeletError> {
        let index = self.index(container)?;
        let pid = self
            .shared
            .record(index)
            .filter(|record| matches!(record.state, RunState::Running { .. }))
            .and_then(|record| record.pid)
            .ok_or_else(|| KubeletError::Pod(format!("container {container} is not running")))?;
        if self.shared.live.signal(pid, Signal::SIGKILL) {
            Ok(pid)
        } else {
            Err(KubeletError::Pod(format!(
                "container {container} (pid {pid}) was already gone"
            )))
        }
    }

    /// Stops the Pod with its own grace period (`terminationGracePeriodSeconds`).
    pub async fn stop(self) -> Result<(), KubeletError> {
        let grace = *lock(&self.shared.grace);
        self.stop_within(grace).await
    }

    /// Stops the Pod: SIGTERM to every container's process group, SIGKILL
    /// after `grace`; then checks that none of its processes survived and
    /// removes the Pod's directory (claims stay).
    pub async fn stop_within(mut self, grace: Duration) -> Result<(), KubeletError> {
        let shared = Arc::clone(&self.shared);
        *lock(&shared.grace) = grace;
        shared.stopping.store(true, Ordering::SeqCst);
        shared.stop.send_replace(true);
        if let Some(mut worker) = self.worker.take()
            && tokio::time::timeout(grace + STOP_MARGIN, &mut worker)
                .await
                .is_err()
        {
            shared.kill_everything();
            worker.abort();
            let _ = worker.await;
        }
        // Every process was reaped by its supervisor; wait briefly for any
        // that was killed without one.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut survivors = shared.live.all();
        while !survivors.is_empty() && Instant::now() < deadline {
            shared.kill_everything();
            tokio::time::sleep(Duration::from_millis(20)).await;
            survivors = shared.live.all();
        }
        let root = shared.dirs.root();
        if let Err(error) = std::fs::remove_dir_all(root)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            return Err(KubeletError::Io {
                action: "cannot remove",
                path: root.to_path_buf(),
                source: error,
            });
        }
        if survivors.is_empty() {
            Ok(())
        } else {
            Err(KubeletError::Pod(format!(
                "processes {survivors:?} survived the Pod's stop"
            )))
        }
    }
}

impl Drop for PodRuntime {
    /// A runtime dropped without [`PodRuntime::stop`] still leaves no process
    /// behind: everything it started is killed at once.
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.shared.stopping.store(true, Ordering::SeqCst);
            self.shared.stop.send_replace(true);
            self.shared.kill_everything();
            worker.abort();
        }
    }
}

/// Sets up the volumes, then supervises every container until the Pod stops.
async fn run_pod(shared: Arc<Shared>) {
    loop {
        if shared.stopping() {
            return;
        }
        match shared.materialise() {
            Ok(()) => break,
            Err(error) => {
                let message = error.to_string();
                shared.event(EventType::Warning, "FailedMount", message.clone(), None);
                for index in 0..shared.containers.len() {
                    shared.update_record(index, |record| {
                        record.state = RunState::Waiting {
                            reason: CONTAINER_CREATING.to_owned(),
                            message: Some(message.clone()),
                        };
                    });
                }
                if shared.sleep_or_stop(RETRY).await {
                    return;
                }
            }
        }
    }
    let mut supervisors = tokio::task::JoinSet::new();
    for index in 0..shared.containers.len() {
        supervisors.spawn(supervise(Arc::clone(&shared), index));
    }
    while supervisors.join_next().await.is_some() {}
}

/// Runs container `index` again and again, as the restart policy says.
async fn supervise(shared: Arc<Shared>, index: usize) {
    let Some(container) = shared.containers.get(index).cloned() else {
        return;
    };
    let name = container.name.as_str();
    let mut backoff = BackoffState::default();
    loop {
        if shared.stopping() {
            return;
        }
        let launch = match shared.prepare(&container) {
            Ok(launch) => launch,
            Err(error) => {
                let (reason, message) = match error {
                    KubeletError::ContainerConfig { message, .. } => (CREATE_CONTAINER_CONFIG_ERROR, message),
                    KubeletError::ContainerCreate { message, .. } => (CREATE_CONTAINER_ERROR, message),
                    other => (CREATE_CONTAINER_ERROR, other.to_string()),
                };
                shared.event(
                    EventType::Warning,
                    "Failed",
                    format!("Error: {message}"),
                    Some(name),
                );
                shared.update_record(index, |record| {
                    leave_terminated(record);
                    record.state = RunState::Waiting {
                        reason: reason.to_owned(),
                        message: Some(message),
                    };
                    record.pid = None;
                    record.started = false;
                    record.ready = false;
                });
                if shared.sleep_or_stop(RETRY).await {
                    return;
                }
                continue;
            }
        };
        let began = Instant::now();
        let Some(exit_code) = execute(&shared, index, &container, launch).await else {
            return;
        };
        if shared.stopping() || !should_restart(shared.restart_policy.as_deref(), exit_code) {
            return;
        }
        let delay = shared.config.backoff.delay(&mut backoff, began.elapsed());
        if !delay.is_zero() {
            let message = format!(
                "back-off {}s restarting failed container={name} pod={}",
                delay.as_secs(),
                shared.pod_key
            );
            shared.event(EventType::Warning, "BackOff", message.clone(), Some(name));
            shared.update_record(index, |record| {
                leave_terminated(record);
                record.state = RunState::Waiting {
                    reason: CRASH_LOOP_BACK_OFF.to_owned(),
                    message: Some(message),
                };
            });
            if shared.sleep_or_stop(delay).await {
                return;
            }
        }
    }
}

fn exit_code(status: ExitStatus) -> (i32, Option<i32>) {
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, None),
        (None, Some(signal)) => (128 + signal, Some(signal)),
        (None, None) => (-1, None),
    }
}

/// One run of container `index`: start it, probe it, stop it when asked,
/// and record how it ended. The exit code, or `None` when the Pod stopped
/// before the container ran.
async fn execute(shared: &Arc<Shared>, index: usize, container: &Container, launch: Launch) -> Option<i32> {
    let name = container.name.clone();
    let started_at = Timestamp::now();
    let run = shared.update_record(index, |record| {
        leave_terminated(record);
        if record.last_termination.is_some() {
            record.restart_count = record.restart_count.saturating_add(1);
        }
        record.run = record.run.wrapping_add(1);
        record.state = RunState::Running { started_at };
        record.started = false;
        record.ready = false;
        record.pid = None;
        record.run
    })?;
    let environment = match &launch {
        Launch::Mysqld { environment, .. } | Launch::Program { environment, .. } => environment,
    };
    let on_spawn = {
        let shared = Arc::clone(shared);
        Box::new(move |pid: u32| {
            shared.update_record(index, |record| {
                if record.run == run {
                    record.pid = Some(pid);
                }
            });
        })
    };
    let spawner = Spawner {
        ip: shared.ip.clone(),
        netns: shared.placement.pod_netns.clone(),
        environment: process_environment(environment, &shared.hostname),
        cwd: shared.dirs.run(&name),
        log: shared.dirs.log(&name),
        stopping: Arc::clone(&shared.stopping),
        live: shared.live.clone(),
        on_spawn,
    };
    let (kill_sender, mut kill_requests) = mpsc::unbounded_channel::<String>();
    let work = run_container(shared, index, run, &launch, &spawner, kill_sender);
    tokio::pin!(work);
    let mut stop = shared.stop.subscribe();
    let mut kill_at: Option<tokio::time::Instant> = None;
    let mut killed = false;
    let outcome = loop {
        tokio::select! {
            outcome = &mut work => break outcome,
            _ = stop.wait_for(|stopping| *stopping), if kill_at.is_none() => {
                shared.event(EventType::Normal, "Killing", format!("Stopping container {name}"), Some(&name));
                shared.signal(index, Signal::SIGTERM);
                kill_at = Some(tokio::time::Instant::now() + *lock(&shared.grace));
            }
            Some(reason) = kill_requests.recv(), if kill_at.is_none() => {
                shared.event(EventType::Normal, "Killing", reason, Some(&name));
                shared.signal(index, Signal::SIGTERM);
                kill_at = Some(tokio::time::Instant::now() + *lock(&shared.grace));
            }
            () = tokio::time::sleep_until(kill_at.unwrap_or_else(tokio::time::Instant::now)), if kill_at.is_some() && !killed => {
                shared.signal(index, Signal::SIGKILL);
                killed = true;
            }
        }
    };
    let termination =
        |exit_code: i32, signal: Option<i32>, reason: &str, message: Option<String>| Termination {
            exit_code,
            signal,
            reason: reason.to_owned(),
            message,
            started_at,
            finished_at: Timestamp::now(),
        };
    let (ended, code) = match outcome {
        Work::Exited(status) => {
            let (code, signal) = exit_code(status);
            let reason = if code == 0 { "Completed" } else { "Error" };
            (termination(code, signal, reason, None), Some(code))
        }
        Work::Failed {
            exit_code,
            reason,
            message,
        } => {
            shared.event(EventType::Warning, "Failed", message.clone(), Some(&name));
            (
                termination(exit_code, None, reason, Some(message)),
                Some(exit_code),
            )
        }
        Work::Stopped => (
            termination(0, None, "Completed", Some("the Pod was stopped".to_owned())),
            None,
        ),
    };
    shared.update_record(index, |record| {
        if record.run == run {
            record.state = RunState::Terminated(ended);
            record.started = false;
            record.ready = false;
        }
    });
    code
}

/// Starts the container's process (after initialising mysqld's data
/// directory when needed) and waits for it, probing it meanwhile.
async fn run_container(
    shared: &Arc<Shared>,
    index: usize,
    run: u64,
    launch: &Launch,
    spawner: &Spawner,
    kill_sender: mpsc::UnboundedSender<String>,
) -> Work {
    let failed = |exit_code: i32, reason: &'static str, message: String| Work::Failed {
        exit_code,
        reason,
        message,
    };
    if let Err(error) = std::fs::create_dir_all(&spawner.cwd) {
        return failed(
            128,
            "StartError",
            format!("cannot create {}: {error}", spawner.cwd.display()),
        );
    }
    let (program, args) = match launch {
        Launch::Mysqld {
            paths,
            extra_args,
            environment,
        } => {
            if let Err(error) = std::fs::write(paths.defaults_file(), defaults_file(paths)) {
                return failed(
                    128,
                    "StartError",
                    format!("cannot write the defaults file: {error}"),
                );
            }
            match mysqld::initialise(paths, environment, spawner).await {
                Ok(InitOutcome::Done) => {}
                Ok(InitOutcome::Exited(status)) => return Work::Exited(status),
                Ok(InitOutcome::Stopped) => return Work::Stopped,
                // The image's entrypoint fails and the container exits 1.
                Err(error) => return failed(1, "Error", error.to_string()),
            }
            match mariadbd() {
                Ok(program) => (program, server_args(paths, extra_args)),
                Err(error) => return failed(128, "StartError", error.to_string()),
            }
        }
        Launch::Program { program, args, .. } => (program.clone(), args.clone()),
    };
    if spawner.stopping() {
        return Work::Stopped;
    }
    let mut child = match spawner.spawn(&program, &args) {
        Ok(child) => child,
        Err(error) => return failed(128, "StartError", error.to_string()),
    };
    let probes = &shared.probes[index];
    let has = |kind: ProbeKind| probes.iter().any(|probe| probe.kind == kind);
    let (startup, readiness) = (has(ProbeKind::Startup), has(ProbeKind::Readiness));
    shared.update_record(index, |record| {
        if record.run == run {
            record.started = !startup;
            record.ready = !startup && !readiness;
        }
    });
    let name = &shared.containers[index].name;
    shared.event(
        EventType::Normal,
        "Started",
        format!("Started container {name}"),
        Some(name),
    );
    let _probes = ProbeTasks(
        probes
            .iter()
            .cloned()
            .map(|spec| {
                tokio::spawn(probe_loop(
                    Arc::clone(shared),
                    index,
                    run,
                    spec,
                    readiness,
                    kill_sender.clone(),
                ))
            })
            .collect(),
    );
    match child.wait().await {
        Ok(status) => Work::Exited(status),
        Err(error) => failed(128, "StartError", format!("cannot wait for the process: {error}")),
    }
}

/// Probe tasks of one run, stopped with it.
struct ProbeTasks(Vec<JoinHandle<()>>);

impl Drop for ProbeTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Runs one probe for one run of container `index`, as the kubelet's probe
/// worker does: readiness and liveness wait for the startup probe; startup
/// ends with its first success; a failed liveness or startup probe asks the
/// supervisor to restart the container.
async fn probe_loop(
    shared: Arc<Shared>,
    index: usize,
    run: u64,
    spec: ProbeSpec,
    has_readiness: bool,
    kill_sender: mpsc::UnboundedSender<String>,
) {
    let name = shared
        .containers
        .get(index)
        .map(|container| container.name.clone())
        .unwrap_or_default();
    tokio::time::sleep(spec.initial_delay).await;
    let mut tracker = ProbeTracker::new(&spec);
    let mut ticker = tokio::time::interval(spec.period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(record) = shared.record(index).filter(|record| record.run == run) else {
            return;
        };
        if spec.kind != ProbeKind::Startup && !record.started {
            continue;
        }
        let outcome = spec
            .action
            .run(
                &shared.placement.node_netns,
                shared.placement.pod_ip,
                spec.timeout,
            )
            .await;
        if let Err(reason) = &outcome {
            shared.event(
                EventType::Warning,
                "Unhealthy",
                format!("{} probe failed: {reason}", spec.kind.title()),
                Some(&name),
            );
        }
        let flipped = tracker.record(outcome.is_ok());
        match (spec.kind, flipped) {
            (ProbeKind::Readiness, Some(ready)) => {
                shared.update_record(index, |record| {
                    if record.run == run {
                        record.ready = ready;
                    }
                });
            }
            (ProbeKind::Startup, Some(true)) => {
                shared.update_record(index, |record| {
                    if record.run == run {
                        record.started = true;
                        record.ready = !has_readiness;
                    }
                });
                return;
            }
            (ProbeKind::Startup, _) if tracker.failures() >= spec.failure_threshold => {
                let _ = kill_sender.send(format!(
                    "Container {name} failed startup probe, will be restarted"
                ));
                return;
            }
            (ProbeKind::Liveness, Some(false)) => {
                let _ = kill_sender.send(format!(
                    "Container {name} failed liveness probe, will be restarted"
                ));
                return;
            }
            _ => {}
        }
    }
}
