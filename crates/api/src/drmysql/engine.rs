//! The MySQL or MariaDB server drmysql runs, and the my.cnf options the user may set.
//!
//! drmysql owns every option that replication, fencing and failover depend on
//! (server identity, GTID, binary and relay logs, read-only, semi-sync, the
//! listening socket). A user override of one of those would silently break the
//! safety guarantees, so the CRD rejects it up front with a message that names
//! the option.

use k8s_openapi::api::core::v1::LocalObjectReference;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Options that drmysql owns exactly (compared after lower-casing, `-` → `_`, and
/// removing a `loose_`, `enable_`, `disable_`, `skip_` or `maximum_` prefix).
pub const OWNED_OPTIONS: &[&str] = &[
    "server_id",
    "server_uuid",
    "enforce_gtid_consistency",
    "log_slave_updates",
    "log_replica_updates",
    "read_only",
    "super_read_only",
    "slave_start",
    "replica_start",
    "datadir",
    "port",
    "bind_address",
    "socket",
    "report_host",
    "report_port",
];

/// Option-name prefixes that drmysql owns (every `gtid*`, `rpl_semi_sync*`,
/// `relay_log*` and `log_bin*` option).
pub const OWNED_OPTION_PREFIXES: &[&str] = &["gtid", "rpl_semi_sync", "relay_log", "log_bin"];

/// Prefixes mysqld accepts in front of any option name.
pub const OPTION_MODIFIERS: &[&str] = &["", "loose_", "enable_", "disable_", "skip_", "maximum_"];

/// The database server image and its configuration.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EngineSpec {
    /// Server image: MySQL 8.0, MySQL 8.4 or MariaDB 10.11 and later
    /// (e.g. `mariadb:11.4` or `mysql:8.4`). The flavor is detected at run time from
    /// `SELECT VERSION()`, not from the image name.
    #[schemars(length(min = 1, max = 512))]
    pub image: String,

    /// Pull policy of the server image; Kubernetes' default when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,

    /// Secrets for pulling the server and sidecar images from a private registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub image_pull_secrets: Vec<LocalObjectReference>,

    /// my.cnf overrides, written to the `[mysqld]` section in this order. Options
    /// drmysql owns are rejected: `server_id`, `server_uuid`, `gtid*`,
    /// `enforce_gtid_consistency`, `log_bin*`, `log_slave_updates`,
    /// `log_replica_updates`, `read_only`, `super_read_only`, `rpl_semi_sync*`,
    /// `relay_log*`, `skip_slave_start`, `skip_replica_start`, `datadir`, `port`,
    /// `bind_address`, `socket`, `report_host` and `report_port`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub config: Vec<ConfigOption>,
}

/// One my.cnf option.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "!['', 'loose_', 'enable_', 'disable_', 'skip_', 'maximum_'].exists(p, \
      ['server_id', 'server_uuid', 'enforce_gtid_consistency', 'log_slave_updates', 'log_replica_updates', \
       'read_only', 'super_read_only', 'slave_start', 'replica_start', 'datadir', 'port', 'bind_address', \
       'socket', 'report_host', 'report_port'].exists(o, self.name.lowerAscii().replace('-', '_') == p + o) \
      || ['gtid', 'rpl_semi_sync', 'relay_log', 'log_bin'].exists(o, self.name.lowerAscii().replace('-', '_').startsWith(p + o)))")
    .message("spec.engine.config: this option is owned by drmysql (server identity, GTID, binary and relay logs, read_only, semi-sync and the listening socket are set by the controller)")
    .field_path(".name"))]
pub struct ConfigOption {
    /// Option name as in my.cnf, e.g. `innodb_buffer_pool_size` or `max-connections`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z][A-Za-z0-9_.-]*$"))]
    pub name: String,

    /// Option value, written verbatim after `=`. Empty writes the bare option name
    /// (a flag such as `skip-name-resolve`).
    #[serde(default)]
    #[schemars(length(max = 1024), regex(pattern = r"^[^\r\n]*$"))]
    pub value: String,
}

/// When the kubelet pulls an image.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImagePullPolicy {
    /// Pull on every start.
    Always,
    /// Pull only when the image is not on the node.
    IfNotPresent,
    /// Never pull; the image must be on the node.
    Never,
}

impl ImagePullPolicy {
    /// The value Kubernetes expects in `imagePullPolicy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// Whether drmysql owns a my.cnf option, by the same normalisation mysqld applies.
pub fn is_owned_option(name: &str) -> bool {
    let normalized = name.to_ascii_lowercase().replace('-', "_");
    OPTION_MODIFIERS.iter().any(|modifier| {
        let Some(stem) = normalized.strip_prefix(modifier) else {
            return false;
        };
        OWNED_OPTIONS.contains(&stem)
            || OWNED_OPTION_PREFIXES
                .iter()
                .any(|prefix| stem.starts_with(prefix))
    })
}
