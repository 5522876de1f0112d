//! Every write the reconcile makes to the DRMySQL itself and to its Pods'
//! role labels, with optimistic concurrency.
//!
//! The controller reconciles from a cache, which can lag behind its own last
//! write. A status computed from a stale copy must not overwrite a newer one:
//! above all, it must not forget a failover in progress or move
//! `currentPrimary` back. So every status write carries the resourceVersion
//! it was computed from, the API server answers 409 when that is no longer
//! current, and the reconcile starts over from fresh state
//! ([`super::Error::Stale`]) instead of guessing.

use drmysql_api::drmysql::DRMySQL;
use drmysql_api::names;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::Error;

/// Writes a DRMySQL's status, each write conditional on the previous one.
pub struct StatusWriter {
    api: Api<DRMySQL>,
    name: String,
    resource_version: Option<String>,
}

impl StatusWriter {
    /// A writer for `drmysql`, as the reconcile read it.
    pub fn new(client: &kube::Client, drmysql: &DRMySQL) -> Self {
        Self {
            api: Api::namespaced(client.clone(), &drmysql.namespace().unwrap_or_default()),
            name: drmysql.name_any(),
            resource_version: drmysql.resource_version(),
        }
    }

    /// Merges `status` (a JSON object of status fields; `null` removes one)
    /// into the status.
    pub async fn merge(&mut self, status: Value) -> Result<(), Error> {
        let patch = json!({
            "metadata": {"resourceVersion": self.resource_version},
            "status": status,
        });
        let written = self
            .api
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(stale_or("write status"))?;
        self.resource_version = written.resource_version();
        Ok(())
    }

    /// Server-side applies the whole computed status.
    pub async fn apply(&mut self, status: &drmysql_api::drmysql::DRMySQLStatus) -> Result<(), Error> {
        let patch = json!({
            "apiVersion": DRMySQL::api_version(&()),
            "kind": DRMySQL::kind(&()),
            "metadata": {"resourceVersion": self.resource_version},
            "status": status,
        });
        let written = self
            .api
            .patch_status(
                &self.name,
                &PatchParams::apply(names::FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map_err(stale_or("write status"))?;
        self.resource_version = written.resource_version();
        Ok(())
    }

    /// Removes the request annotations in `keys` (a request answered).
    pub async fn remove_annotations(&mut self, keys: &[&str]) -> Result<(), Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let removed: serde_json::Map<String, Value> =
            keys.iter().map(|key| ((*key).to_owned(), Value::Null)).collect();
        let patch = json!({
            "metadata": {"resourceVersion": self.resource_version, "annotations": removed},
        });
        let written = self
            .api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(stale_or("remove a request annotation"))?;
        self.resource_version = written.resource_version();
        Ok(())
    }
}

/// Sets the role label of the Pod `pod`; a missing Pod is left alone (the
/// apply stage creates it with the right label).
pub async fn label_pod(client: &kube::Client, namespace: &str, pod: &str, role: &str) -> Result<(), Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let patch = json!({"metadata": {"labels": {names::LABEL_ROLE: role}}});
    match pods
        .patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(response)) if response.code == 404 => Ok(()),
        Err(error) => Err(Error::kube("label Pod")(error)),
    }
}

fn stale_or(operation: &'static str) -> impl FnOnce(kube::Error) -> Error {
    move |error| match &error {
        kube::Error::Api(response) if response.code == 409 => Error::Stale,
        _ => Error::kube(operation)(error),
    }
}
