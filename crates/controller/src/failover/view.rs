//! From what the reconcile's observe stage gathered to the decision's
//! [`Observations`]. Pure, so every mapping rule is a unit test.
//!
//! | observation | taken from |
//! |---|---|
//! | the controller's check | the primary's server snapshot: `Alive` when it was read and its heartbeat is fresh, `Stalled` when the heartbeat is older than the freshness limit, else the connect error classified (see [`classify_error`]); none while the Pod has no IP |
//! | the primary's server | its snapshot: GTIDs (`gtid_binlog_state` on MariaDB), origin, read-only, the newest heartbeat read by the lag measurement |
//! | the primary Pod | the Pod list of the dereference stage: the `mysqld` container's state (see [`pod_state`]) |
//! | its Node | the Node the dereference stage read for the Pod's `spec.nodeName` |
//! | a replica's probe | the tunnel check from the replica's sidecar to the primary; none when the controller could not reach the sidecar itself (that is the controller's path, not the replica's) |
//! | a replica's server | its snapshot: IO and SQL threads, GTIDs; heartbeat age and last lag from the lag measurement |
//!
//! What is not known yet stays `None`, never a guess:
//! - a replica's heartbeat age is known only while the lag is measured (the
//!   primary readable and its heartbeat fresh), and is then the measured lag;
//!   while the primary is lost it is unknown, so a running IO thread counts as
//!   neutral, not alive;
//! - the newest heartbeat a replica applied is not read while the primary is
//!   reachable (the lag measurement keeps only the lag);
//! - a container that restarted between two looks and runs again is not
//!   noticed (the restart count is not remembered);
//! - a person's request (`kubectl drmysql failover|switchover`) is read from
//!   the annotations by [`crate::requests`] and set by the reconcile.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::{DRMySQLStatus, InstanceRole, ThreadState, TunnelStatus};
use drmysql_mysql::Lag;
use k8s_openapi::api::core::v1::{Node, Pod};

use super::evidence::{NodeState, PodState, Reachability};
use super::gtids::{GtidFlavor, GtidOrigin};
use super::observations::{Observations, Observed, PrimaryServer, ReplicaObservation, ReplicaServer};
use super::spec::DecisionSpec;
use crate::status::InstanceObservation;

/// Name of the database container in every instance Pod.
pub const DATABASE_CONTAINER: &str = "mysqld";

/// What observe read about the primary's heartbeat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrimaryHeartbeat {
    /// The newest heartbeat row, on the primary's clock.
    pub newest: Option<DateTime<Utc>>,
    /// Its age on the primary's clock.
    pub age: Option<Duration>,
}

/// Everything the mapping reads.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// The current primary's instance name.
    pub primary: &'a str,
    /// Every instance as observe saw it.
    pub instances: &'a [InstanceObservation],
    /// The tunnel checks of this reconcile.
    pub tunnel: &'a [TunnelStatus],
    /// The primary's heartbeat.
    pub heartbeat: PrimaryHeartbeat,
    /// The DRMySQL's Pods, by name, as listed by the dereference stage.
    pub pods: &'a BTreeMap<String, Pod>,
    /// Nodes by name, as read by the dereference stage.
    pub nodes: &'a BTreeMap<String, Node>,
    /// The status before this reconcile.
    pub previous: &'a DRMySQLStatus,
    /// Each instance's role (see [`crate::roles`]); a missing one is a replica.
    pub roles: &'a BTreeMap<String, InstanceRole>,
    /// The flavor remembered from an earlier reading, for when no server is
    /// readable now.
    pub remembered_flavor: Option<GtidFlavor>,
    /// When observe started: every reading of this reconcile is stamped with it.
    pub now: DateTime<Utc>,
}

/// The decision's observations for this reconcile.
pub fn observations(inputs: &Inputs<'_>, spec: &DecisionSpec) -> Observations {
    let now = inputs.now;
    let primary = inputs
        .instances
        .iter()
        .find(|instance| instance.name == inputs.primary);
    let flavor = inputs
        .instances
        .iter()
        .find_map(|instance| instance.server.as_ref().ok())
        .map(|server| GtidFlavor::from(server.version.flavor))
        .or(inputs.remembered_flavor)
        .unwrap_or(GtidFlavor::MariaDb);
    let controller_check = primary.and_then(|primary| match &primary.server {
        Ok(_) => Some(
            if inputs
                .heartbeat
                .age
                .is_some_and(|age| age > spec.heartbeat_fresh_within)
            {
                Reachability::Stalled
            } else {
                Reachability::Alive
            },
        ),
        Err(error) => classify_error(error),
    });
    let primary_server = primary
        .and_then(|primary| primary.server.as_ref().ok())
        .map(|server| PrimaryServer {
            gtids: executed(server),
            origin: origin(server),
            read_only: !server.writable(),
            newest_heartbeat: inputs.heartbeat.newest,
        });
    let had_ip = inputs
        .previous
        .instances
        .iter()
        .any(|instance| instance.name == inputs.primary && instance.pod_ip.is_some());
    let pod = inputs.pods.get(inputs.primary);
    let node = pod
        .and_then(|pod| pod.spec.as_ref()?.node_name.as_ref())
        .and_then(|name| inputs.nodes.get(name))
        .map(node_state);
    let replicas = inputs
        .instances
        .iter()
        .filter(|instance| instance.name != inputs.primary)
        .map(|instance| replica(instance, inputs))
        .collect();
    Observations {
        primary: inputs.primary.to_owned(),
        flavor,
        controller_check: controller_check.map(|value| Observed::new(value, now)),
        primary_server: primary_server.map(|value| Observed::new(value, now)),
        pod: pod_state(pod, had_ip).map(|value| Observed::new(value, now)),
        node: node.map(|value| Observed::new(value, now)),
        replicas,
        request: None,
    }
}

fn replica(instance: &InstanceObservation, inputs: &Inputs<'_>) -> ReplicaObservation {
    let probe = inputs
        .tunnel
        .iter()
        .find(|check| check.from == instance.name && check.to == inputs.primary)
        .and_then(|check| {
            if check.reachable {
                Some(Reachability::Alive)
            } else {
                check.error.as_deref().and_then(classify_probe_error)
            }
        });
    let previous_lag = inputs
        .previous
        .instances
        .iter()
        .find(|previous| previous.name == instance.name)
        .and_then(|previous| previous.lag_seconds)
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map(Duration::from_secs_f64);
    let server = instance.server.as_ref().ok().map(|server| {
        let thread = |state: drmysql_mysql::ThreadState| match state {
            drmysql_mysql::ThreadState::Running => ThreadState::Running,
            drmysql_mysql::ThreadState::Connecting => ThreadState::Connecting,
            drmysql_mysql::ThreadState::Stopped => ThreadState::Stopped,
        };
        let replication = server.replica.as_ref();
        let measured = match instance.lag {
            Some(Lag::Measured { lag, .. }) => Some(lag),
            _ => None,
        };
        ReplicaServer {
            io_thread: replication.map_or(ThreadState::Stopped, |r| thread(r.io_thread)),
            sql_thread: replication.map_or(ThreadState::Stopped, |r| thread(r.sql_thread)),
            heartbeat_age: measured,
            newest_heartbeat: match instance.lag {
                Some(Lag::Stale {
                    since,
                    replica_has_it: true,
                }) => Some(since),
                _ => None,
            },
            last_lag: measured.or(previous_lag),
            executed: executed(server),
            received: replication.map(|r| r.retrieved_gtids.clone()).unwrap_or_default(),
        }
    });
    ReplicaObservation {
        name: instance.name.clone(),
        role: inputs
            .roles
            .get(&instance.name)
            .copied()
            .unwrap_or(InstanceRole::Replica),
        probe: probe.map(|value| Observed::new(value, inputs.now)),
        server: server.map(|value| Observed::new(value, inputs.now)),
    }
}

/// `gtid_executed` (MySQL) or `gtid_binlog_state` (MariaDB), as the decision
/// compares them.
fn executed(server: &drmysql_mysql::InstanceStatus) -> String {
    if server.version.flavor.is_mariadb() {
        server
            .gtid_binlog_state
            .clone()
            .unwrap_or_else(|| server.gtid_executed.clone())
    } else {
        server.gtid_executed.clone()
    }
}

fn origin(server: &drmysql_mysql::InstanceStatus) -> GtidOrigin {
    match (&server.server_uuid, server.version.flavor.is_mariadb()) {
        (Some(uuid), false) => GtidOrigin::ServerUuid(uuid.clone()),
        _ => GtidOrigin::ServerId(server.server_id),
    }
}

/// What a failed connect of the controller to a server says about it:
/// `Refused` when nothing listens (the host answered), `Timeout` when a bound
/// expired, `Unreachable` otherwise; `None` when no connect was tried (the Pod
/// has no IP yet). The errors arrive as text from the MySQL client, so the
/// classification reads the operating system's wording.
pub fn classify_error(error: &str) -> Option<Reachability> {
    let lower = error.to_ascii_lowercase();
    if lower.contains("has no ip") {
        return None;
    }
    Some(if lower.contains("connection refused") {
        Reachability::Refused
    } else if lower.contains("timed out")
        || lower.contains("timeout")
        || lower.contains("did not finish within")
        || lower.contains("no mysql greeting within")
    {
        Reachability::Timeout
    } else {
        Reachability::Unreachable
    })
}

/// A failed tunnel check from a replica's sidecar: what the sidecar saw, or
/// `None` when the controller did not reach the sidecar (its messages name
/// the sidecar), since that is not the replica's view of the primary.
pub fn classify_probe_error(error: &str) -> Option<Reachability> {
    if error.to_ascii_lowercase().contains("sidecar") {
        return None;
    }
    classify_error(error)
}

/// The primary Pod as the decision sees it: `Deleted` when it is being
/// deleted, or missing although an earlier status showed it with an IP (a
/// Pod never created yet says nothing); then the `mysqld` container's state.
pub fn pod_state(pod: Option<&Pod>, existed: bool) -> Option<PodState> {
    let Some(pod) = pod else {
        return existed.then_some(PodState::Deleted);
    };
    if pod.metadata.deletion_timestamp.is_some() {
        return Some(PodState::Deleted);
    }
    let status = pod.status.as_ref();
    if status
        .and_then(|status| status.phase.as_deref())
        .is_some_and(|phase| phase == "Failed" || phase == "Succeeded")
    {
        return Some(PodState::ContainerTerminated);
    }
    let container = status
        .and_then(|status| status.container_statuses.as_ref())
        .and_then(|statuses| statuses.iter().find(|c| c.name == DATABASE_CONTAINER));
    let Some(container) = container else {
        return Some(PodState::Unknown);
    };
    let state = container.state.as_ref();
    Some(if state.is_some_and(|state| state.running.is_some()) {
        PodState::Running
    } else if state.is_some_and(|state| state.terminated.is_some()) {
        PodState::ContainerTerminated
    } else if state.is_some_and(|state| state.waiting.is_some())
        && (container.restart_count > 0
            || container
                .last_state
                .as_ref()
                .is_some_and(|last| last.terminated.is_some()))
    {
        PodState::ContainerRestarting
    } else {
        PodState::Unknown
    })
}

/// The Node's Ready condition.
pub fn node_state(node: &Node) -> NodeState {
    let ready = node
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .and_then(|conditions| conditions.iter().find(|c| c.type_ == "Ready"));
    match ready.map(|c| c.status.as_str()) {
        Some("True") => NodeState::Ready,
        Some("False") => NodeState::NotReady,
        _ => NodeState::Unknown,
    }
}

#[cfg(test)]
pub(crate) mod tests;
