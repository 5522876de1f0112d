//! The failover and switchover executor: carries out the decision's
//! [`Decision::FailOver`] and [`Decision::SwitchOver`] step by step.
//!
//! Crash safety comes from the record: each step is written to
//! `status.failover` before it is carried out, every step is idempotent, and
//! the decision resumes a recorded transition with its recorded target. So a
//! controller killed at any point repeats the step it was in and completes.
//! Every status write is conditional on the previous one (see
//! [`crate::reconcile::write`]), so a reconcile working from a stale cache
//! cannot start a second transition or undo this one.
//!
//! The steps ([`record::ORDER`]):
//! 1. **FenceOldPrimary**: the old primary's Pod is labelled `fenced`, which
//!    takes it out of the writer Service, then it is made read-only and its
//!    client connections are ended, read back. A lost primary cannot be
//!    reached; the label covers it and wiring fences it if it returns. A
//!    switchover aborts if the old primary is not read back as read-only.
//! 2. **CatchUp**: Lossless failover stops every replica's IO thread (no
//!    acknowledgement reaches the old primary any more, and the choice cannot
//!    go stale) and waits, bounded, for the target's relay log to be applied.
//!    A switchover waits, bounded, until the target executed every GTID of
//!    the read-only old primary, and aborts (the old primary made writable
//!    again) when it does not.
//! 3. **VerifyCandidate**: promotion waits for the decision's gate to be seen
//!    open in an observation: the reconcile returns and the next one
//!    observes again, re-checking errant transactions and the guards.
//! 4. **Promote**: the target's semi-sync source side set for the mode first
//!    (in Lossless mode no write is acknowledged before a replica holds it,
//!    and the replicas re-pointed next attach as semi-sync replicas), then
//!    replication stopped after the relay log is applied, the source
//!    forgotten, `read_only` off, each read back. A promotion that did not
//!    take effect is a failed step, reported and retried.
//! 5. **MoveWriterEndpoint**: `status.currentPrimary` and the `role=primary`
//!    label move to the target; the writer Service follows the label.
//! 6. **RepointReplicas**: the other reachable replicas (and, after a
//!    switchover, the old primary) replicate from the new primary. Then the
//!    history record is appended and `status.failover` cleared. A lost old
//!    primary rejoins later through wiring, after its errant check.
//!
//! Events: `FailoverStarted`/`SwitchoverStarted`, `PrimaryFenced`,
//! `ReplicaPromoted`, `FailoverCompleted`/`SwitchoverCompleted`,
//! `FailoverAborted`/`SwitchoverAborted`, and `TransitionStepFailed` for a
//! step that will be retried.

pub mod record;
pub mod steps;

use std::time::Duration;

use chrono::Utc;
use drmysql_api::drmysql::{
    DRMySQL, FailoverProgress, InstanceRole, ReplicationMode, TransitionKind, TransitionOutcome,
    TransitionStep,
};
use kube::ResourceExt;
use serde_json::{Value, json};

use crate::failover::{Decision, GtidFlavor};
use crate::metrics::{ControllerMetrics, KindLabels, TransitionLabels};
use crate::reconcile::write::{StatusWriter, label_pod};
use crate::reconcile::{Context, Error, publish};
use crate::roles;
use crate::status::EventSpec;
use crate::wiring::plan::durability;
use record::Start;
use steps::Servers;

/// Bound on each wait for a replica to apply its relay log or catch up.
pub const CATCH_UP_WAIT: Duration = Duration::from_secs(30);

/// Everything a transition step needs.
pub struct Transition<'a> {
    /// The reconcile's shared context.
    pub context: &'a Context,
    /// The DRMySQL as the reconcile read it.
    pub drmysql: &'a DRMySQL,
    /// The instances' servers.
    pub servers: Servers<'a>,
    /// `spec.replication.mode`.
    pub mode: ReplicationMode,
    /// GTID notation, for the lost-transaction estimate.
    pub flavor: GtidFlavor,
    /// Every instance name.
    pub instances: Vec<String>,
    /// Fault injection: stop where a killed controller would. `None` in the
    /// controller; the crash-safety tests set it to prove that every step
    /// resumes, whether it was recorded and not done, or done and the next
    /// one not recorded.
    pub crash: Option<Crash>,
}

/// Where [`Transition::crash`] stops the executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    /// Right after recording the step, before carrying it out: `run` returns
    /// `Ok`.
    BeforeDoing(TransitionStep),
    /// After carrying the step out, before recording the next one: `run`
    /// returns an error, and the status still shows this step.
    AfterDoing(TransitionStep),
}

impl Transition<'_> {
    /// Carries out `decision` (a failover or switchover) as far as it can go in
    /// this reconcile; the reconcile then observes again at once. `start` describes a new transition (`resume: None`);
    /// `first_write` holds the status fields to write with its record (the
    /// decision's memory, the answer to a request).
    pub async fn run(
        &self,
        writer: &mut StatusWriter,
        decision: &Decision,
        start: Option<Start>,
        first_write: serde_json::Map<String, Value>,
    ) -> Result<(), Error> {
        let may_promote = decision.may_promote().is_some();
        let mut progress = match (start, self.recorded()) {
            (Some(start), _) => {
                let progress = record::start(start, Utc::now());
                let mut fields = first_write;
                fields.insert("failover".to_owned(), json!(progress));
                writer.merge(Value::Object(fields)).await?;
                let started = match progress.kind {
                    TransitionKind::Failover => "FailoverStarted",
                    TransitionKind::Switchover => "SwitchoverStarted",
                };
                self.event(started, false, decision.reason().to_owned()).await;
                progress
            }
            (None, Some(progress)) => {
                if !first_write.is_empty() {
                    writer.merge(Value::Object(first_write)).await?;
                }
                progress
            }
            (None, None) => return Ok(()),
        };
        loop {
            if self.crash == Some(Crash::BeforeDoing(progress.step)) {
                return Ok(());
            }
            match progress.step {
                TransitionStep::FenceOldPrimary => {
                    if let Err(why) = self.fence(&mut progress).await {
                        return self.abort(writer, &progress, why).await;
                    }
                    self.advance(writer, &mut progress, TransitionStep::CatchUp, None)
                        .await?;
                }
                TransitionStep::CatchUp => {
                    match self.catch_up(&progress).await {
                        Ok(()) => {}
                        Err(why) if progress.kind == TransitionKind::Switchover => {
                            return self.abort(writer, &progress, why).await;
                        }
                        Err(why) => return self.step_failed(&progress, why).await,
                    }
                    self.advance(writer, &mut progress, TransitionStep::VerifyCandidate, None)
                        .await?;
                }
                TransitionStep::VerifyCandidate => {
                    if !may_promote {
                        // The next reconcile observes again and judges the gate.
                        return Ok(());
                    }
                    self.advance(writer, &mut progress, TransitionStep::Promote, None)
                        .await?;
                }
                TransitionStep::Promote => {
                    match self
                        .servers
                        .promote(&progress.target, CATCH_UP_WAIT, durability(self.mode))
                        .await
                    {
                        Ok(promotion) => {
                            let now = Utc::now();
                            progress.promoted_at = Some(now);
                            progress.promoted_gtids = Some(promotion.gtid_executed.clone());
                            self.event(
                                "ReplicaPromoted",
                                false,
                                format!(
                                    "{} is writable (read back) at GTID position {} after {:.3}s applying its relay log",
                                    progress.target,
                                    promotion.gtid_executed,
                                    promotion.apply_wait.as_secs_f64()
                                ),
                            )
                            .await;
                        }
                        Err(why) => return self.step_failed(&progress, why).await,
                    }
                    self.advance(writer, &mut progress, TransitionStep::MoveWriterEndpoint, None)
                        .await?;
                }
                TransitionStep::MoveWriterEndpoint => {
                    let target = progress.target.clone();
                    self.advance(
                        writer,
                        &mut progress,
                        TransitionStep::RepointReplicas,
                        Some(&target),
                    )
                    .await?;
                    let namespace = self.drmysql.namespace().unwrap_or_default();
                    label_pod(
                        &self.context.client,
                        &namespace,
                        &target,
                        roles::label(InstanceRole::Primary),
                    )
                    .await?;
                }
                TransitionStep::RepointReplicas | TransitionStep::RejoinOldPrimary => {
                    self.repoint(&progress).await;
                    self.crash_after(progress.step)?;
                    return self.finish(writer, &progress).await;
                }
            }
        }
    }

    /// Abandons the transition in progress: `reason` names the check that
    /// refused. A switchover gives the old primary its writes back.
    pub async fn abort(
        &self,
        writer: &mut StatusWriter,
        progress: &FailoverProgress,
        reason: String,
    ) -> Result<(), Error> {
        let mut message = reason;
        if progress.kind == TransitionKind::Switchover
            && !record::reached(progress.step, TransitionStep::Promote)
        {
            match self.servers.make_writable(&progress.from).await {
                Ok(()) => message.push_str(&format!("; {} is writable again", progress.from)),
                Err(error) => message.push_str(&format!(
                    "; {} could not be made writable again ({error}); wiring retries",
                    progress.from
                )),
            }
            let namespace = self.drmysql.namespace().unwrap_or_default();
            label_pod(
                &self.context.client,
                &namespace,
                &progress.from,
                roles::label(InstanceRole::Primary),
            )
            .await?;
        }
        self.close(writer, progress, TransitionOutcome::Aborted, Some(message))
            .await
    }

    async fn fence(&self, progress: &mut FailoverProgress) -> Result<(), String> {
        let namespace = self.drmysql.namespace().unwrap_or_default();
        let from = progress.from.clone();
        if let Err(error) = label_pod(
            &self.context.client,
            &namespace,
            &from,
            roles::label(InstanceRole::Fenced),
        )
        .await
        {
            tracing::warn!(%error, instance = %from, "cannot label the old primary fenced");
        }
        let switchover = progress.kind == TransitionKind::Switchover;
        match self.servers.fence(&from).await {
            Ok(report) if report.fenced() => {
                progress.fenced_at = Some(Utc::now());
                self.event(
                    "PrimaryFenced",
                    false,
                    format!(
                        "{from} is read-only (read back), {} client connections ended, and out of the writer Service",
                        report.killed_connections
                    ),
                )
                .await;
                Ok(())
            }
            Ok(report) if switchover => Err(format!(
                "{from} could not be made read-only: {}",
                report.errors.join("; ")
            )),
            Err(error) if switchover => Err(format!("{from} could not be fenced: {error}")),
            outcome => {
                let why = match outcome {
                    Ok(report) => format!("still writable: {}", report.errors.join("; ")),
                    Err(error) => error,
                };
                self.event(
                    "PrimaryFenced",
                    true,
                    format!(
                        "{from} could not be made read-only ({why}); it is out of the writer Service \
                         (role=fenced), and is fenced as soon as it is reachable again"
                    ),
                )
                .await;
                Ok(())
            }
        }
    }

    async fn catch_up(&self, progress: &FailoverProgress) -> Result<(), String> {
        match (progress.kind, self.mode) {
            (TransitionKind::Switchover, _) => {
                self.servers
                    .wait_caught_up(&progress.from, &progress.target, CATCH_UP_WAIT)
                    .await
            }
            (TransitionKind::Failover, ReplicationMode::Lossless) => {
                let replicas = self.instances.iter().filter(|name| **name != progress.from);
                for replica in replicas {
                    if let Err(error) = self.servers.stop_io_thread(replica).await {
                        if *replica == progress.target {
                            return Err(error);
                        }
                        tracing::warn!(%error, %replica, "cannot stop the IO thread");
                    }
                }
                self.servers
                    .wait_relay_applied(&progress.target, CATCH_UP_WAIT)
                    .await
            }
            (TransitionKind::Failover, ReplicationMode::Async) => Ok(()),
        }
    }

    async fn repoint(&self, progress: &FailoverProgress) {
        let others = self.instances.iter().filter(|name| {
            **name != progress.target
                && (**name != progress.from || progress.kind == TransitionKind::Switchover)
        });
        for replica in others {
            if let Err(error) = self.servers.replicate_from(replica, &progress.target).await {
                tracing::warn!(%error, %replica, "cannot re-point a replica now; wiring retries");
            }
        }
    }

    async fn finish(&self, writer: &mut StatusWriter, progress: &FailoverProgress) -> Result<(), Error> {
        self.close(writer, progress, TransitionOutcome::Succeeded, None)
            .await
    }

    async fn close(
        &self,
        writer: &mut StatusWriter,
        progress: &FailoverProgress,
        outcome: TransitionOutcome,
        message: Option<String>,
    ) -> Result<(), Error> {
        let lost = record::lost_gtids(
            self.flavor,
            progress.old_primary_gtids.as_deref(),
            progress.promoted_gtids.as_deref(),
        );
        let finished = record::finish(progress, outcome, message.clone(), lost, Utc::now());
        let history = record::append(
            &self
                .drmysql
                .status
                .as_ref()
                .map(|status| status.history.clone())
                .unwrap_or_default(),
            finished.clone(),
        );
        writer
            .merge(json!({"failover": Value::Null, "history": history}))
            .await?;
        let (kind, event) = match (progress.kind, outcome) {
            (TransitionKind::Failover, TransitionOutcome::Succeeded) => ("failover", "FailoverCompleted"),
            (TransitionKind::Failover, _) => ("failover", "FailoverAborted"),
            (TransitionKind::Switchover, TransitionOutcome::Succeeded) => {
                ("switchover", "SwitchoverCompleted")
            }
            (TransitionKind::Switchover, _) => ("switchover", "SwitchoverAborted"),
        };
        let duration = finished.duration_seconds.unwrap_or_default();
        let note = match outcome {
            TransitionOutcome::Succeeded => format!(
                "{} is the primary after {duration:.3}s (from {}){}{}",
                progress.target,
                progress.from,
                finished
                    .rpo_seconds
                    .map(|rpo| format!("; RPO estimate {rpo:.3}s"))
                    .unwrap_or_default(),
                finished
                    .lost_gtids
                    .as_deref()
                    .map(|lost| format!("; transactions lost: {lost}"))
                    .unwrap_or_default(),
            ),
            _ => format!(
                "the {kind} from {} to {} stopped: {}",
                progress.from,
                progress.target,
                message.unwrap_or_default()
            ),
        };
        self.event(event, outcome != TransitionOutcome::Succeeded, note)
            .await;
        record_metrics(&self.context.metrics, self.drmysql, kind, outcome, duration);
        Ok(())
    }

    async fn advance(
        &self,
        writer: &mut StatusWriter,
        progress: &mut FailoverProgress,
        step: TransitionStep,
        current_primary: Option<&str>,
    ) -> Result<(), Error> {
        self.crash_after(progress.step)?;
        progress.step = step;
        let mut fields = json!({"failover": progress});
        if let Some(primary) = current_primary {
            fields["currentPrimary"] = json!(primary);
        }
        writer.merge(fields).await
    }

    async fn step_failed(&self, progress: &FailoverProgress, why: String) -> Result<(), Error> {
        self.event(
            "TransitionStepFailed",
            true,
            format!("step {:?} failed and will be retried: {why}", progress.step),
        )
        .await;
        Err(Error::Step(why))
    }

    fn crash_after(&self, done: TransitionStep) -> Result<(), Error> {
        if self.crash == Some(Crash::AfterDoing(done)) {
            return Err(Error::Step(format!(
                "fault injection: stopped after {done:?}, before recording the next step"
            )));
        }
        Ok(())
    }

    fn recorded(&self) -> Option<FailoverProgress> {
        self.drmysql.status.as_ref()?.failover.clone()
    }

    async fn event(&self, reason: &'static str, warning: bool, note: String) {
        publish(
            self.context,
            self.drmysql,
            &EventSpec {
                reason,
                warning,
                note,
            },
        )
        .await;
    }
}

fn record_metrics(
    metrics: &ControllerMetrics,
    drmysql: &DRMySQL,
    kind: &str,
    outcome: TransitionOutcome,
    duration: f64,
) {
    let result = match outcome {
        TransitionOutcome::Succeeded => "succeeded",
        TransitionOutcome::Failed => "failed",
        TransitionOutcome::Aborted => "aborted",
    };
    metrics
        .failovers
        .get_or_create(&TransitionLabels {
            namespace: drmysql.namespace().unwrap_or_default(),
            name: drmysql.name_any(),
            kind: kind.to_owned(),
            result: result.to_owned(),
        })
        .inc();
    if outcome == TransitionOutcome::Succeeded {
        metrics
            .failover_duration
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .observe(duration);
    }
}
