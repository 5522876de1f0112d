//! Well-known names shared by every drmysql component.
//!
//! Labels, annotations, finalizers, condition types and the Kosmos virtual-node
//! conventions are part of the wire contract between the controller, the
//! sidecar, the agent, the kubectl plugin and the user's own selectors. Keeping
//! them in one place stops two components from drifting apart on a string.

/// API group of the DRMySQL kind.
pub const DRMYSQL_GROUP: &str = "drmysql.io";
/// API group of the Kosmos-compatible clusterlink kinds.
pub const KOSMOS_GROUP: &str = "kosmos.io";

/// Field manager used for every server-side apply drmysql performs.
pub const FIELD_MANAGER: &str = "drmysql";
/// Finalizer the controller puts on a DRMySQL, so that it can clean up what it
/// made (PVCs when `spec.storage.deleteOnDelete`) before the object goes.
pub const DRMYSQL_FINALIZER: &str = "drmysqls.drmysql.io/cleanup";

/// `app.kubernetes.io/name` value on every object drmysql creates.
pub const APP_NAME: &str = "drmysql";
/// `app.kubernetes.io/managed-by` value on every object drmysql creates.
pub const MANAGED_BY: &str = "drmysql";
/// Label naming the DRMySQL an object belongs to.
pub const LABEL_CLUSTER: &str = "drmysql.io/cluster";
/// Label naming the instance (Pod, PVC, headless Service) an object belongs to.
pub const LABEL_INSTANCE: &str = "drmysql.io/instance";
/// Label carrying an instance's role; the writer and reader Services select on it.
pub const LABEL_ROLE: &str = "drmysql.io/role";
/// Value of [`LABEL_ROLE`] on the writable primary.
pub const ROLE_PRIMARY: &str = "primary";
/// Value of [`LABEL_ROLE`] on a replica that serves reads.
pub const ROLE_REPLICA: &str = "replica";
/// Value of [`LABEL_ROLE`] on a former primary that was fenced (read-only, out
/// of every Service) and is not yet checked and re-attached as a replica.
pub const ROLE_FENCED: &str = "fenced";
/// Value of [`LABEL_ROLE`] on an instance kept out of every Service because it
/// cannot rejoin safely (errant transactions) until it is rebuilt.
pub const ROLE_QUARANTINED: &str = "quarantined";

/// Annotations a person, or `kubectl drmysql`, puts on a DRMySQL to ask the
/// controller to act. The controller removes each one once it has answered,
/// and records the answer in `status.lastRequest`; so a request is carried
/// out at most once, and the plugin knows when to read the answer.
pub mod request {
    /// A planned, zero-loss switchover: the value names the instance to
    /// promote, or is empty to let drmysql choose.
    pub const SWITCHOVER_TO: &str = "drmysql.io/switchover-to";
    /// A failover to the named instance. It acts once the primary is declared
    /// failed (with policy Manual it is the approval), and is refused while
    /// the primary is seen alive.
    pub const FAILOVER_TO: &str = "drmysql.io/failover-to";
    /// `"true"` with [`FAILOVER_TO`]: bypass the data-loss guards (lag, the
    /// most-advanced rule); recorded in `status.history`. Never bypasses the
    /// errant-transaction check.
    pub const FAILOVER_FORCE: &str = "drmysql.io/failover-force";
    /// Re-initialise the named instance from the primary (its Pod and volume
    /// are re-created empty and it replicates from scratch); the way out of
    /// quarantine.
    pub const REBUILD: &str = "drmysql.io/rebuild";
    /// Run the tunnel probes now; any value (the plugin writes the time).
    pub const CHECK_TUNNEL: &str = "drmysql.io/check-tunnel";
    /// Every request annotation.
    pub const ALL: [&str; 5] = [SWITCHOVER_TO, FAILOVER_TO, FAILOVER_FORCE, REBUILD, CHECK_TUNNEL];
}

/// Label Kosmos clustertree puts on its virtual nodes (value `"true"`).
pub const KOSMOS_NODE_LABEL: &str = "kosmos.io/node";
/// Key of the taint Kosmos clustertree puts on its virtual nodes.
pub const KOSMOS_NODE_TAINT_KEY: &str = "kosmos.io/node";
/// Value of the Kosmos virtual-node taint.
pub const KOSMOS_NODE_TAINT_VALUE: &str = "true";
/// Effect of the Kosmos virtual-node taint.
pub const KOSMOS_NODE_TAINT_EFFECT: &str = "NoSchedule";
/// Prefix of the virtual node that stands for a whole member cluster (`kosmos-<cluster>`).
pub const KOSMOS_VIRTUAL_NODE_PREFIX: &str = "kosmos-";
/// Label Kosmos puts on a ClusterNode to name its cluster.
pub const KOSMOS_CLUSTER_LABEL: &str = "kosmos.io/cluster";
/// Node label the default placement pins on (`kubernetes.io/hostname In [node]`).
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// Keys of the credentials Secret (`spec.credentialsSecret`, or the generated
/// `<name>-credentials`).
pub mod credentials {
    /// Password of `root`, which the controller connects as.
    pub const ROOT_PASSWORD: &str = "root-password";
    /// Password of the replication account.
    pub const REPLICATION_PASSWORD: &str = "replication-password";
    /// Password of the heartbeat account the sidecar uses.
    pub const HEARTBEAT_PASSWORD: &str = "heartbeat-password";
    /// Every key a credentials Secret must hold.
    pub const REQUIRED_KEYS: [&str; 3] = [ROOT_PASSWORD, REPLICATION_PASSWORD, HEARTBEAT_PASSWORD];
    /// Replication account name.
    pub const REPLICATION_USER: &str = "drmysql_repl";
    /// Heartbeat account name.
    pub const HEARTBEAT_USER: &str = "drmysql_heartbeat";
    /// Key of the controller-generated `<name>-sidecar` Secret holding the token
    /// the controller presents to the sidecars' probe endpoint.
    pub const SIDECAR_TOKEN: &str = "token";
}

/// Condition types written to `DRMySQL.status.conditions`.
pub mod condition {
    /// The primary is writable and every replica is replicating within the lag threshold.
    pub const READY: &str = "Ready";
    /// Every primary–replica pair reached each other over the cluster link in the last check.
    pub const TUNNEL_REACHABLE: &str = "TunnelReachable";
    /// Every replica's IO and SQL threads are running against the current primary.
    pub const REPLICATING: &str = "Replicating";
    /// Every replica's heartbeat lag is below `spec.lag.alertThresholdSeconds`.
    pub const LAG_WITHIN_THRESHOLD: &str = "LagWithinThreshold";
    /// A failover or switchover is being carried out (see `status.failover`).
    pub const FAILOVER_IN_PROGRESS: &str = "FailoverInProgress";
    /// A replica holds transactions the primary never had; it will not be promoted.
    pub const ERRANT_TRANSACTIONS: &str = "ErrantTransactions";
    /// The failover decision does not consider the primary lost: False with
    /// reason `PrimarySuspected` while the evidence is not yet conclusive, and
    /// `PrimaryFailed` once the primary is declared failed.
    pub const PRIMARY_AVAILABLE: &str = "PrimaryAvailable";

    /// Every condition type drmysql maintains, in the order it reports them.
    pub const ALL: [&str; 7] = [
        READY,
        PRIMARY_AVAILABLE,
        TUNNEL_REACHABLE,
        REPLICATING,
        LAG_WITHIN_THRESHOLD,
        FAILOVER_IN_PROGRESS,
        ERRANT_TRANSACTIONS,
    ];
}
