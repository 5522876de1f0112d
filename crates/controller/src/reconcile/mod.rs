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
pub mod rebuild;
pub mod write;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use drmysql_api::drmysql::{
    DRMySQL, DRMySQLStatus, InstanceRole, RequestKind, RequestOutcome, RequestRecord, TransitionKind,
};
use drmysql_api::names;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};

use crate::build::{BuildContext, build};
use crate::failover;
use crate::metrics::{ControllerMetrics, ErrorLabels};
use crate::status::{EventSpec, Observation, compute, transitions};
use crate::validate::validate;
use crate::{requests, roles, transition};

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
    /// The DRMySQL changed since this reconcile read it (a 409 on a
    /// conditional write); the reconcile starts over from fresh state.
    #[error("the DRMySQL changed since it was read; reconciling again")]
    Stale,
    /// A failover or switchover step did not take effect; it is retried.
    #[error("transition step failed: {0}")]
    Step(String),
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
            Self::Stale => "stale",
            Self::Step(_) => "transition step",
        }
    }

    /// Whether the reconcile only lost a race with a newer write.
    pub fn is_stale(&self) -> bool {
        match self {
            Self::Stale => true,
            Self::Finalizer(error) => matches!(
                error.as_ref(),
                kube::runtime::finalizer::Error::ApplyFailed(Self::Stale)
            ),
            _ => false,
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
    if error.is_stale() {
        tracing::debug!("the DRMySQL changed while reconciling; again");
        return Action::requeue(Duration::from_millis(200));
    }
    let step_failed = matches!(error, Error::Finalizer(inner)
        if matches!(inner.as_ref(), kube::runtime::finalizer::Error::ApplyFailed(Error::Step(_))));
    tracing::warn!(%error, "reconcile failed");
    context
        .metrics
        .failures
        .get_or_create(&ErrorLabels {
            error: error.category().to_owned(),
        })
        .inc();
    // A failover step is retried soon: the DRMySQL may have no primary.
    Action::requeue(Duration::from_secs(if step_failed { 2 } else { 15 }))
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
        if drmysql.status.as_ref() != Some(&status) {
            write::StatusWriter::new(client, drmysql).apply(&status).await?;
        }
        return Ok(Action::requeue(context.config.resync));
    }

    let mut applied = apply::Applied::default();
    let token = apply::ensure_secrets(client, drmysql, &fetched, &mut applied).await?;
    let previous = drmysql.status.clone().unwrap_or_default();
    let primary = observe::current_primary(drmysql);
    let instance_names: Vec<String> = drmysql.instances().into_iter().map(|i| i.name).collect();
    let annotations = drmysql.annotations().clone();
    let rebuilt = rebuild::requested(drmysql, &annotations, &primary, &previous);
    let roles_now = roles::assign(&roles::RoleInputs {
        instances: &instance_names,
        current_primary: &primary,
        previous: &previous.instances,
        in_progress: previous.failover.as_ref(),
        replicating: &[],
        quarantine: None,
        rebuilt: rebuilt.as_ref().and_then(|rebuild| rebuild.accepted()),
    });
    let build_context = BuildContext {
        sidecar_image: context.config.sidecar_image.clone(),
        current_primary: primary.clone(),
        roles: roles_now.clone(),
    };
    let desired = build(drmysql, &build_context);
    apply::apply(client, drmysql, &desired, &fetched, &mut applied).await?;
    if !applied.changed.is_empty() {
        tracing::info!(changed = ?applied.changed, "applied");
    }
    let mut writer = write::StatusWriter::new(client, drmysql);
    if let Some(rebuild) = &rebuilt {
        return rebuild::carry_out(context, drmysql, &mut writer, rebuild, &roles_now).await;
    }

    let credentials = fetched.dereferenced.credentials.clone().unwrap_or_default();
    let quarantined: Vec<String> = roles_now
        .iter()
        .filter(|(_, role)| **role == InstanceRole::Quarantined)
        .map(|(name, _)| name.clone())
        .collect();
    let scope = if previous.failover.is_some() {
        observe::WiringScope::Off
    } else {
        observe::WiringScope::On {
            quarantined: &quarantined,
        }
    };
    let observed_at = Utc::now();
    let mut observed = observe::observe(
        drmysql,
        &fetched.pods,
        &credentials,
        &token,
        context.config.observe,
        scope,
        observed_at,
    )
    .await;
    let request = requests::transition_request(&annotations);
    let outcome = decide_failover(
        drmysql,
        &observed,
        &fetched,
        &previous,
        &roles_now,
        request.clone(),
        observed_at,
    );
    context.metrics.record_failover(
        &drmysql.namespace().unwrap_or_default(),
        &drmysql.name_any(),
        outcome.decision.kind(),
        outcome.primary_failed(),
    );
    let answer = request
        .as_ref()
        .and_then(|request| requests::answer(request, &outcome.decision, Utc::now()));
    let answered: &[&str] = match (&request, &answer) {
        (Some(request), Some(_)) => requests::annotations_of(request),
        _ => &[],
    };

    // A failover or switchover to carry out, or one to abandon.
    let transition = || transition::Transition {
        context,
        drmysql,
        servers: transition::steps::Servers {
            endpoints: &observed.endpoints,
            root_password: &observed.root_password,
            replication: &observed.replication,
            timeout: context.config.observe.mysql_timeout,
        },
        mode: drmysql.spec.replication.mode,
        flavor: outcome.flavor,
        instances: instance_names.clone(),
        crash: None,
    };
    let carried_out = match &outcome.decision {
        failover::Decision::FailOver {
            to, forced, resume, ..
        } => Some((TransitionKind::Failover, to, *forced, resume)),
        failover::Decision::SwitchOver { to, resume, .. } => {
            Some((TransitionKind::Switchover, to, false, resume))
        }
        _ => None,
    };
    if let Some((kind, to, forced, resume)) = carried_out {
        let start = resume
            .is_none()
            .then(|| transition_start(kind, &primary, to, forced, &outcome, &previous));
        let first = first_write(&outcome, answer.as_ref());
        let result = transition()
            .run(&mut writer, &outcome.decision, start, first)
            .await;
        writer.remove_annotations(answered).await?;
        result?;
        return Ok(Action::requeue(Duration::from_millis(100)));
    }
    if let (failover::Decision::Refuse { reason }, Some(progress)) = (&outcome.decision, &previous.failover) {
        transition().abort(&mut writer, progress, reason.clone()).await?;
        return Ok(Action::requeue(Duration::from_millis(100)));
    }

    let replicating: Vec<String> = observed
        .observation
        .instances
        .iter()
        .filter(|instance| {
            instance
                .server
                .as_ref()
                .is_ok_and(|server| server.replica.as_ref().is_some_and(|r| r.replicating()))
        })
        .map(|instance| instance.name.clone())
        .collect();
    let quarantine = match &outcome.decision {
        failover::Decision::Quarantine { instance, .. } => Some(instance.as_str()),
        _ => None,
    };
    observed.observation.roles = roles::assign(&roles::RoleInputs {
        instances: &instance_names,
        current_primary: &primary,
        previous: &previous.instances,
        in_progress: None,
        replicating: &replicating,
        quarantine,
        rebuilt: None,
    });
    let roles_changed = observed.observation.roles != roles_now;
    observed.observation.failover = Some(outcome.clone());
    let mut status = compute(drmysql, &observed.observation, Utc::now());
    let tunnel_checked = requests::tunnel_check_requested(&annotations);
    if let Some(answer) = answer
        .clone()
        .or_else(|| tunnel_checked.then(|| tunnel_answer(&status)))
    {
        status.last_request = Some(answer);
    }
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
            publish_as(context, drmysql, &event, outcome.decision.kind()).await;
        }
    }
    if let Some(answer) = &answer
        && answer.outcome == RequestOutcome::Refused
    {
        let event = EventSpec {
            reason: "RequestRefused",
            warning: true,
            note: answer.message.clone(),
        };
        publish(context, drmysql, &event).await;
    }
    context.metrics.record(
        &drmysql.namespace().unwrap_or_default(),
        &drmysql.name_any(),
        &status,
        drmysql.spec.lag.alert_threshold_seconds,
        observed.heartbeat_age,
    );
    if drmysql.status.as_ref() != Some(&status) {
        writer.apply(&status).await?;
    }
    let mut consumed: Vec<&str> = answered.to_vec();
    if tunnel_checked {
        consumed.push(names::request::CHECK_TUNNEL);
    }
    writer.remove_annotations(&consumed).await?;
    let settling = !applied.changed.is_empty() || !observed.plan.actions.is_empty() || roles_changed;
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

/// The record of a transition starting now from `primary` to `to`.
fn transition_start(
    kind: TransitionKind,
    primary: &str,
    to: &str,
    forced: bool,
    outcome: &failover::report::Outcome,
    previous: &DRMySQLStatus,
) -> transition::record::Start {
    transition::record::Start {
        kind,
        from: primary.to_owned(),
        target: to.to_owned(),
        reason: outcome.decision.reason().to_owned(),
        forced,
        old_primary_gtids: outcome.memory.primary_gtids.as_ref().map(|g| g.gtids.clone()),
        target_lag_seconds: previous
            .instances
            .iter()
            .find(|instance| instance.name == to)
            .and_then(|instance| instance.lag_seconds),
    }
}

/// The status fields written with a transition's first record: the
/// decision's memory, and the answer to the request that started it.
fn first_write(
    outcome: &failover::report::Outcome,
    answer: Option<&RequestRecord>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    fields.insert(
        "failoverMemory".to_owned(),
        serde_json::json!(failover::persist::to_status(&outcome.memory)),
    );
    if let Some(answer) = answer {
        fields.insert("lastRequest".to_owned(), serde_json::json!(answer));
    }
    fields
}

/// The answer to a tunnel check request: the checks this reconcile ran.
fn tunnel_answer(status: &DRMySQLStatus) -> RequestRecord {
    let failing = status.tunnel.iter().filter(|check| !check.reachable).count();
    RequestRecord {
        kind: RequestKind::CheckTunnel,
        target: None,
        forced: false,
        outcome: RequestOutcome::Done,
        message: format!(
            "{} of {} directed checks reached their peer",
            status.tunnel.len() - failing,
            status.tunnel.len()
        ),
        answered_at: Utc::now(),
    }
}

/// Runs the failover decision on what observe saw.
fn decide_failover(
    drmysql: &DRMySQL,
    observed: &observe::Observed,
    fetched: &dereference::Fetched,
    previous: &DRMySQLStatus,
    roles: &BTreeMap<String, InstanceRole>,
    request: Option<failover::Request>,
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
        roles,
        remembered_flavor: remembered.primary_gtids.as_ref().map(|gtids| gtids.flavor),
        now,
    };
    let mut observations = failover::view::observations(&inputs, &spec);
    observations.request = request;
    let transitions = failover::Transitions::from_status(Some(previous));
    failover::report::run(
        previous.failover_memory.as_ref(),
        &observations,
        &spec,
        &transitions,
        now,
    )
}

pub(crate) async fn publish(context: &Context, drmysql: &DRMySQL, event: &EventSpec) {
    publish_as(context, drmysql, event, "Reconcile").await;
}

/// Publishes `event` with `action`. The Event recorder folds a repeat of the
/// same reason and action within minutes into a count on the first Event,
/// keeping its note; the failover decision's Events therefore carry the
/// decision's kind as their action, so that a later `PrimaryFailed` that
/// awaits approval is not hidden behind an earlier one that was refused.
pub(crate) async fn publish_as(context: &Context, drmysql: &DRMySQL, event: &EventSpec, action: &str) {
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
                action: action.to_owned(),
                secondary: None,
            },
            &drmysql.object_ref(&()),
        )
        .await;
    if let Err(error) = result {
        tracing::warn!(%error, reason = event.reason, "cannot publish an Event");
    }
}
