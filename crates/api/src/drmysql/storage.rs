//! The persistent volume each instance's data directory lives on.
//!
//! A PVC can grow but never shrink, and its storage class cannot change after
//! it is bound; the CRD says so at apply time instead of leaving a PVC that
//! Kubernetes refuses to update.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Per-instance persistent storage.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)")
        .message("spec.storage.storageClassName is immutable after creation")
        .field_path(".storageClassName"),
    validation = Rule::new("!isQuantity(self.size) || !isQuantity(oldSelf.size) || quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0")
        .message("spec.storage.size cannot shrink: a PersistentVolumeClaim can only grow")
        .field_path(".size"),
)]
pub struct StorageSpec {
    /// Size of each instance's PersistentVolumeClaim, at least `1Gi`.
    #[serde(default = "default_size")]
    #[x_kube(validation = Rule::new("isQuantity(self) && quantity(self).compareTo(quantity('1Gi')) >= 0")
        .message("spec.storage.size must be a quantity of at least 1Gi, e.g. 20Gi"))]
    #[schemars(length(max = 32))]
    pub size: String,

    /// StorageClass of the PVCs; the cluster's default class when omitted. Immutable
    /// after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub storage_class_name: Option<String>,

    /// Whether deleting the DRMySQL also deletes the instances' PVCs, and with them
    /// the data. By default they are kept, so that deleting the object by mistake
    /// loses nothing.
    #[serde(default)]
    pub delete_on_delete: bool,
}

impl Default for StorageSpec {
    fn default() -> Self {
        Self {
            size: default_size(),
            storage_class_name: None,
            delete_on_delete: false,
        }
    }
}

fn default_size() -> String {
    "10Gi".to_owned()
}
