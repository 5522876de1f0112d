//! The **apply** stage: make the API server hold what build produced.
//!
//! ConfigMaps, PVCs and Services are server-side applied with the `drmysql`
//! field manager, but only when the live object does not already contain
//! everything desired, so a steady state writes nothing. Pods are created
//! when missing; on a live Pod only the role label is changed (Pod specs are
//! mostly immutable). Secrets are created once, with generated values, and
//! never overwritten.

use std::collections::BTreeMap;

use drmysql_api::drmysql::DRMySQL;
use drmysql_api::names::{self, credentials::SIDECAR_TOKEN};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Error;
use super::dereference::Fetched;
use crate::build::{DesiredObjects, credentials_secret, pod::sidecar_secret_name};
use crate::credentials::{generate_credentials, generate_secret};

/// What apply changed, for the reconcile's requeue decision and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Objects created or patched, as `Kind/name`.
    pub changed: Vec<String>,
}

/// Whether `live` already holds every field of `desired` (objects by key,
/// arrays element by element, scalars by value).
pub fn contains(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (_, Value::Null) => true,
        (Value::Object(live), Value::Object(desired)) => desired.iter().all(|(key, value)| {
            live.get(key)
                .is_some_and(|live_value| contains(live_value, value))
                || value.is_null()
        }),
        (Value::Array(live), Value::Array(desired)) => {
            live.len() == desired.len() && live.iter().zip(desired).all(|(l, d)| contains(l, d))
        }
        (live, desired) => live == desired,
    }
}

/// Creates the generated Secrets that do not exist yet, and returns the
/// sidecar token.
pub async fn ensure_secrets(
    client: &kube::Client,
    drmysql: &DRMySQL,
    fetched: &Fetched,
    applied: &mut Applied,
) -> Result<String, Error> {
    let namespace = drmysql.metadata.namespace.clone().unwrap_or_default();
    let name = drmysql.metadata.name.clone().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    if drmysql.spec.credentials_secret.is_none() && !fetched.credentials_exist {
        let values = generate_credentials().map_err(|error| Error::Random(error.to_string()))?;
        let secret = credentials_secret(drmysql, &drmysql.credentials_secret_name(), &values);
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .map_err(Error::kube("create credentials Secret"))?;
        applied
            .changed
            .push(format!("Secret/{}", drmysql.credentials_secret_name()));
    }
    if let Some(token) = &fetched.sidecar_token {
        return Ok(token.clone());
    }
    let token = generate_secret().map_err(|error| Error::Random(error.to_string()))?;
    let values = BTreeMap::from([(SIDECAR_TOKEN.to_owned(), token.clone())]);
    let secret = credentials_secret(drmysql, &sidecar_secret_name(&name), &values);
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .map_err(Error::kube("create sidecar Secret"))?;
    applied
        .changed
        .push(format!("Secret/{}", sidecar_secret_name(&name)));
    Ok(token)
}

/// Applies the desired ConfigMaps, PVCs, Services and Pods.
pub async fn apply(
    client: &kube::Client,
    drmysql: &DRMySQL,
    desired: &DesiredObjects,
    fetched: &Fetched,
    applied: &mut Applied,
) -> Result<(), Error> {
    let namespace = drmysql.metadata.namespace.clone().unwrap_or_default();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    for object in &desired.config_maps {
        apply_one(&config_maps, object, "ConfigMap", applied).await?;
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
    for object in &desired.persistent_volume_claims {
        apply_one(&claims, object, "PersistentVolumeClaim", applied).await?;
    }
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    for object in &desired.services {
        apply_one(&services, object, "Service", applied).await?;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    for pod in &desired.pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let role = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(names::LABEL_ROLE))
            .cloned();
        match fetched.pods.get(&name) {
            None => {
                pods.create(&PostParams::default(), pod)
                    .await
                    .map_err(Error::kube("create Pod"))?;
                applied.changed.push(format!("Pod/{name}"));
            }
            Some(live) => {
                let live_role = live
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|labels| labels.get(names::LABEL_ROLE))
                    .cloned();
                if live_role != role {
                    let patch = serde_json::json!({"metadata": {"labels": {names::LABEL_ROLE: role}}});
                    pods.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map_err(Error::kube("label Pod"))?;
                    applied.changed.push(format!("Pod/{name}"));
                }
            }
        }
    }
    Ok(())
}

async fn apply_one<K>(api: &Api<K>, object: &K, kind: &str, applied: &mut Applied) -> Result<(), Error>
where
    K: kube::Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let desired = serde_json::to_value(object).map_err(|error| Error::Serialize(error.to_string()))?;
    if let Some(live) = api.get_opt(&name).await.map_err(Error::kube("get object"))? {
        let live = serde_json::to_value(&live).map_err(|error| Error::Serialize(error.to_string()))?;
        if contains(&live, &desired) {
            return Ok(());
        }
    }
    api.patch(
        &name,
        &PatchParams::apply(names::FIELD_MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map_err(Error::kube("server-side apply"))?;
    applied.changed.push(format!("{kind}/{name}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containment_ignores_what_the_server_added() {
        let desired = json!({"spec": {"type": "ClusterIP", "ports": [{"port": 3306, "name": "mysql"}], "selector": {"a": "b"}}});
        let live = json!({"spec": {"type": "ClusterIP", "clusterIP": "10.96.0.7", "sessionAffinity": "None",
            "ports": [{"port": 3306, "name": "mysql", "protocol": "TCP", "targetPort": 3306}], "selector": {"a": "b"}},
            "metadata": {"resourceVersion": "42"}});
        assert!(contains(&live, &desired));
        let changed = json!({"spec": {"type": "LoadBalancer"}});
        assert!(!contains(&live, &changed));
        let more_ports = json!({"spec": {"ports": [{"port": 3306}, {"port": 9104}]}});
        assert!(!contains(&live, &more_ports));
        assert!(contains(&json!({"a": 1}), &json!({"b": null})));
    }
}
