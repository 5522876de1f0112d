//! Where each MySQL instance runs.
//!
//! drmysql's whole point is that the primary and its replicas sit in different
//! clusters, which in the host cluster means different (usually virtual) nodes.
//! A placement therefore pins an instance to one node by a *required*
//! nodeAffinity, or takes the user's own selector or affinity, and carries the
//! tolerations that let it land on a Kosmos virtual node.

use k8s_openapi::api::core::v1::{Affinity, Toleration};
use kube::KubeSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::names;

/// Placement and identity of one MySQL instance (the primary or a replica).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!(has(self.node) && has(self.affinity))")
        .message("node and affinity are mutually exclusive: node already pins the instance through a required nodeAffinity on kubernetes.io/hostname; put the node into your affinity instead")
        .field_path(".affinity"),
    validation = Rule::new("has(self.node) || has(self.nodeSelector) || has(self.affinity)")
        .message("an instance needs a placement: set node (e.g. kosmos-member-tencent), nodeSelector or affinity, otherwise the primary and a replica may land in the same cluster")
        .field_path(".node"),
)]
pub struct InstanceSpec {
    /// Name of this instance, unique within the DRMySQL. The instance's Pod, PVC and
    /// headless Service are called `<metadata.name>-<name>`. When omitted, the name is
    /// the instance's index: `0` for `spec.primary`, `1`, `2`, … for `spec.replicas`.
    /// A given name starts with a letter, so it never collides with an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 20))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')")
        .message("name must be a DNS label that starts with a letter (e.g. tencent or site-b); digits-only names are reserved for generated instance names"))]
    pub name: Option<String>,

    /// Node to pin the instance to, such as the Kosmos virtual node
    /// `kosmos-member-tencent` that stands for a whole member cluster. The Pod gets a
    /// required nodeAffinity `kubernetes.io/hostname In [node]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub node: Option<String>,

    /// Node labels the instance's Pod must match, as an alternative to `node` or in
    /// addition to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// Full affinity override, for placements `node` cannot express. Mutually
    /// exclusive with `node`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// Tolerations of the instance's Pod. When omitted, the Pod tolerates the Kosmos
    /// virtual-node taint `kosmos.io/node=true:NoSchedule`; an empty list means no
    /// tolerations at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
}

impl InstanceSpec {
    /// The tolerations the instance's Pod gets: the user's, or the Kosmos default.
    pub fn effective_tolerations(&self) -> Vec<Toleration> {
        match &self.tolerations {
            Some(tolerations) => tolerations.clone(),
            None => vec![kosmos_virtual_node_toleration()],
        }
    }
}

/// The toleration for the taint Kosmos clustertree puts on its virtual nodes.
pub fn kosmos_virtual_node_toleration() -> Toleration {
    Toleration {
        key: Some(names::KOSMOS_NODE_TAINT_KEY.to_owned()),
        operator: Some("Equal".to_owned()),
        value: Some(names::KOSMOS_NODE_TAINT_VALUE.to_owned()),
        effect: Some(names::KOSMOS_NODE_TAINT_EFFECT.to_owned()),
        toleration_seconds: None,
    }
}
