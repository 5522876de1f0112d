//! API types of drmysql.
//!
//! - [`drmysql`]: the DRMySQL custom resource (`drmysql.io/v1alpha1`), the
//!   user's declaration of a cross-cluster primary and its replicas.
//! - [`clusterlink`]: Cluster, ClusterNode and NodeConfig (`kosmos.io/v1alpha1`),
//!   wire-compatible with Kosmos, which join the clusters' pod networks.
//! - [`names`]: labels, annotations, finalizers and condition types.
//! - [`structural`]: checks an object against a CRD's structural schema the way
//!   the API server does before it runs the CEL rules.
//!
//! This crate chooses no Kubernetes version feature of `k8s-openapi`; binaries
//! and tests do.

pub mod clusterlink;
pub mod drmysql;
pub mod names;
pub mod structural;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD drmysql ships, in the order `drmysql crd` prints them.
///
/// The Cluster CRD has no status subresource, as in Kosmos: Kosmos's member
/// controller writes `Cluster.status` with a plain update, which a status
/// subresource would silently discard.
pub fn crds() -> Vec<CustomResourceDefinition> {
    let mut cluster = clusterlink::Cluster::crd();
    for version in &mut cluster.spec.versions {
        version.subresources = None;
    }
    vec![
        drmysql::DRMySQL::crd(),
        cluster,
        clusterlink::ClusterNode::crd(),
        clusterlink::NodeConfig::crd(),
    ]
}

/// The file name `crds/` uses for a CRD: `<group>_<plural>.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}
