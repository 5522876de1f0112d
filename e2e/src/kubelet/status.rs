//! A running Pod's `status`, as the kubelet writes it: one status per
//! container (state, last state, restart count, started, ready), the phase,
//! and the PodScheduled, Initialized, ContainersReady and Ready conditions.
//! Pure: the runtime keeps [`ContainerRecord`]s and this turns them into the
//! API's types.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// Reason of a container waiting for its volumes or its first start.
pub const CONTAINER_CREATING: &str = "ContainerCreating";
/// Reason of a container whose env cannot be resolved.
pub const CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";
/// Reason of a container that cannot be created.
pub const CREATE_CONTAINER_ERROR: &str = "CreateContainerError";
/// Reason of a container waiting out its restart back-off.
pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";

/// How a container run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Termination {
    /// Exit code; 128 + the signal when killed by one.
    pub exit_code: i32,
    /// The signal that killed it.
    pub signal: Option<i32>,
    /// `Completed` or `Error`.
    pub reason: String,
    /// Why, when the sandbox knows more than the exit code.
    pub message: Option<String>,
    /// When the run started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
}

/// What a container is doing now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Not running: being created, misconfigured, or backing off.
    Waiting {
        /// Kubelet reason, e.g. [`CREATE_CONTAINER_CONFIG_ERROR`].
        reason: String,
        /// Details.
        message: Option<String>,
    },
    /// Running since then.
    Running {
        /// When it started.
        started_at: Timestamp,
    },
    /// Ended and not restarted (yet).
    Terminated(Termination),
}

/// Everything the kubelet tracks about one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRecord {
    /// Current state.
    pub state: RunState,
    /// How the previous run ended.
    pub last_termination: Option<Termination>,
    /// Times the container was started again.
    pub restart_count: i32,
    /// The startup probe succeeded (or there is none and it runs).
    pub started: bool,
    /// The readiness probe says ready (or there is none and it started).
    pub ready: bool,
    /// Process id of the current run, for `kill -9` and checks.
    pub pid: Option<u32>,
    /// Counts runs, so that a late probe result of an old run is ignored.
    pub run: u64,
}

impl Default for ContainerRecord {
    fn default() -> Self {
        Self {
            state: RunState::Waiting {
                reason: CONTAINER_CREATING.to_owned(),
                message: None,
            },
            last_termination: None,
            restart_count: 0,
            started: false,
            ready: false,
            pid: None,
            run: 0,
        }
    }
}

fn time(timestamp: Timestamp) -> Time {
    Time(timestamp)
}

fn terminated(termination: &Termination, container_id: Option<String>) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            container_id,
            exit_code: termination.exit_code,
            signal: termination.signal,
            reason: Some(termination.reason.clone()),
            message: termination.message.clone(),
            started_at: Some(time(termination.started_at)),
            finished_at: Some(time(termination.finished_at)),
        }),
        ..ContainerState::default()
    }
}

/// The API status of `container` from its record.
pub fn container_status(container: &Container, record: &ContainerRecord) -> ContainerStatus {
    let container_id = record.pid.map(|pid| format!("sandbox://{pid}"));
    let state = match &record.state {
        RunState::Waiting { reason, message } => ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.clone()),
                message: message.clone(),
            }),
            ..ContainerState::default()
        },
        RunState::Running { started_at } => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(time(*started_at)),
            }),
            ..ContainerState::default()
        },
        RunState::Terminated(termination) => terminated(termination, container_id.clone()),
    };
    let running = matches!(record.state, RunState::Running { .. });
    ContainerStatus {
        name: container.name.clone(),
        image: container.image.clone().unwrap_or_default(),
        image_id: String::new(),
        container_id: container_id.filter(|_| running),
        state: Some(state),
        last_state: Some(
            record
                .last_termination
                .as_ref()
                .map(|termination| terminated(termination, None))
                .unwrap_or_default(),
        ),
        restart_count: record.restart_count,
        started: Some(running && record.started),
        ready: running && record.ready,
        ..ContainerStatus::default()
    }
}

/// The Pod phase from its containers, as the kubelet decides it.
pub fn pod_phase(restart_policy: Option<&str>, records: &[ContainerRecord]) -> &'static str {
    let mut pending = 0;
    let mut running = 0;
    let mut succeeded = 0;
    let mut failed = 0;
    for record in records {
        match &record.state {
            RunState::Running { .. } => running += 1,
            RunState::Terminated(termination) if termination.exit_code == 0 => succeeded += 1,
            RunState::Terminated(_) => failed += 1,
            // Waiting after a run is a restart in progress.
            RunState::Waiting { .. } if record.last_termination.is_some() => running += 1,
            RunState::Waiting { .. } => pending += 1,
        }
    }
    if pending > 0 || records.is_empty() {
        "Pending"
    } else if running > 0 {
        "Running"
    } else if restart_policy.unwrap_or("Always") == "Always" {
        // Everything exited and will be started again.
        "Running"
    } else if failed == 0 && succeeded > 0 {
        "Succeeded"
    } else if restart_policy == Some("OnFailure") {
        "Running"
    } else {
        "Failed"
    }
}

/// When each Pod condition last changed, so that `lastTransitionTime` moves
/// only on a change, as it does in Kubernetes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConditionClock {
    since: BTreeMap<String, (bool, Timestamp)>,
}

impl ConditionClock {
    /// The transition time of `kind` now that it is `status`.
    pub fn observe(&mut self, kind: &str, status: bool, now: Timestamp) -> Timestamp {
        let entry = self.since.entry(kind.to_owned()).or_insert((status, now));
        if entry.0 != status {
            *entry = (status, now);
        }
        entry.1
    }
}

/// Where the Pod runs and since when.
#[derive(Clone, Copy, Debug)]
pub struct PodPlace {
    /// Its address.
    pub pod_ip: IpAddr,
    /// Its node's address.
    pub host_ip: IpAddr,
    /// When the kubelet accepted it.
    pub start_time: Timestamp,
}

fn condition(
    kind: &str,
    status: bool,
    since: Timestamp,
    reason: Option<String>,
    message: Option<String>,
) -> PodCondition {
    PodCondition {
        type_: kind.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        last_transition_time: Some(time(since)),
        reason,
        message,
        ..PodCondition::default()
    }
}

/// The Pod's status from its container records.
pub fn pod_status(
    pod: &Pod,
    records: &[ContainerRecord],
    place: PodPlace,
    clock: &mut ConditionClock,
    now: Timestamp,
) -> PodStatus {
    let spec = pod.spec.clone().unwrap_or_default();
    let statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .zip(records)
        .map(|(container, record)| container_status(container, record))
        .collect();
    let unready: Vec<&str> = statuses
        .iter()
        .filter(|status| !status.ready)
        .map(|status| status.name.as_str())
        .collect();
    let containers_ready = unready.is_empty() && !statuses.is_empty();
    let (reason, message) = if containers_ready {
        (None, None)
    } else {
        (
            Some("ContainersNotReady".to_owned()),
            Some(format!("containers with unready status: [{}]", unready.join(" "))),
        )
    };
    // Readiness gates are conditions other controllers set; the sandbox sets
    // none, so a Pod that declares one is never Ready here, as it would not be
    // in a cluster without that controller.
    let gated = spec
        .readiness_gates
        .as_ref()
        .is_some_and(|gates| !gates.is_empty());
    let ready = containers_ready && !gated;
    let (ready_reason, ready_message) = if gated && containers_ready {
        (
            Some("ReadinessGatesNotReady".to_owned()),
            Some("the sandbox kubelet sets no readiness gate".to_owned()),
        )
    } else {
        (reason.clone(), message.clone())
    };
    let start = place.start_time;
    let conditions = vec![
        condition("PodScheduled", true, start, None, None),
        condition("Initialized", true, start, None, None),
        condition(
            "ContainersReady",
            containers_ready,
            clock.observe("ContainersReady", containers_ready, now),
            reason,
            message,
        ),
        condition(
            "Ready",
            ready,
            clock.observe("Ready", ready, now),
            ready_reason,
            ready_message,
        ),
    ];
    PodStatus {
        phase: Some(pod_phase(spec.restart_policy.as_deref(), records).to_owned()),
        conditions: Some(conditions),
        host_ip: Some(place.host_ip.to_string()),
        host_ips: Some(vec![HostIP {
            ip: place.host_ip.to_string(),
        }]),
        pod_ip: Some(place.pod_ip.to_string()),
        pod_ips: Some(vec![PodIP {
            ip: place.pod_ip.to_string(),
        }]),
        start_time: Some(time(start)),
        container_statuses: Some(statuses),
        ..PodStatus::default()
    }
}

/// One line per container (state, reason, ready, restarts) after the phase
/// and the Ready condition, for messages.
pub fn summary(status: &PodStatus) -> String {
    let ready = status
        .conditions
        .iter()
        .flatten()
        .find(|condition| condition.type_ == "Ready")
        .map(|condition| {
            let why = condition.message.as_deref().unwrap_or_default();
            format!("Ready={} {why}", condition.status)
        })
        .unwrap_or_default();
    let mut lines = vec![format!(
        "phase {}, {ready}",
        status.phase.as_deref().unwrap_or("?")
    )];
    for container in status.container_statuses.iter().flatten() {
        let state = container.state.clone().unwrap_or_default();
        let now = if let Some(waiting) = state.waiting {
            format!(
                "waiting {} {}",
                waiting.reason.unwrap_or_default(),
                waiting.message.unwrap_or_default()
            )
        } else if let Some(terminated) = state.terminated {
            format!(
                "terminated {} exit {} {}",
                terminated.reason.unwrap_or_default(),
                terminated.exit_code,
                terminated.message.unwrap_or_default()
            )
        } else {
            "running".to_owned()
        };
        lines.push(format!(
            "{}: {now}; ready {}, started {}, restarts {}",
            container.name,
            container.ready,
            container.started.unwrap_or_default(),
            container.restart_count
        ));
    }
    lines.join("\n  ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use std::net::Ipv4Addr;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).expect("valid timestamp")
    }

    fn running(ready: bool) -> ContainerRecord {
        ContainerRecord {
            state: RunState::Running { started_at: at(10) },
            started: true,
            ready,
            pid: Some(42),
            ..ContainerRecord::default()
        }
    }

    fn killed() -> Termination {
        Termination {
            exit_code: 137,
            signal: Some(9),
            reason: "Error".to_owned(),
            message: None,
            started_at: at(10),
            finished_at: at(20),
        }
    }

    fn pod() -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers: vec![
                    Container {
                        name: "mysqld".to_owned(),
                        image: Some("mariadb:11.4".to_owned()),
                        ..Container::default()
                    },
                    Container {
                        name: "sidecar".to_owned(),
                        ..Container::default()
                    },
                ],
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    fn place() -> PodPlace {
        PodPlace {
            pod_ip: IpAddr::V4(Ipv4Addr::new(10, 244, 1, 2)),
            host_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            start_time: at(1),
        }
    }

    #[test]
    fn phases_follow_the_kubelet() {
        let waiting = ContainerRecord::default();
        assert_eq!(pod_phase(None, &[waiting.clone(), running(true)]), "Pending");
        let restarting = ContainerRecord {
            last_termination: Some(killed()),
            ..ContainerRecord::default()
        };
        assert_eq!(pod_phase(None, &[restarting, running(false)]), "Running");
        let done = |code| ContainerRecord {
            state: RunState::Terminated(Termination {
                exit_code: code,
                ..killed()
            }),
            ..ContainerRecord::default()
        };
        assert_eq!(pod_phase(Some("Never"), &[done(0)]), "Succeeded");
        assert_eq!(pod_phase(Some("Never"), &[done(0), done(1)]), "Failed");
        assert_eq!(pod_phase(None, &[done(1)]), "Running");
    }

    #[test]
    fn a_restarted_container_reports_its_last_state_and_readiness_gates_the_pod() {
        let mut mysqld = running(true);
        mysqld.restart_count = 1;
        mysqld.last_termination = Some(killed());
        let mut clock = ConditionClock::default();
        let status = pod_status(&pod(), &[mysqld, running(false)], place(), &mut clock, at(30));
        let containers = status.container_statuses.clone().expect("statuses");
        assert_eq!(containers[0].restart_count, 1);
        assert_eq!(containers[0].image, "mariadb:11.4");
        let last = containers[0]
            .last_state
            .as_ref()
            .and_then(|state| state.terminated.as_ref())
            .expect("last state");
        assert_eq!((last.exit_code, last.signal), (137, Some(9)));
        assert!(containers[0].ready && !containers[1].ready);
        let conditions = status.conditions.expect("conditions");
        let ready = conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
        assert_eq!(ready.status, "False");
        assert_eq!(
            ready.message.as_deref(),
            Some("containers with unready status: [sidecar]")
        );
        assert_eq!(status.pod_ip.as_deref(), Some("10.244.1.2"));
        assert_eq!(status.phase.as_deref(), Some("Running"));

        // Ready flips once, and its transition time moves only then.
        let both = [running(true), running(true)];
        let ready_at = |clock: &mut ConditionClock, now| {
            let status = pod_status(&pod(), &both, place(), clock, at(now));
            status
                .conditions
                .expect("conditions")
                .into_iter()
                .find(|c| c.type_ == "Ready")
                .expect("Ready")
        };
        let first = ready_at(&mut clock, 40);
        assert_eq!(first.status, "True");
        assert_eq!(first.last_transition_time, Some(Time(at(40))));
        assert_eq!(ready_at(&mut clock, 50).last_transition_time, Some(Time(at(40))));
    }

    #[test]
    fn waiting_containers_carry_their_reason() {
        let record = ContainerRecord {
            state: RunState::Waiting {
                reason: CREATE_CONTAINER_CONFIG_ERROR.to_owned(),
                message: Some("couldn't find key k in Secret ns/s".to_owned()),
            },
            ..ContainerRecord::default()
        };
        let status = container_status(&pod().spec.expect("spec").containers[1], &record);
        let waiting = status.state.and_then(|state| state.waiting).expect("waiting");
        assert_eq!(waiting.reason.as_deref(), Some(CREATE_CONTAINER_CONFIG_ERROR));
        assert_eq!(status.started, Some(false));
        assert!(!status.ready);
    }
}
