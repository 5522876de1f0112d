//! What the controller observed and did, as users and the kubectl plugin read it.
//!
//! The status is also the controller's memory: a failover in progress is
//! recorded in `failover`, so a restarted controller resumes it where it
//! stopped, and `history` is what the cooldown is measured against.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How many finished failovers and switchovers `status.history` keeps.
pub const HISTORY_LIMIT: usize = 16;

/// Observed state of a DRMySQL.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DRMySQLStatus {
    /// Coarse lifecycle phase; the conditions carry the detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// Name of the instance that is the writable primary now. It differs from
    /// `spec.primary` after a failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_primary: Option<String>,

    /// Node the current primary runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_node: Option<String>,

    /// Ready replicas over all replicas, e.g. `1/1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas_ready: Option<String>,

    /// Worst replica lag, human-readable (e.g. `250ms`, `3.2s`), or `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<String>,

    /// Summary of the cluster-link checks: `Reachable`, `Partial`, `Unreachable` or
    /// `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_state: Option<TunnelState>,

    /// Every instance, primary first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<InstanceStatus>,

    /// Pod-to-pod reachability over the cluster link, per directed pair.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tunnel: Vec<TunnelStatus>,

    /// Ready, PrimaryAvailable, TunnelReachable, Replicating, LagWithinThreshold, FailoverInProgress
    /// and ErrantTransactions, following the Kubernetes API conventions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The failover or switchover being carried out, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<FailoverProgress>,

    /// Finished failovers and switchovers, newest last, at most 16.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<FailoverRecord>,

    /// The controller's answer to the newest request annotation
    /// (`drmysql.io/switchover-to`, `failover-to`, `rebuild`, `check-tunnel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request: Option<RequestRecord>,

    /// What the failover decision remembers between reconciles, so that a
    /// restarted controller neither forgets a suspicion in progress nor the
    /// primary's last known GTIDs. Written by the controller; not for editing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_memory: Option<FailoverMemory>,

    /// How many times each instance was rebuilt (`kubectl drmysql rebuild`),
    /// by instance name. It is part of the instance's `server_id`: a server
    /// skips replicated transactions that carry its own `server_id`, so a
    /// rebuilt, empty server needs a new one to apply what its earlier self
    /// wrote. Written by the controller; not for editing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rebuilds: BTreeMap<String, u32>,

    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Coarse lifecycle phase of a DRMySQL.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Accepted, nothing created yet.
    Pending,
    /// Pods, volumes and replication are being set up.
    Provisioning,
    /// The primary is writable and every replica replicates within the threshold.
    Running,
    /// Serving, but a replica, the tunnel or the lag is unhealthy.
    Degraded,
    /// The primary was lost and a replica is being promoted.
    FailingOver,
    /// A planned switchover is moving the primary.
    SwitchingOver,
    /// The spec refers to something missing or unusable (a Secret, a node, a taint
    /// that is not tolerated); see the Ready condition. Nothing running is touched.
    Invalid,
}

/// Observed state of one instance.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// Instance name (`<metadata.name>-<instance name>`).
    pub name: String,
    /// Role the controller gave this instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<InstanceRole>,
    /// Node the instance's Pod is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Pod IP, as mirrored from the member cluster for a virtual node.
    #[serde(default, rename = "podIP", skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    /// Whether the Pod is Ready (for a replica: replicating within the reader lag limit).
    #[serde(default)]
    pub ready: bool,
    /// Heartbeat lag behind the current primary in seconds; absent for the primary or
    /// when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<f64>,
    /// State of the replication IO (receiver) thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_thread: Option<ThreadState>,
    /// State of the replication SQL (applier) thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_thread: Option<ThreadState>,
    /// Executed GTID set (MySQL) or `gtid_current_pos` (MariaDB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid_position: Option<String>,
    /// Whether the server is read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Server version reported by `SELECT VERSION()`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Transactions this instance has that the primary never had, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errant_gtids: Option<String>,
    /// Last replication or health error, redacted of credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Role of an instance.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceRole {
    /// The single writable instance.
    Primary,
    /// Replicates from the primary and serves reads.
    Replica,
    /// A former primary made read-only and cut off from clients, awaiting rejoin.
    Fenced,
    /// Kept out of service because it cannot rejoin safely (e.g. errant transactions).
    Quarantined,
}

/// State of a replication thread.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Running (`Yes`).
    Running,
    /// The IO thread is trying to connect to the source (`Connecting`).
    Connecting,
    /// Not running (`No`).
    Stopped,
}

/// Summary of the cluster-link checks.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelState {
    /// Every pair reached each other.
    Reachable,
    /// Some pairs did, some did not.
    Partial,
    /// No pair did.
    Unreachable,
    /// Not checked yet.
    Unknown,
}

/// One directed pod-to-pod check over the cluster link.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TunnelStatus {
    /// Instance the probe ran from.
    pub from: String,
    /// Instance the probe reached for.
    pub to: String,
    /// Whether a TCP connection and a MySQL handshake succeeded.
    pub reachable: bool,
    /// Round-trip time of the handshake in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// When the check ran.
    pub checked_at: DateTime<Utc>,
    /// Why the check failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether a primary change was planned.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionKind {
    /// The primary was lost and a replica was promoted.
    Failover,
    /// A planned, zero-loss move of the primary to a replica.
    Switchover,
}

/// The step a failover or switchover has reached. Every step is idempotent, so a
/// restarted controller repeats the recorded step and goes on.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionStep {
    /// Making the old primary read-only and taking it out of the writer Service.
    FenceOldPrimary,
    /// Stopping the candidate's IO thread and letting it apply its relay log.
    CatchUp,
    /// Checking the candidate for errant transactions and the RPO guard.
    VerifyCandidate,
    /// Making the candidate writable.
    Promote,
    /// Moving the `role=primary` label, and with it the writer Service.
    MoveWriterEndpoint,
    /// Pointing the remaining replicas at the new primary.
    RepointReplicas,
    /// Making the old primary a replica of the new one, or quarantining it.
    RejoinOldPrimary,
}

/// A failover or switchover in progress.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FailoverProgress {
    /// Failover or switchover.
    pub kind: TransitionKind,
    /// Instance that was primary.
    pub from: String,
    /// Instance being promoted.
    pub target: String,
    /// Step reached.
    pub step: TransitionStep,
    /// When the transition started.
    pub started_at: DateTime<Utc>,
    /// Why it started (the evidence, or who asked).
    pub reason: String,
    /// Whether the RPO guard was overridden.
    #[serde(default)]
    pub forced: bool,
    /// When the old primary was read back as read-only; absent when it could
    /// not be reached (a lost site), which the role label covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced_at: Option<DateTime<Utc>>,
    /// When the target was read back as writable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<DateTime<Utc>>,
    /// The old primary's last known executed GTIDs when the transition started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_primary_gtids: Option<String>,
    /// The target's executed GTIDs when it became writable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_gtids: Option<String>,
    /// The target's last measured lag when the transition started: the RPO
    /// estimate of an Async failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_at_start_seconds: Option<f64>,
}

/// What a request annotation asked for.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// `drmysql.io/switchover-to`.
    Switchover,
    /// `drmysql.io/failover-to`.
    Failover,
    /// `drmysql.io/rebuild`.
    Rebuild,
    /// `drmysql.io/check-tunnel`.
    CheckTunnel,
}

/// How the controller answered a request.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A switchover or failover was started; `status.failover`, then
    /// `status.history`, follow it.
    Started,
    /// Carried out at once (a rebuild begun, a tunnel check run).
    Done,
    /// Refused; the message says why and what to fix.
    Refused,
}

/// The controller's answer to a request annotation.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// What was asked.
    pub kind: RequestKind,
    /// The instance named, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Whether `drmysql.io/failover-force` was set.
    #[serde(default)]
    pub forced: bool,
    /// The answer.
    pub outcome: RequestOutcome,
    /// Why, for people.
    pub message: String,
    /// When the controller answered.
    pub answered_at: DateTime<Utc>,
}

/// Outcome of a finished failover or switchover.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// The target is the writable primary.
    Succeeded,
    /// The transition stopped on an error; the message says where.
    Failed,
    /// A safety check refused to go on; the old primary was left in place.
    Aborted,
}

/// A finished failover or switchover.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FailoverRecord {
    /// Failover or switchover.
    pub kind: TransitionKind,
    /// Instance that was primary.
    pub from: String,
    /// Instance that was promoted (or meant to be).
    pub to: String,
    /// Why it started.
    pub reason: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub outcome: TransitionOutcome,
    /// Detail, such as the step that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// GTIDs the old primary had and the new one did not at promotion (Async mode's
    /// data loss), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_gtids: Option<String>,
    /// Whether the data-loss guards were bypassed (`--force`).
    #[serde(default)]
    pub forced: bool,
    /// Seconds from start to finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// The new primary's executed GTIDs when it became writable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_gtids: Option<String>,
    /// The RPO estimate: the promoted replica's last measured lag when the
    /// primary was lost (zero for a switchover).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_seconds: Option<f64>,
}

/// The failover decision's memory, kept in the status so that it survives a
/// controller restart. Mirrors `drmysql_controller::failover::Memory`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailoverMemory {
    /// The primary this memory is about; a different primary starts afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// Vantage points that have seen the primary failing on every look since
    /// `since`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspicions: Vec<FailoverSuspicion>,
    /// The newest GTID set read from the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_gtids: Option<PrimaryGtids>,
    /// The newest heartbeat known to have been written by the primary, on its
    /// clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_heartbeat: Option<DateTime<Utc>>,
    /// A failover a person asked for, kept until it can act.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<FailoverApproval>,
}

/// Where readings about the primary are taken from.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum VantageKind {
    /// The host cluster: the controller's check, the primary Pod and its Node.
    Host,
    /// One replica: its sidecar's probe and its replication IO thread.
    Replica,
}

/// Since when one vantage point has seen the primary failing.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailoverSuspicion {
    /// Host or Replica.
    pub vantage: VantageKind,
    /// The replica, for a `Replica` vantage point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The earliest failing reading of this uninterrupted run.
    pub since: DateTime<Utc>,
}

/// How GTIDs are written.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GtidNotation {
    /// MySQL `uuid[:tag]:interval` sets.
    MySql,
    /// MariaDB `domain-server-sequence` lists.
    MariaDb,
}

/// The primary's GTIDs as last read.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrimaryGtids {
    /// Notation.
    pub notation: GtidNotation,
    /// `gtid_executed` (MySQL) or `gtid_binlog_state` (MariaDB).
    pub gtids: String,
    /// The primary's `server_uuid` (MySQL): the origin of its own transactions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_uuid: Option<String>,
    /// The primary's `server_id` (MariaDB): the origin of its own transactions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<u32>,
    /// When they were read.
    pub observed_at: DateTime<Utc>,
}

/// A person's `kubectl drmysql failover --to X [--force]`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailoverApproval {
    /// The instance to promote.
    pub to: String,
    /// Whether the data-loss guards are bypassed.
    #[serde(default)]
    pub force: bool,
    /// When the controller first saw the request.
    pub requested_at: DateTime<Utc>,
}
