//! The **dereference** stage: fetch what a DRMySQL refers to and what already
//! exists for it: its Secrets, the nodes its instances are pinned to, and its
//! Pods (narrowed by label, so nothing else is read).

use std::collections::BTreeMap;

use drmysql_api::drmysql::DRMySQL;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kube::api::{Api, ListParams};

use super::Error;
use crate::build::pod::sidecar_secret_name;
use crate::labels::cluster_selector_text;
use crate::validate::Dereferenced;

/// Everything the later stages read from the API server.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    /// What validate checks.
    pub dereferenced: Dereferenced,
    /// Whether the credentials Secret exists.
    pub credentials_exist: bool,
    /// The sidecar token, when its Secret exists.
    pub sidecar_token: Option<String>,
    /// The DRMySQL's Pods, by name.
    pub pods: BTreeMap<String, Pod>,
}

/// Fetches everything `drmysql` refers to.
pub async fn dereference(client: &kube::Client, drmysql: &DRMySQL) -> Result<Fetched, Error> {
    let namespace = drmysql.metadata.namespace.clone().unwrap_or_default();
    let name = drmysql.metadata.name.clone().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let credentials = secrets
        .get_opt(&drmysql.credentials_secret_name())
        .await
        .map_err(Error::kube("get credentials Secret"))?;
    let sidecar = secrets
        .get_opt(&sidecar_secret_name(&name))
        .await
        .map_err(Error::kube("get sidecar Secret"))?;
    let nodes_api: Api<Node> = Api::all(client.clone());
    let mut nodes = BTreeMap::new();
    for node in drmysql
        .instances()
        .iter()
        .filter_map(|instance| instance.spec.node.clone())
    {
        if let Some(found) = nodes_api.get_opt(&node).await.map_err(Error::kube("get Node"))? {
            nodes.insert(node, found);
        }
    }
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let pods = pods_api
        .list(&ListParams::default().labels(&cluster_selector_text(&name)))
        .await
        .map_err(Error::kube("list Pods"))?
        .items
        .into_iter()
        .filter_map(|pod| Some((pod.metadata.name.clone()?, pod)))
        .collect();
    let credentials_data = credentials.as_ref().map(secret_data);
    Ok(Fetched {
        credentials_exist: credentials.is_some(),
        dereferenced: Dereferenced {
            credentials: credentials_data,
            nodes,
        },
        sidecar_token: sidecar
            .as_ref()
            .map(secret_data)
            .and_then(|data| data.get(drmysql_api::names::credentials::SIDECAR_TOKEN).cloned())
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        pods,
    })
}

/// A Secret's data, decoded.
pub fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(key, value)| (key.clone(), value.0.clone()))
        .collect();
    for (key, value) in secret.string_data.iter().flatten() {
        data.insert(key.clone(), value.clone().into_bytes());
    }
    data
}
