//! The Pod of one instance: mysqld and the drmysql sidecar, pinned to its node.
//!
//! drmysql manages Pods and PVCs directly, as CloudNativePG does, rather than
//! through one single-replica StatefulSet per instance: every instance has its
//! own placement (usually a different virtual node), roles are labels the
//! controller moves, and a StatefulSet controller would recreate a deleted Pod
//! on its own schedule, while drmysql must decide when an old primary comes
//! back (read-only, and only once it is safe to rejoin).

use drmysql_api::drmysql::{DRMySQL, Instance};
use drmysql_api::names::{self, credentials};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMapVolumeSource, Container, ContainerPort, DownwardAPIVolumeFile,
    DownwardAPIVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, NodeAffinity, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, ObjectFieldSelector, PersistentVolumeClaimVolumeSource, Pod,
    PodSecurityContext, PodSpec, Probe, SecretKeySelector, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::BuildContext;
use super::config::MYSQL_PORT;
use crate::labels;

/// Port of the sidecar's HTTP server (health, readiness, probes, metrics).
pub const SIDECAR_PORT: i32 = 9104;
/// Where the Pod's labels appear inside the sidecar, so that it sees its role
/// change without a restart.
pub const PODINFO_DIR: &str = "/etc/drmysql/podinfo";
/// User and group of mysqld in the MySQL and MariaDB images.
const MYSQL_UID: i64 = 999;

/// Name of the PVC holding an instance's data directory.
pub fn pvc_name(instance: &str) -> String {
    format!("{instance}-data")
}

/// Name of an instance's ConfigMap.
pub fn config_map_name(instance: &str) -> String {
    format!("{instance}-config")
}

/// Name of the Secret holding the sidecar token.
pub fn sidecar_secret_name(drmysql: &str) -> String {
    format!("{drmysql}-sidecar")
}

/// The Pod of `instance`, labelled with `role`.
pub fn pod(drmysql: &DRMySQL, instance: &Instance<'_>, role: &str, context: &BuildContext) -> Pod {
    let cluster = drmysql.metadata.name.clone().unwrap_or_default();
    let mut pod_labels = labels::instance_labels(&cluster, &instance.name);
    pod_labels.insert(names::LABEL_ROLE.to_owned(), role.to_owned());
    Pod {
        metadata: ObjectMeta {
            name: Some(instance.name.clone()),
            namespace: drmysql.metadata.namespace.clone(),
            labels: Some(pod_labels),
            owner_references: super::owner(drmysql),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            affinity: affinity(instance),
            node_selector: instance.spec.node_selector.clone(),
            tolerations: Some(instance.spec.effective_tolerations()),
            hostname: Some(instance.name.clone()),
            security_context: Some(PodSecurityContext {
                fs_group: Some(MYSQL_UID),
                ..PodSecurityContext::default()
            }),
            termination_grace_period_seconds: Some(60),
            image_pull_secrets: (!drmysql.spec.engine.image_pull_secrets.is_empty())
                .then(|| drmysql.spec.engine.image_pull_secrets.clone()),
            containers: vec![mysqld(drmysql), sidecar(drmysql, instance, context)],
            volumes: Some(volumes(instance)),
            ..PodSpec::default()
        }),
        status: None,
    }
}

/// The user's affinity, or a required nodeAffinity pinning the instance to its node.
fn affinity(instance: &Instance<'_>) -> Option<Affinity> {
    if let Some(affinity) = &instance.spec.affinity {
        return Some(affinity.clone());
    }
    let node = instance.spec.node.as_ref()?;
    Some(Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: names::HOSTNAME_LABEL.to_owned(),
                        operator: "In".to_owned(),
                        values: Some(vec![node.clone()]),
                    }]),
                    match_fields: None,
                }],
            }),
            preferred_during_scheduling_ignored_during_execution: None,
        }),
        pod_affinity: None,
        pod_anti_affinity: None,
    })
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn plain_env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: path.to_owned(),
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn mysqld(drmysql: &DRMySQL) -> Container {
    let secret = drmysql.credentials_secret_name();
    let tcp = |initial: i32, period: i32, failures: i32| Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(MYSQL_PORT),
            host: None,
        }),
        initial_delay_seconds: Some(initial),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(failures),
        ..Probe::default()
    };
    Container {
        name: "mysqld".to_owned(),
        image: Some(drmysql.spec.engine.image.clone()),
        image_pull_policy: drmysql
            .spec
            .engine
            .image_pull_policy
            .map(|policy| policy.as_str().to_owned()),
        // Both image families initialise the data directory with these.
        env: Some(vec![
            secret_env("MYSQL_ROOT_PASSWORD", &secret, credentials::ROOT_PASSWORD),
            secret_env("MARIADB_ROOT_PASSWORD", &secret, credentials::ROOT_PASSWORD),
            plain_env("MYSQL_ROOT_HOST", "%"),
            plain_env("MARIADB_ROOT_HOST", "%"),
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("mysql".to_owned()),
            container_port: MYSQL_PORT,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        resources: drmysql.spec.resources.clone(),
        // Initialising a data directory can take minutes on slow volumes.
        startup_probe: Some(tcp(5, 5, 120)),
        liveness_probe: Some(tcp(0, 10, 6)),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "data".to_owned(),
                mount_path: "/var/lib/mysql".to_owned(),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "config".to_owned(),
                mount_path: "/etc/mysql/conf.d".to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    }
}

fn sidecar(drmysql: &DRMySQL, instance: &Instance<'_>, context: &BuildContext) -> Container {
    let secret = drmysql.credentials_secret_name();
    let cluster = drmysql.metadata.name.clone().unwrap_or_default();
    let http = |path: &str, period: i32, failures: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::Int(SIDECAR_PORT),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Probe::default()
    };
    let reader_max_lag = drmysql
        .spec
        .service
        .readers
        .max_lag_seconds
        .unwrap_or(drmysql.spec.lag.alert_threshold_seconds);
    Container {
        name: "sidecar".to_owned(),
        image: Some(context.sidecar_image.clone()),
        args: Some(vec!["sidecar".to_owned()]),
        env: Some(vec![
            field_env("POD_NAMESPACE", "metadata.namespace"),
            plain_env("DRMYSQL_CLUSTER", cluster.clone()),
            plain_env("DRMYSQL_INSTANCE", instance.name.clone()),
            plain_env("DRMYSQL_PODINFO", PODINFO_DIR),
            plain_env("DRMYSQL_MYSQL_PORT", MYSQL_PORT.to_string()),
            plain_env("DRMYSQL_LISTEN", format!("0.0.0.0:{SIDECAR_PORT}")),
            plain_env(
                "DRMYSQL_HEARTBEAT_INTERVAL_MS",
                drmysql.spec.lag.heartbeat_interval_millis.to_string(),
            ),
            plain_env("DRMYSQL_READY_MAX_LAG_SECONDS", reader_max_lag.to_string()),
            plain_env("DRMYSQL_HEARTBEAT_USER", credentials::HEARTBEAT_USER),
            secret_env(
                "DRMYSQL_HEARTBEAT_PASSWORD",
                &secret,
                credentials::HEARTBEAT_PASSWORD,
            ),
            secret_env(
                "DRMYSQL_SIDECAR_TOKEN",
                &sidecar_secret_name(&cluster),
                credentials::SIDECAR_TOKEN,
            ),
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("sidecar".to_owned()),
            container_port: SIDECAR_PORT,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(http("/readyz", 2, 2)),
        liveness_probe: Some(http("/healthz", 10, 6)),
        volume_mounts: Some(vec![VolumeMount {
            name: "podinfo".to_owned(),
            mount_path: PODINFO_DIR.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    }
}

fn volumes(instance: &Instance<'_>) -> Vec<Volume> {
    vec![
        Volume {
            name: "data".to_owned(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: pvc_name(&instance.name),
                read_only: None,
            }),
            ..Volume::default()
        },
        Volume {
            name: "config".to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map_name(&instance.name),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "podinfo".to_owned(),
            downward_api: Some(DownwardAPIVolumeSource {
                items: Some(vec![DownwardAPIVolumeFile {
                    path: "labels".to_owned(),
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: "metadata.labels".to_owned(),
                    }),
                    ..DownwardAPIVolumeFile::default()
                }]),
                ..DownwardAPIVolumeSource::default()
            }),
            ..Volume::default()
        },
    ]
}
