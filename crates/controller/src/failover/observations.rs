//! What the controller feeds the decision on every reconcile.
//!
//! Each reading carries the time it was taken, on the controller's clock (for a
//! sidecar's report: when the controller received it), because a reading that
//! stopped arriving must stop counting: a partition looks exactly like that.
//! A reading that could not be taken is `None`, never a guess. Durations that a
//! remote side measures (a heartbeat's age) are measured on that side's own
//! monotonic clock, and heartbeat timestamps are on the primary's clock, so no
//! two sites' clocks are ever compared.

use std::time::Duration;

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::{InstanceRole, ThreadState};

use super::evidence::{NodeState, PodState, Reachability};
use super::gtids::{GtidFlavor, GtidOrigin};

/// A reading and when it was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed<T> {
    /// What was read.
    pub value: T,
    /// When, on the controller's clock.
    pub at: DateTime<Utc>,
}

impl<T> Observed<T> {
    /// `value`, read at `at`.
    pub fn new(value: T, at: DateTime<Utc>) -> Self {
        Self { value, at }
    }
}

/// Everything one decision looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observations {
    /// The current primary's instance name (`status.currentPrimary`).
    pub primary: String,
    /// How GTIDs are written on these servers.
    pub flavor: GtidFlavor,
    /// The controller's own check of the primary: connect, query, and its
    /// heartbeat write visible.
    pub controller_check: Option<Observed<Reachability>>,
    /// What the controller read from the primary when it could.
    pub primary_server: Option<Observed<PrimaryServer>>,
    /// The primary Pod as the API server shows it (for a virtual node: as the
    /// member cluster mirrors it).
    pub pod: Option<Observed<PodState>>,
    /// The Ready condition of the primary's Node (for a virtual node: the
    /// member cluster as a whole).
    pub node: Option<Observed<NodeState>>,
    /// Every other instance: the replicas, and a fenced or quarantined former
    /// primary.
    pub replicas: Vec<ReplicaObservation>,
    /// What a person asked for, if anything.
    pub request: Option<Request>,
}

/// What the controller read from the primary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimaryServer {
    /// Executed transactions: `gtid_executed` (MySQL) or `gtid_binlog_state`
    /// (MariaDB).
    pub gtids: String,
    /// The origin of the primary's own transactions.
    pub origin: GtidOrigin,
    /// Whether it is read-only (`read_only`, and `super_read_only` on MySQL).
    pub read_only: bool,
    /// Its newest heartbeat, on its own clock.
    pub newest_heartbeat: Option<DateTime<Utc>>,
}

/// One non-primary instance: its view of the primary, and itself as a
/// candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaObservation {
    /// Instance name.
    pub name: String,
    /// The role the controller gave it. Only a `Replica` may be promoted: a
    /// fenced or quarantined former primary was not receiving the primary's
    /// transactions.
    pub role: InstanceRole,
    /// Its sidecar's probe of the primary over the cluster link (TCP and MySQL
    /// handshake).
    pub probe: Option<Observed<Reachability>>,
    /// What the controller read from it; `None` when it could not reach it.
    pub server: Option<Observed<ReplicaServer>>,
}

/// What the controller read from one replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaServer {
    /// Replication IO (receiver) thread; `Stopped` when replication is not
    /// configured.
    pub io_thread: ThreadState,
    /// Replication SQL (applier) thread.
    pub sql_thread: ThreadState,
    /// How long ago, on the replica's own clock, its newest applied heartbeat
    /// last advanced; `None` when unknown.
    pub heartbeat_age: Option<Duration>,
    /// The newest heartbeat it applied, on the primary's clock.
    pub newest_heartbeat: Option<DateTime<Utc>>,
    /// The last lag measured while the primary's heartbeat advanced
    /// (`status.instances[].lagSeconds` keeps it across the primary's loss).
    pub last_lag: Option<Duration>,
    /// Executed transactions: `gtid_executed` (MySQL) or `gtid_binlog_state`
    /// (MariaDB).
    pub executed: String,
    /// Received transactions: `Retrieved_Gtid_Set` (MySQL) or `Gtid_IO_Pos`
    /// (MariaDB).
    pub received: String,
}

/// A person's request, from the `kubectl drmysql` plugin or an annotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A planned, zero-loss switchover (`kubectl drmysql switchover NAME [--to
    /// I]`, or the [`SWITCHOVER_TO_ANNOTATION`](super::SWITCHOVER_TO_ANNOTATION)).
    SwitchOver {
        /// The instance to promote; `None` lets drmysql choose.
        to: Option<String>,
    },
    /// A failover to `to` (`kubectl drmysql failover NAME --to I [--force]`).
    /// With policy Manual it is the approval; with Automatic it picks the
    /// target. It acts only once the primary is declared failed.
    FailOver {
        /// The instance to promote.
        to: String,
        /// Bypass the data-loss guards (Async lag, the most-advanced rule,
        /// unreachable replicas in Lossless). Never bypasses the errant check or
        /// the Lossless promotion gate.
        force: bool,
    },
}

impl Request {
    /// The switchover the annotation's value asks for: an instance name, or
    /// empty (or blank) to let drmysql choose.
    pub fn switchover_from_annotation(value: &str) -> Self {
        let to = value.trim();
        Self::SwitchOver {
            to: (!to.is_empty()).then(|| to.to_owned()),
        }
    }
}

impl Observations {
    /// The observation of instance `name`, if it is a non-primary instance.
    pub fn replica(&self, name: &str) -> Option<&ReplicaObservation> {
        self.replicas.iter().find(|replica| replica.name == name)
    }
}
