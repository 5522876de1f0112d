//! How clients reach the primary (writer) and the replicas (readers).
//!
//! Roles are Pod labels; the Services select on them, so moving the label moves
//! the clients. The writer Service's type is the user's choice: ClusterIP inside
//! the cluster, NodePort, or LoadBalancer (for example MetalLB in layer-2 mode
//! for clients outside the cluster).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The writer Service `<name>-primary` and the reader Service `<name>-replicas`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.loadBalancerIP) || self.type == 'LoadBalancer'")
        .message("spec.service.loadBalancerIP requires spec.service.type LoadBalancer")
        .field_path(".loadBalancerIP"),
    validation = Rule::new("!has(self.loadBalancerClass) || self.type == 'LoadBalancer'")
        .message("spec.service.loadBalancerClass requires spec.service.type LoadBalancer")
        .field_path(".loadBalancerClass"),
    validation = Rule::new("!has(self.nodePort) || self.type != 'ClusterIP'")
        .message("spec.service.nodePort requires spec.service.type NodePort or LoadBalancer")
        .field_path(".nodePort"),
)]
pub struct ServiceSpec {
    /// Type of the writer Service: `ClusterIP`, `NodePort` or `LoadBalancer`.
    #[serde(default, rename = "type")]
    pub type_: ServiceType,

    /// Port the writer and reader Services listen on.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,

    /// Annotations for the writer Service, such as
    /// `metallb.universe.tf/address-pool` or a cloud load balancer's options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,

    /// Address to request for a LoadBalancer writer Service (MetalLB honours it).
    #[serde(default, rename = "loadBalancerIP", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 45))]
    pub load_balancer_ip: Option<String>,

    /// Load balancer implementation to use for a LoadBalancer writer Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub load_balancer_class: Option<String>,

    /// Node port for a NodePort or LoadBalancer writer Service (30000–32767);
    /// allocated by Kubernetes when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30000, max = 32767))]
    pub node_port: Option<i32>,

    /// `Local` keeps client source addresses for NodePort and LoadBalancer Services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_traffic_policy: Option<ExternalTrafficPolicy>,

    /// The reader Service.
    #[serde(default)]
    pub readers: ReaderServiceSpec,
}

impl Default for ServiceSpec {
    fn default() -> Self {
        Self {
            type_: ServiceType::default(),
            port: default_port(),
            annotations: BTreeMap::new(),
            load_balancer_ip: None,
            load_balancer_class: None,
            node_port: None,
            external_traffic_policy: None,
            readers: ReaderServiceSpec::default(),
        }
    }
}

fn default_port() -> i32 {
    3306
}

/// The reader Service `<name>-replicas`, which selects replicas that are ready.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.maxLagSeconds) || self.maxLagSeconds > 0.0")
    .message("spec.service.readers.maxLagSeconds must be greater than 0")
    .field_path(".maxLagSeconds"))]
pub struct ReaderServiceSpec {
    /// Whether to create the reader Service.
    #[serde(default = "default_true")]
    pub enabled: bool,

    /// Type of the reader Service.
    #[serde(default, rename = "type")]
    pub type_: ServiceType,

    /// Annotations for the reader Service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,

    /// A replica lagging more than this many seconds turns unready and leaves the
    /// reader Service until it catches up. Defaults to
    /// `spec.lag.alertThresholdSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lag_seconds: Option<f64>,
}

impl Default for ReaderServiceSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            type_: ServiceType::default(),
            annotations: BTreeMap::new(),
            max_lag_seconds: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// Kubernetes Service type.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServiceType {
    /// Reachable inside the cluster only.
    #[default]
    ClusterIP,
    /// Also reachable on every node's port `nodePort`.
    NodePort,
    /// Also reachable on an external load balancer address.
    LoadBalancer,
}

impl ServiceType {
    /// The value Kubernetes expects in `Service.spec.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClusterIP => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
        }
    }
}

/// Kubernetes `externalTrafficPolicy`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalTrafficPolicy {
    /// Route to any node's endpoints (source addresses are masqueraded).
    Cluster,
    /// Route only to endpoints on the receiving node (source addresses are kept).
    Local,
}
