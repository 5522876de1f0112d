//! The DRMySQL custom resource (`drmysql.io/v1alpha1`).
//!
//! One DRMySQL is one MySQL or MariaDB primary with one to four replicas, each
//! pinned to its own (usually virtual) node, so that each runs in a different
//! cluster. The spec says where and how; the status says what is true now.
//! Everything the API server can check by itself is a CEL rule on the CRD, with a
//! message that names the field; the rest is the controller's validate stage.

mod engine;
mod placement;
mod replication;
mod service;
mod status;
mod storage;

pub use engine::{
    ConfigOption, EngineSpec, ImagePullPolicy, OPTION_MODIFIERS, OWNED_OPTION_PREFIXES, OWNED_OPTIONS,
    is_owned_option, owned_option_pattern,
};
pub use placement::{InstanceSpec, kosmos_virtual_node_toleration};
pub use replication::{
    FailbackPolicy, FailoverPolicy, FailoverSpec, LagSpec, ReplicationMode, ReplicationSpec,
};
pub use service::{ExternalTrafficPolicy, ReaderServiceSpec, ServiceSpec, ServiceType};
pub use status::{
    DRMySQLStatus, FailoverApproval, FailoverMemory, FailoverProgress, FailoverRecord, FailoverSuspicion,
    GtidNotation, HISTORY_LIMIT, InstanceRole, InstanceStatus, Phase, PrimaryGtids, RequestKind,
    RequestOutcome, RequestRecord, ThreadState, TransitionKind, TransitionOutcome, TransitionStep,
    TunnelState, TunnelStatus, VantageKind,
};
pub use storage::StorageSpec;

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::{CustomResource, KubeSchema, ResourceExt};
use serde::{Deserialize, Serialize};

/// Longest DRMySQL name: it prefixes instance names, which must stay DNS labels.
pub const MAX_NAME_LENGTH: usize = 40;

/// Desired state of a cross-cluster MySQL primary and its replicas.
#[allow(
    clippy::duplicated_attributes,
    reason = "every printcolumn(...) repeats type_ = ..., which the lint mistakes for a duplicate"
)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "drmysql.io",
    version = "v1alpha1",
    kind = "DRMySQL",
    plural = "drmysqls",
    singular = "drmysql",
    shortname = "drm",
    category = "drmysql",
    namespaced,
    status = "DRMySQLStatus",
    derive = "PartialEq",
    doc = "DRMySQL is a MySQL or MariaDB primary with replicas in other clusters (reached through virtual nodes), with replication-lag monitoring and safe cross-cluster failover.",
    printcolumn(name = "Primary", type_ = "string", json_path = ".status.currentPrimary"),
    printcolumn(name = "Primary-Node", type_ = "string", json_path = ".status.primaryNode"),
    printcolumn(name = "Replicas", type_ = "string", json_path = ".status.replicasReady"),
    printcolumn(name = "Lag", type_ = "string", json_path = ".status.lag"),
    printcolumn(name = "Tunnel", type_ = "string", json_path = ".status.tunnelState"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("!has(self.metadata.name) || size(self.metadata.name) <= 40")
        .message("metadata.name must be at most 40 characters: it prefixes the names of the instances' Pods, PVCs and Services"),
    cel,
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.primary.node) || self.replicas.all(r, !has(r.node) || r.node != self.primary.node)")
        .message("spec.replicas[].node must differ from spec.primary.node: a replica on the primary's node shares its failure domain")
        .field_path(".replicas"),
    validation = Rule::new("self.replicas.all(r, !has(r.node) || self.replicas.filter(o, has(o.node) && o.node == r.node).size() == 1)")
        .message("spec.replicas[].node must be unique: two replicas on one node share a failure domain")
        .field_path(".replicas"),
    validation = Rule::new("self.replicas.all(r, !has(r.name) || ((!has(self.primary.name) || self.primary.name != r.name) && self.replicas.filter(o, has(o.name) && o.name == r.name).size() == 1))")
        .message("spec.replicas[].name must be unique and differ from spec.primary.name")
        .field_path(".replicas"),
    validation = Rule::new("has(self.credentialsSecret) == has(oldSelf.credentialsSecret) && (!has(self.credentialsSecret) || self.credentialsSecret == oldSelf.credentialsSecret)")
        .message("spec.credentialsSecret is immutable: the servers' replication users were created with its passwords")
        .field_path(".credentialsSecret"),
)]
pub struct DRMySQLSpec {
    /// The server image and its my.cnf overrides.
    pub engine: EngineSpec,

    /// The instance that becomes primary when the DRMySQL is created, and the one an
    /// automatic failback returns to. After a failover, `status.currentPrimary` names
    /// the instance that really is primary.
    pub primary: InstanceSpec,

    /// The replicas, one to four, each on its own node (normally each in another
    /// cluster than the primary).
    #[schemars(length(min = 1, max = 4))]
    pub replicas: Vec<InstanceSpec>,

    /// Secret holding the keys `root-password`, `replication-password` and
    /// `heartbeat-password`, in the DRMySQL's namespace. When omitted, the controller
    /// generates `<name>-credentials` with random passwords. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub credentials_secret: Option<String>,

    /// Replication mode and the RPO guard.
    #[serde(default)]
    pub replication: ReplicationSpec,

    /// Heartbeat interval and the lag alert threshold.
    #[serde(default)]
    pub lag: LagSpec,

    /// Failover policy, detection window, cooldown and failback.
    #[serde(default)]
    pub failover: FailoverSpec,

    /// Writer and reader Services.
    #[serde(default)]
    pub service: ServiceSpec,

    /// Per-instance persistent storage.
    #[serde(default)]
    pub storage: StorageSpec,

    /// CPU and memory of the database container in every instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// Whether an instance starts as the primary or as a replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialRole {
    /// `spec.primary`.
    Primary,
    /// An entry of `spec.replicas`.
    Replica,
}

/// One instance of a DRMySQL with its resolved name.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance<'a> {
    /// `<metadata.name>-<name or index>`: the name of its Pod, PVC and headless Service.
    pub name: String,
    /// 0 for the primary, 1.. for the replicas in spec order.
    pub index: usize,
    /// Where the spec declares it.
    pub initial_role: InitialRole,
    /// Its placement.
    pub spec: &'a InstanceSpec,
}

impl DRMySQL {
    /// Every instance, primary first, with its stable name.
    pub fn instances(&self) -> Vec<Instance<'_>> {
        let base = self.name_any();
        let primary = std::iter::once((InitialRole::Primary, &self.spec.primary));
        let replicas = self
            .spec
            .replicas
            .iter()
            .map(|replica| (InitialRole::Replica, replica));
        primary
            .chain(replicas)
            .enumerate()
            .map(|(index, (initial_role, spec))| Instance {
                name: instance_name(&base, index, spec),
                index,
                initial_role,
                spec,
            })
            .collect()
    }

    /// Name of the Secret with the passwords: the user's, or the generated one.
    pub fn credentials_secret_name(&self) -> String {
        self.spec
            .credentials_secret
            .clone()
            .unwrap_or_else(|| format!("{}-credentials", self.name_any()))
    }

    /// Name of the writer Service.
    pub fn writer_service_name(&self) -> String {
        format!("{}-primary", self.name_any())
    }

    /// Name of the reader Service.
    pub fn reader_service_name(&self) -> String {
        format!("{}-replicas", self.name_any())
    }
}

/// The stable name of the instance at `index` with placement `spec`.
pub fn instance_name(drmysql_name: &str, index: usize, spec: &InstanceSpec) -> String {
    match &spec.name {
        Some(name) => format!("{drmysql_name}-{name}"),
        None => format!("{drmysql_name}-{index}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn orders(spec: serde_json::Value) -> DRMySQL {
        serde_json::from_value(json!({
            "apiVersion": "drmysql.io/v1alpha1",
            "kind": "DRMySQL",
            "metadata": {"name": "orders", "namespace": "default"},
            "spec": spec
        }))
        .expect("valid DRMySQL")
    }

    #[test]
    fn instances_are_named_by_index_unless_named() {
        let drmysql = orders(json!({
            "engine": {"image": "mariadb:11.4"},
            "primary": {"node": "n0"},
            "replicas": [{"node": "n1"}, {"node": "n2", "name": "tencent"}, {"node": "n3"}]
        }));
        let names: Vec<(String, usize, InitialRole)> = drmysql
            .instances()
            .into_iter()
            .map(|instance| (instance.name, instance.index, instance.initial_role))
            .collect();
        assert_eq!(
            names,
            [
                ("orders-0".to_owned(), 0, InitialRole::Primary),
                ("orders-1".to_owned(), 1, InitialRole::Replica),
                ("orders-tencent".to_owned(), 2, InitialRole::Replica),
                ("orders-3".to_owned(), 3, InitialRole::Replica),
            ]
        );
    }

    #[test]
    fn default_toleration_is_the_kosmos_taint_and_an_empty_list_means_none() {
        let drmysql = orders(json!({
            "engine": {"image": "mariadb:11.4"},
            "primary": {"node": "n0", "tolerations": []},
            "replicas": [{"node": "kosmos-member-tencent"}]
        }));
        let instances = drmysql.instances();
        assert!(instances[0].spec.effective_tolerations().is_empty());
        let replica = instances[1].spec.effective_tolerations();
        assert_eq!(replica.len(), 1);
        assert_eq!(replica[0].key.as_deref(), Some("kosmos.io/node"));
        assert_eq!(replica[0].operator.as_deref(), Some("Equal"));
        assert_eq!(replica[0].value.as_deref(), Some("true"));
        assert_eq!(replica[0].effect.as_deref(), Some("NoSchedule"));
    }

    #[test]
    fn derived_names() {
        let drmysql = orders(json!({
            "engine": {"image": "mariadb:11.4"},
            "primary": {"node": "n0"},
            "replicas": [{"node": "n1"}]
        }));
        assert_eq!(drmysql.credentials_secret_name(), "orders-credentials");
        assert_eq!(drmysql.writer_service_name(), "orders-primary");
        assert_eq!(drmysql.reader_service_name(), "orders-replicas");
        let mut named = drmysql.clone();
        named.spec.credentials_secret = Some("vault-synced".into());
        assert_eq!(named.credentials_secret_name(), "vault-synced");
    }

    #[test]
    fn owned_option_pattern_matches_mysqld_spellings() {
        for name in [
            "server_id",
            "Server-Id",
            "loose_gtid_domain_id",
            "skip-log-bin",
            "maximum-read-only",
        ] {
            assert!(is_owned_option(name), "{name}");
        }
        for name in [
            "innodb_buffer_pool_size",
            "portal",
            "log_error",
            "skip-name-resolve",
        ] {
            assert!(!is_owned_option(name), "{name}");
        }
    }
}
