//! Which API objects a Pod needs before the pod runtime can run it, and when
//! what it was handed is out of date. A kubelet reads the Secrets and
//! ConfigMaps a Pod's volumes and env name, and the PersistentVolumeClaims of
//! its volumes, from the Pod's namespace; it refreshes volumes when those
//! objects change and the downwardAPI volume when the Pod's labels or
//! annotations change (the controller moves the role label on live Pods, and
//! the sidecar reads it from that volume). Pure, so that the decisions are
//! unit-tested.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::kubelet::PodObjects;

/// The names of the objects a Pod refers to, in its namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodReferences {
    /// Secrets (volumes, projected sources, env and envFrom).
    pub secrets: BTreeSet<String>,
    /// ConfigMaps (volumes, projected sources, env and envFrom).
    pub config_maps: BTreeSet<String>,
    /// PersistentVolumeClaims (volumes).
    pub claims: BTreeSet<String>,
}

impl PodReferences {
    fn container(&mut self, container: &Container) {
        for variable in container.env.iter().flatten() {
            let Some(source) = &variable.value_from else {
                continue;
            };
            if let Some(selector) = &source.secret_key_ref {
                self.secrets.insert(selector.name.clone());
            }
            if let Some(selector) = &source.config_map_key_ref {
                self.config_maps.insert(selector.name.clone());
            }
        }
        for source in container.env_from.iter().flatten() {
            if let Some(reference) = &source.secret_ref {
                self.secrets.insert(reference.name.clone());
            }
            if let Some(reference) = &source.config_map_ref {
                self.config_maps.insert(reference.name.clone());
            }
        }
    }
}

/// Every Secret, ConfigMap and claim `pod` refers to.
pub fn references(pod: &Pod) -> PodReferences {
    let mut references = PodReferences::default();
    let Some(spec) = &pod.spec else {
        return references;
    };
    for volume in spec.volumes.iter().flatten() {
        if let Some(source) = &volume.secret
            && let Some(name) = &source.secret_name
        {
            references.secrets.insert(name.clone());
        }
        if let Some(source) = &volume.config_map {
            references.config_maps.insert(source.name.clone());
        }
        if let Some(claim) = &volume.persistent_volume_claim {
            references.claims.insert(claim.claim_name.clone());
        }
        for source in volume
            .projected
            .iter()
            .flat_map(|projected| projected.sources.iter().flatten())
        {
            if let Some(secret) = &source.secret {
                references.secrets.insert(secret.name.clone());
            }
            if let Some(map) = &source.config_map {
                references.config_maps.insert(map.name.clone());
            }
        }
    }
    for container in spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
    {
        references.container(container);
    }
    references.secrets.retain(|name| !name.is_empty());
    references.config_maps.retain(|name| !name.is_empty());
    references.claims.retain(|name| !name.is_empty());
    references
}

/// Which version of each object was handed over: `(kind, name) →
/// resourceVersion`. Objects that vanish or appear change it too.
pub fn versions(objects: &PodObjects) -> BTreeMap<(&'static str, String), String> {
    let mut versions = BTreeMap::new();
    let mut add = |kind: &'static str,
                   metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        versions.insert(
            (kind, metadata.name.clone().unwrap_or_default()),
            metadata.resource_version.clone().unwrap_or_default(),
        );
    };
    for secret in &objects.secrets {
        add("Secret", &secret.metadata);
    }
    for map in &objects.config_maps {
        add("ConfigMap", &map.metadata);
    }
    for claim in &objects.claims {
        add("PersistentVolumeClaim", &claim.metadata);
    }
    versions
}

/// Whether a newer version of a running Pod changes what the runtime
/// projects from it: its labels or annotations (downwardAPI volumes and env
/// `fieldRef`s). Status writes and other changes do not.
pub fn pod_inputs_changed(handed: &Pod, newer: &Pod) -> bool {
    handed.metadata.labels != newer.metadata.labels
        || handed.metadata.annotations != newer.metadata.annotations
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "orders-a", "namespace": "shop", "labels": {"role": "replica"}},
            "spec": {
                "volumes": [
                    {"name": "data", "persistentVolumeClaim": {"claimName": "orders-a-data"}},
                    {"name": "config", "configMap": {"name": "orders-a-config"}},
                    {"name": "tls", "secret": {"secretName": "orders-tls"}},
                    {"name": "podinfo", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                    {"name": "bundle", "projected": {"sources": [
                        {"secret": {"name": "projected-secret"}},
                        {"configMap": {"name": "projected-map"}}
                    ]}},
                    {"name": "scratch", "emptyDir": {}}
                ],
                "initContainers": [{"name": "init", "envFrom": [{"configMapRef": {"name": "init-env"}}]}],
                "containers": [
                    {"name": "mysqld", "env": [
                        {"name": "MYSQL_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "orders-credentials", "key": "root-password"}}},
                        {"name": "PLAIN", "value": "x"}
                    ]},
                    {"name": "sidecar", "env": [
                        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "sidecar-settings", "key": "level"}}},
                        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
                    ], "envFrom": [{"secretRef": {"name": "orders-sidecar"}}]}
                ]
            }
        }))
        .expect("a Pod")
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn volumes_env_and_env_from_are_all_followed() {
        let found = references(&pod());
        assert_eq!(
            found.secrets,
            set(&[
                "orders-credentials",
                "orders-sidecar",
                "orders-tls",
                "projected-secret"
            ])
        );
        assert_eq!(
            found.config_maps,
            set(&["init-env", "orders-a-config", "projected-map", "sidecar-settings"])
        );
        assert_eq!(found.claims, set(&["orders-a-data"]));
        assert_eq!(references(&Pod::default()), PodReferences::default());
    }

    #[test]
    fn versions_change_with_each_object() {
        let secret = |version: &str| Secret {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("s".to_owned()),
                resource_version: Some(version.to_owned()),
                ..Default::default()
            },
            ..Secret::default()
        };
        let mut objects = PodObjects {
            secrets: vec![secret("1")],
            ..PodObjects::default()
        };
        let before = versions(&objects);
        objects.secrets = vec![secret("2")];
        assert_ne!(before, versions(&objects), "a newer Secret");
        let newer = versions(&objects);
        objects.config_maps.push(ConfigMap::default());
        assert_ne!(newer, versions(&objects), "an object that appeared");
    }

    #[test]
    fn only_labels_and_annotations_reach_a_running_pod() {
        let handed = pod();
        let mut status_only = handed.clone();
        status_only.metadata.resource_version = Some("42".to_owned());
        status_only.status = Some(Default::default());
        assert!(!pod_inputs_changed(&handed, &status_only));
        let mut relabelled = handed.clone();
        relabelled
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("role".to_owned(), "primary".to_owned());
        assert!(pod_inputs_changed(&handed, &relabelled));
        let mut annotated = handed.clone();
        annotated.metadata.annotations = Some([("a".to_owned(), "b".to_owned())].into());
        assert!(pod_inputs_changed(&handed, &annotated));
    }
}
