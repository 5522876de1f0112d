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

/// Options that drmysql owns exactly (in any case, with `-` or `_`, and with or
/// without one of the [`OPTION_MODIFIERS`]).
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

/// Modifiers mysqld accepts in front of any option name.
pub const OPTION_MODIFIERS: &[&str] = &["loose", "enable", "disable", "skip", "maximum"];

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
#[x_kube(validation = Rule::new(format!("!self.name.matches('{}')", owned_option_pattern()))
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

/// A regular expression (RE2 and Rust `regex` syntax alike) matching every option
/// name drmysql owns, with mysqld's own leniency: any case, `-` or `_` between
/// words, and an optional `loose-`, `enable-`, `disable-`, `skip-` or `maximum-`
/// modifier. The CRD's CEL rule and [`is_owned_option`] both use it.
pub fn owned_option_pattern() -> String {
    let words = |name: &str| name.replace('_', "[-_]");
    let modifiers: Vec<String> = OPTION_MODIFIERS.iter().map(|name| words(name)).collect();
    let exact: Vec<String> = OWNED_OPTIONS.iter().map(|name| words(name)).collect();
    let prefixes: Vec<String> = OWNED_OPTION_PREFIXES.iter().map(|name| words(name)).collect();
    format!(
        "^(?i)(({})[-_])?({}|({})[-_.a-z0-9]*)$",
        modifiers.join("|"),
        exact.join("|"),
        prefixes.join("|")
    )
}

/// Whether drmysql owns a my.cnf option, by the same normalisation mysqld applies.
pub fn is_owned_option(name: &str) -> bool {
    static PATTERN: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(&owned_option_pattern()).ok());
    PATTERN.as_ref().is_some_and(|pattern| pattern.is_match(name))
}
