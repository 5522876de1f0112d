//! The reconcile of one DRMySQL, as Stackable's pipeline:
//! `dereference → validate → build → apply → observe → update_status`.
//!
//! Only dereference, apply, observe and the status write touch the outside
//! world; validate, build, wiring's plan and the status computation are pure
//! and unit-tested. A DRMySQL with a problem the CRD could not reject (a
//! missing Secret, node or toleration) gets the Ready condition and an Event
//! naming it, and nothing that runs is touched.

pub mod apply;
pub mod dereference;
pub mod observe;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use drmysql_api::drmysql::{DRMySQL, DRMySQLStatus};
use drmysql_api::names;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};

use crate::build::{BuildContext, build};
use crate::failover;
use crate::metrics::{ControllerMetrics, ErrorLabels};
use crate::status::{EventSpec, Observation, compute, transitions};
use crate::validate::validate;

/// Why a reconcile failed; the controller retries with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed.
    #[error("{operation}: {source}")]
    Kube {
        /// What was being done.
        operation: &'static str,
        /// The client's error (boxed: it is large).
        #[source]
        source: Box<kube::Error>,
    },
    /// The finalizer helper failed.
    #[error("finalizer: {0}")]
    // Boxed: the finalizer error wraps this type.
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// The operating system's random source failed.
    #[error("cannot generate a secret: {0}")]
    Random(String),
    /// An object could not be serialized.
    #[error("cannot serialize an object: {0}")]
    Serialize(String),
}

impl Error {
    pub(crate) fn kube(operation: &'static str) -> impl FnOnce(kube::Error) -> Self {
        move |source| Self::Kube {
            operation,
            source: Box::new(source),
        }
    }

    /// A short category for the failure metric.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Kube { operation, .. } => operation,
            Self::Finalizer(_) => "finalizer",
            Self::Random(_) => "random",
            Self::Serialize(_) => "serialize",
        }
    }
}

/// The controller's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerConfig {
    /// Image of the sidecar in every instance Pod.
    pub sidecar_image: String,
    /// Bounds of the observe stage.
    pub observe: observe::ObserveConfig,
    /// Requeue of a healthy, settled DRMySQL.
    pub resync: Duration,
    /// How many DRMySQLs are reconciled at once (at least 1). Every reconcile
    /// in flight holds its fetched and built objects and an API connection,
    /// so this bounds the controller's memory whatever the number of
    /// DRMySQLs; the others wait their turn.
    pub concurrency: u16,
}

/// What every reconcile shares.
pub struct Context {
    /// The API client.
    pub client: kube::Client,
    /// Publishes Events.
    pub recorder: Recorder,
    /// Settings.
    pub config: ControllerConfig,
    /// Metrics.
    pub metrics: Arc<ControllerMetrics>,
}

/// Reconciles one DRMySQL.
#[tracing::instrument(skip_all, fields(namespace = drmysql.namespace().unwrap_or_default(), name = drmysql.name_any()))]
pub async fn reconcile(drmysql: Arc<DRMySQL>, context: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    context.metrics.reconciles.inc();
    let namespace = drmysql.namespace().unwrap_or_default();
    let api: Api<DRMySQL> = Api::namespaced(context.client.clone(), &namespace);
    let result = finalizer(&api, names::DRMYSQL_FINALIZER, drmysql, |event| async {
        match event {
            Finalizer::Apply(drmysql) => apply_drmysql(&drmysql, &context).await,
            Finalizer::Cleanup(drmysql) => cleanup(&drmysql, &context),
        }
    })
    .await
    .map_err(|error| Error::Finalizer(Box::new(error)));
    context.metrics.duration.observe(started.elapsed().as_secs_f64());
    result
}

/// Logs a failed reconcile, counts it, and retries in 15 seconds.
pub fn error_policy(_drmysql: Arc<DRMySQL>, error: &Error, context: Arc<Context>) -> Action {
    tracing::warn!(%error, "reconcile failed");
    context
        .metrics
        .failures
        .get_or_create(&ErrorLabels {
            error: error.category().to_owned(),
        })
        .inc();
    Action::requeue(Duration::from_secs(15))
}

fn cleanup(drmysql: &DRMySQL, context: &Context) -> Result<Action, Error> {
    // Owned objects (and PVCs when deleteOnDelete) go with the DRMySQL through
    // the garbage collector; kept PVCs stay. What remains is the metrics.
    context.metrics.forget(
        &drmysql.namespace().unwrap_or_default(),
        &drmysql.name_any(),
        &drmysql.status.clone().unwrap_or_default(),
    );
    Ok(Action::await_change())
}

async fn apply_drmysql(drmysql: &DRMySQL, context: &Context) -> Result<Action, Error> {
    let client = &context.client;
    let fetched = dereference::dereference(client, drmysql).await?;
    let problems = validate(drmysql, &fetched.dereferenced);
    if !problems.is_empty() {
        let observation = Observation {
            problems,
            ..Observation::default()
        };
        let status = compute(drmysql, &observation, Utc::now());
        let previous = drmysql.status.clone().unwrap_or_default();
        let ready_changed = previous
            .conditions
            .iter()
            .find(|c| c.type_ == names::condition::READY)
            .map(|c| &c.message)
            != status
                .conditions
                .iter()
                .find(|c| c.type_ == names::condition::READY)
                .map(|c| &c.message);
        if ready_changed {
            for problem in &observation.problems {
                publish(
                    context,
                    drmysql,
                    &EventSpec {
                        reason: problem.reason,
                        warning: true,
                        note: problem.message.clone(),
                    },
                )
                .await;
            }
        }
        write_status(client, drmysql, &status).await?;
        return Ok(Action::requeue(context.config.resync));
    }

    let mut applied = apply::Applied::default();
    let token = apply::ensure_secrets(client, drmysql, &fetched, &mut applied).await?;
    let build_context = BuildContext {
        sidecar_image: context.config.sidecar_image.clone(),
        current_primary: observe::current_primary(drmysql),
    };
    let desired = build(drmysql, &build_context);
    apply::apply(client, drmysql, &desired, &fetched, &mut applied).await?;
    if !applied.changed.is_empty() {
        tracing::info!(changed = ?applied.changed, "applied");
    }

    let credentials = fetched.dereferenced.credentials.clone().unwrap_or_default();
    let observed_at = Utc::now();
    let mut observed = observe::observe(
        drmysql,
        &fetched.pods,
        &credentials,
        &token,
        context.config.observe,
        observed_at,
    )
    .await;
    let previous = drmysql.status.clone().unwrap_or_default();
    let outcome = decide_failover(drmysql, &observed, &fetched, &previous, observed_at);
    observed.observation.failover = Some(outcome.clone());
    let status = compute(drmysql, &observed.observation, Utc::now());
    for event in transitions(&previous.conditions, &status.conditions) {
        publish(context, drmysql, &event).await;
    }
    let find = |conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]| {
        conditions
            .iter()
            .find(|c| c.type_ == names::condition::PRIMARY_AVAILABLE)
            .cloned()
    };
    if let Some(now_available) = find(&status.conditions) {
        for event in outcome.events(find(&previous.conditions).as_ref(), &now_available) {
            publish(context, drmysql, &event).await;
        }
    }
    if !matches!(outcome.decision, failover::Decision::NoAction { .. }) {
        tracing::debug!(
            decision = outcome.decision.kind(),
            reason = outcome.decision.reason(),
            "failover decision (reported, not executed)"
        );
    }
    context.metrics.record(
        &drmysql.namespace().unwrap_or_default(),
        &drmysql.name_any(),
        &status,
        drmysql.spec.lag.alert_threshold_seconds,
        observed.heartbeat_age,
    );
    context.metrics.record_failover(
        &drmysql.namespace().unwrap_or_default(),
        &drmysql.name_any(),
        outcome.decision.kind(),
        outcome.primary_failed(),
    );
    write_status(client, drmysql, &status).await?;
    let settling = !applied.changed.is_empty() || !observed.plan.actions.is_empty();
    // While the primary is suspected or failed, look again soon: the detection
    // window must be measured, and a recovery reported, without waiting for
    // the resync.
    let watching = outcome.needs_close_watch();
    Ok(Action::requeue(if settling || watching {
        Duration::from_secs(2)
    } else {
        context.config.resync
    }))
}

/// Runs the failover decision on what observe saw (report-only: its outcome
/// is published, never executed).
fn decide_failover(
    drmysql: &DRMySQL,
    observed: &observe::Observed,
    fetched: &dereference::Fetched,
    previous: &DRMySQLStatus,
    now: chrono::DateTime<Utc>,
) -> failover::report::Outcome {
    let spec = failover::DecisionSpec::from_drmysql(drmysql);
    let primary = observe::current_primary(drmysql);
    let remembered = failover::persist::from_status(previous.failover_memory.as_ref());
    let inputs = failover::view::Inputs {
        primary: &primary,
        instances: &observed.observation.instances,
        tunnel: &observed.observation.tunnel,
        heartbeat: failover::view::PrimaryHeartbeat {
            newest: observed.primary_heartbeat,
            age: observed.heartbeat_age,
        },
        pods: &fetched.pods,
        nodes: &fetched.dereferenced.nodes,
        previous,
        remembered_flavor: remembered.primary_gtids.as_ref().map(|gtids| gtids.flavor),
        now,
    };
    let observations = failover::view::observations(&inputs, &spec);
    let transitions = failover::Transitions::from_status(Some(previous));
    failover::report::run(
        previous.failover_memory.as_ref(),
        &observations,
        &spec,
        &transitions,
        now,
    )
}

async fn write_status(client: &kube::Client, drmysql: &DRMySQL, status: &DRMySQLStatus) -> Result<(), Error> {
    if drmysql.status.as_ref() == Some(status) {
        return Ok(());
    }
    let api: Api<DRMySQL> = Api::namespaced(client.clone(), &drmysql.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "apiVersion": DRMySQL::api_version(&()),
        "kind": DRMySQL::kind(&()),
        "status": status,
    });
    api.patch_status(
        &drmysql.name_any(),
        &PatchParams::apply(names::FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::kube("write status"))?;
    Ok(())
}

async fn publish(context: &Context, drmysql: &DRMySQL, event: &EventSpec) {
    let result = context
        .recorder
        .publish(
            &Event {
                type_: if event.warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: event.reason.to_owned(),
                note: Some(event.note.chars().take(1000).collect()),
                action: "Reconcile".to_owned(),
                secondary: None,
            },
            &drmysql.object_ref(&()),
        )
        .await;
    if let Err(error) = result {
        tracing::warn!(%error, reason = event.reason, "cannot publish an Event");
    }
}
