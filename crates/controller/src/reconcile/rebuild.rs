//! `drmysql.io/rebuild: INSTANCE` (`kubectl drmysql rebuild NAME INSTANCE`):
//! re-initialise a replica from the primary, the way out of quarantine.
//!
//! The method is re-provisioning: the instance's Pod and its
//! PersistentVolumeClaim are deleted, the apply stage re-creates both, the
//! new server starts empty, and wiring points it at the primary, from whose
//! binary log it replicates the whole history. The rebuilt server gets a new
//! `server_id` (`status.rebuilds` counts the rebuilds), written before
//! anything is deleted: a server skips replicated transactions carrying its
//! own `server_id`, so with the old one it would skip everything its earlier
//! self wrote as the primary. It needs the primary's binary
//! logs to reach back to its first transaction; when they were purged,
//! replication stops with error 1236 and the Replicating condition says so.
//! It never touches the primary, and is refused while a failover or
//! switchover runs.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use drmysql_api::drmysql::{
    DRMySQL, DRMySQLStatus, InstanceRole, RequestKind, RequestOutcome, RequestRecord,
};
use drmysql_api::names;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use kube::runtime::controller::Action;
use serde_json::json;

use super::write::StatusWriter;
use super::{Context, Error, publish};
use crate::build::pod::pvc_name;
use crate::requests;
use crate::status::EventSpec;

/// A rebuild request, judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rebuild {
    /// Carry it out on this instance.
    Accepted(String),
    /// Refused, with why.
    Refused {
        /// The instance named.
        instance: String,
        /// Why, naming what to fix.
        reason: String,
    },
}

impl Rebuild {
    /// The instance to rebuild, when accepted.
    pub fn accepted(&self) -> Option<&str> {
        match self {
            Self::Accepted(instance) => Some(instance),
            Self::Refused { .. } => None,
        }
    }
}

/// The rebuild request on `drmysql`, judged; `None` when there is none.
pub fn requested(
    drmysql: &DRMySQL,
    annotations: &BTreeMap<String, String>,
    primary: &str,
    previous: &DRMySQLStatus,
) -> Option<Rebuild> {
    let instance = requests::rebuild_request(annotations)?;
    let names: Vec<String> = drmysql.instances().into_iter().map(|i| i.name).collect();
    let refuse = |reason: String| {
        Some(Rebuild::Refused {
            instance: instance.clone(),
            reason,
        })
    };
    if !names.contains(&instance) {
        return refuse(format!(
            "{instance} is not an instance of {}; the instances are {}",
            drmysql.name_any(),
            names.join(", ")
        ));
    }
    if instance == primary {
        return refuse(format!(
            "{instance} is the primary and cannot be rebuilt from itself; switch over first with \
             `kubectl drmysql switchover {}`",
            drmysql.name_any()
        ));
    }
    if let Some(progress) = &previous.failover {
        return refuse(format!(
            "a {:?} from {} to {} is in progress; rebuild once it has finished",
            progress.kind, progress.from, progress.target
        ));
    }
    Some(Rebuild::Accepted(instance))
}

/// Carries out (or refuses) the rebuild, answers it in `status.lastRequest`
/// and removes the annotation.
pub async fn carry_out(
    context: &Context,
    drmysql: &DRMySQL,
    writer: &mut StatusWriter,
    rebuild: &Rebuild,
    roles: &BTreeMap<String, InstanceRole>,
) -> Result<Action, Error> {
    let namespace = drmysql.namespace().unwrap_or_default();
    let (instance, outcome, message) = match rebuild {
        Rebuild::Refused { instance, reason } => (instance, RequestOutcome::Refused, reason.clone()),
        Rebuild::Accepted(instance) => {
            // The new server_id is recorded before anything is deleted, so the
            // re-created Pod boots with it (see `status.rebuilds`).
            let rebuilds = drmysql
                .status
                .as_ref()
                .and_then(|status| status.rebuilds.get(instance))
                .copied()
                .unwrap_or(0);
            writer
                .merge(json!({"rebuilds": {instance.as_str(): rebuilds.saturating_add(1)}}))
                .await?;
            let pods: Api<Pod> = Api::namespaced(context.client.clone(), &namespace);
            let claims: Api<PersistentVolumeClaim> = Api::namespaced(context.client.clone(), &namespace);
            ignore_missing(pods.delete(instance, &DeleteParams::default()).await)
                .map_err(Error::kube("delete Pod for rebuild"))?;
            ignore_missing(claims.delete(&pvc_name(instance), &DeleteParams::default()).await)
                .map_err(Error::kube("delete PersistentVolumeClaim for rebuild"))?;
            (
                instance,
                RequestOutcome::Done,
                format!(
                    "{instance}'s Pod and volume are deleted; they are re-created empty, with a new \
                     server_id, and {instance} replicates the primary's whole history"
                ),
            )
        }
    };
    let record = RequestRecord {
        kind: RequestKind::Rebuild,
        target: Some(instance.clone()),
        forced: false,
        outcome,
        message: message.clone(),
        answered_at: Utc::now(),
    };
    let mut instances = drmysql
        .status
        .as_ref()
        .map(|status| status.instances.clone())
        .unwrap_or_default();
    for report in &mut instances {
        if let Some(role) = roles.get(&report.name) {
            report.role = Some(*role);
        }
    }
    writer
        .merge(json!({"lastRequest": record, "instances": instances}))
        .await?;
    writer.remove_annotations(&[names::request::REBUILD]).await?;
    let event = EventSpec {
        reason: if outcome == RequestOutcome::Refused {
            "RequestRefused"
        } else {
            "RebuildStarted"
        },
        warning: outcome == RequestOutcome::Refused,
        note: message,
    };
    publish(context, drmysql, &event).await;
    Ok(Action::requeue(Duration::from_secs(2)))
}

fn ignore_missing<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(response)) if response.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> DRMySQL {
        serde_json::from_value(json!({
            "apiVersion": "drmysql.io/v1alpha1",
            "kind": "DRMySQL",
            "metadata": {"name": "orders", "namespace": "shop"},
            "spec": {
                "engine": {"image": "mariadb:11.4"},
                "primary": {"node": "n0"},
                "replicas": [{"node": "n1"}]
            }
        }))
        .expect("a DRMySQL")
    }

    fn asking(instance: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(names::request::REBUILD.to_owned(), instance.to_owned())])
    }

    #[test]
    fn a_replica_may_be_rebuilt_but_not_the_primary_or_a_stranger() {
        let drmysql = orders();
        let status = DRMySQLStatus::default();
        assert_eq!(
            requested(&drmysql, &asking("orders-1"), "orders-0", &status),
            Some(Rebuild::Accepted("orders-1".into()))
        );
        let Some(Rebuild::Refused { reason, .. }) =
            requested(&drmysql, &asking("orders-0"), "orders-0", &status)
        else {
            panic!("the primary is refused");
        };
        assert!(reason.contains("switch over first"), "{reason}");
        let Some(Rebuild::Refused { reason, .. }) =
            requested(&drmysql, &asking("orders-9"), "orders-0", &status)
        else {
            panic!("an unknown instance is refused");
        };
        assert!(reason.contains("orders-0, orders-1"), "{reason}");
        assert_eq!(requested(&drmysql, &BTreeMap::new(), "orders-0", &status), None);
    }
}
