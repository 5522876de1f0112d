//! The **build** stage: every object a DRMySQL needs, as a pure function of
//! the DRMySQL and what the controller knows (the sidecar image, which
//! instance is primary now). No I/O, so every rule about Pods, volumes,
//! configuration and Services is unit-tested here; the apply stage only
//! server-side-applies what this returns.
//!
//! Secrets are not built here: their values come from the operating system's
//! random source, once, when the Secret does not exist yet
//! (see [`crate::credentials`] and [`credentials_secret`]).

pub mod config;
pub mod pod;
pub mod service;

use std::collections::BTreeMap;

use drmysql_api::drmysql::{DRMySQL, InstanceRole};
use drmysql_api::names;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, PersistentVolumeClaimSpec, Pod, Secret, Service,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use crate::labels;

/// What the build stage needs besides the DRMySQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildContext {
    /// Image of the sidecar (the drmysql image).
    pub sidecar_image: String,
    /// Name of the instance that is primary now: `status.currentPrimary`, or
    /// the `spec.primary` instance before the first reconcile.
    pub current_primary: String,
    /// Each instance's role (see [`crate::roles`]), which its Pod's
    /// `drmysql.io/role` label carries; an instance missing here is labelled
    /// by `current_primary`.
    pub roles: BTreeMap<String, InstanceRole>,
}

/// Every object of one DRMySQL, as it should be.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesiredObjects {
    /// One my.cnf per instance.
    pub config_maps: Vec<ConfigMap>,
    /// One data volume per instance.
    pub persistent_volume_claims: Vec<PersistentVolumeClaim>,
    /// One Pod per instance, labelled with its role.
    pub pods: Vec<Pod>,
    /// Writer, reader (when enabled) and one headless Service per instance.
    pub services: Vec<Service>,
}

/// Builds every object of `drmysql`.
pub fn build(drmysql: &DRMySQL, context: &BuildContext) -> DesiredObjects {
    let mut desired = DesiredObjects::default();
    for instance in drmysql.instances() {
        let role = match context.roles.get(&instance.name) {
            Some(role) => crate::roles::label(*role),
            None if instance.name == context.current_primary => names::ROLE_PRIMARY,
            None => names::ROLE_REPLICA,
        };
        desired.config_maps.push(config_map(drmysql, &instance));
        desired
            .persistent_volume_claims
            .push(persistent_volume_claim(drmysql, &instance));
        desired.pods.push(pod::pod(drmysql, &instance, role, context));
        desired.services.push(service::headless(drmysql, &instance));
    }
    desired.services.insert(0, service::writer(drmysql));
    if let Some(reader) = service::reader(drmysql) {
        desired.services.insert(1, reader);
    }
    desired
}

/// The controller owner reference to `drmysql`, when it has been stored (a
/// uid exists).
pub(crate) fn owner(drmysql: &DRMySQL) -> Option<Vec<OwnerReference>> {
    drmysql.controller_owner_ref(&()).map(|reference| vec![reference])
}

fn config_map(drmysql: &DRMySQL, instance: &drmysql_api::drmysql::Instance<'_>) -> ConfigMap {
    let cluster = drmysql.metadata.name.clone().unwrap_or_default();
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(pod::config_map_name(&instance.name)),
            namespace: drmysql.metadata.namespace.clone(),
            labels: Some(labels::instance_labels(&cluster, &instance.name)),
            owner_references: owner(drmysql),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            config::MY_CNF_KEY.to_owned(),
            config::my_cnf(drmysql, instance),
        )])),
        ..ConfigMap::default()
    }
}

/// The data volume of an instance. It is owned by the DRMySQL (and so deleted
/// with it) only when `spec.storage.deleteOnDelete` is set.
fn persistent_volume_claim(
    drmysql: &DRMySQL,
    instance: &drmysql_api::drmysql::Instance<'_>,
) -> PersistentVolumeClaim {
    let cluster = drmysql.metadata.name.clone().unwrap_or_default();
    let storage = &drmysql.spec.storage;
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(pod::pvc_name(&instance.name)),
            namespace: drmysql.metadata.namespace.clone(),
            labels: Some(labels::instance_labels(&cluster, &instance.name)),
            owner_references: if storage.delete_on_delete {
                owner(drmysql)
            } else {
                None
            },
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(storage.size.clone()),
                )])),
                limits: None,
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

/// A Secret of `drmysql` named `name`, holding `values`, owned by the DRMySQL.
pub fn credentials_secret(drmysql: &DRMySQL, name: &str, values: &BTreeMap<String, String>) -> Secret {
    let cluster = drmysql.metadata.name.clone().unwrap_or_default();
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: drmysql.metadata.namespace.clone(),
            labels: Some(labels::cluster_labels(&cluster)),
            owner_references: owner(drmysql),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(
            values
                .iter()
                .map(|(key, value)| (key.clone(), ByteString(value.clone().into_bytes())))
                .collect(),
        ),
        ..Secret::default()
    }
}

#[cfg(test)]
pub(crate) mod tests;
