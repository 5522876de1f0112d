//! Thin readers of the member cluster: each fetches one source of CIDRs and
//! says "absent" (`None`) when the resource does not exist there, e.g. a Calico
//! CRD in a Flannel cluster, rather than failing.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};

use crate::discovery::error::{DiscoveryError, is_not_found};

/// Namespace of Flannel's ConfigMap in current manifests.
pub const FLANNEL_NAMESPACE: &str = "kube-flannel";
/// Namespace of Flannel's ConfigMap in older manifests and many distributions.
pub const FLANNEL_LEGACY_NAMESPACE: &str = "kube-system";
/// Name of Flannel's ConfigMap.
pub const FLANNEL_CONFIGMAP: &str = "kube-flannel-cfg";
/// Key of Flannel's network configuration in its ConfigMap.
pub const FLANNEL_NET_CONF_KEY: &str = "net-conf.json";
/// Namespace and name of Cilium's ConfigMap.
pub const CILIUM_CONFIGMAP: (&str, &str) = ("kube-system", "cilium-config");
/// Label selecting the API server's static Pods.
pub const APISERVER_SELECTOR: &str = "component=kube-apiserver";

/// Calico's (Kubernetes datastore) custom resource `kind`/`plural`.
fn calico_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "crd.projectcalico.org".to_owned(),
        version: "v1".to_owned(),
        api_version: "crd.projectcalico.org/v1".to_owned(),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}

/// Calico's `IPPool` resource.
pub fn ippool_resource() -> ApiResource {
    calico_resource("IPPool", "ippools")
}

/// Every real and virtual Node of the member cluster.
pub async fn nodes(member: &kube::Client) -> Result<Vec<Node>, DiscoveryError> {
    Api::<Node>::all(member.clone())
        .list(&ListParams::default())
        .await
        .map(|list| list.items)
        .map_err(|source| DiscoveryError::api("list", "member Nodes", source))
}

/// Every Calico IPPool, or `None` when Calico's CRDs are not installed.
pub async fn calico_ippools(member: &kube::Client) -> Result<Option<Vec<DynamicObject>>, DiscoveryError> {
    list_optional(member, &ippool_resource(), "Calico IPPools").await
}

/// Every Calico block affinity, or `None` when Calico's CRDs are not installed.
pub async fn block_affinities(member: &kube::Client) -> Result<Option<Vec<DynamicObject>>, DiscoveryError> {
    list_optional(
        member,
        &calico_resource("BlockAffinity", "blockaffinities"),
        "Calico block affinities",
    )
    .await
}

async fn list_optional(
    member: &kube::Client,
    resource: &ApiResource,
    what: &str,
) -> Result<Option<Vec<DynamicObject>>, DiscoveryError> {
    match Api::<DynamicObject>::all_with(member.clone(), resource)
        .list(&ListParams::default())
        .await
    {
        Ok(list) => Ok(Some(list.items)),
        Err(error) if is_not_found(&error) => Ok(None),
        Err(source) => Err(DiscoveryError::api("list", what, source)),
    }
}

/// Flannel's `net-conf.json`, from `kube-flannel` or else `kube-system`; `None`
/// when neither namespace has the ConfigMap or the key.
pub async fn flannel_net_conf(member: &kube::Client) -> Result<Option<String>, DiscoveryError> {
    for namespace in [FLANNEL_NAMESPACE, FLANNEL_LEGACY_NAMESPACE] {
        if let Some(data) = configmap_data(member, namespace, FLANNEL_CONFIGMAP).await?
            && let Some(net_conf) = data.get(FLANNEL_NET_CONF_KEY)
        {
            return Ok(Some(net_conf.clone()));
        }
    }
    Ok(None)
}

/// Cilium's configuration, or `None` when it has none.
pub async fn cilium_config(
    member: &kube::Client,
) -> Result<Option<BTreeMap<String, String>>, DiscoveryError> {
    let (namespace, name) = CILIUM_CONFIGMAP;
    configmap_data(member, namespace, name).await
}

async fn configmap_data(
    member: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, DiscoveryError> {
    Api::<ConfigMap>::namespaced(member.clone(), namespace)
        .get_opt(name)
        .await
        .map(|configmap| configmap.map(|configmap| configmap.data.unwrap_or_default()))
        .map_err(|source| DiscoveryError::api("get", format!("ConfigMap {namespace}/{name}"), source))
}

/// The API server's static Pods in `kube-system` (none on a managed control plane).
pub async fn apiserver_pods(member: &kube::Client) -> Result<Vec<Pod>, DiscoveryError> {
    Api::<Pod>::namespaced(member.clone(), "kube-system")
        .list(&ListParams::default().labels(APISERVER_SELECTOR))
        .await
        .map(|list| list.items)
        .map_err(|source| DiscoveryError::api("list", "kube-apiserver Pods", source))
}
