//! One drill trial against the sandbox: load, fault, failover, heal,
//! rejoin or rebuild, check. See the module above for the sequence.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::{
    DRMySQL, FailoverRecord, InstanceRole, ThreadState, TransitionKind, TransitionOutcome,
};
use drmysql_api::names::request;
use kube::api::{Api, Patch, PatchParams};

use super::check::{Ack, check};
use super::report::{OldPrimary, Trial};
use super::writer::{WriterTarget, Writers};
use super::{DrillConfig, Fault, NAME, NAMESPACE, current, ids_on, wait_ready};
use crate::sandbox::error::SandboxError;
use crate::sandbox::objects::virtual_node_name;
use crate::sandbox::{Sandbox, wait};

/// Writes before the fault, and after the failover.
const STEADY: Duration = Duration::from_millis(1500);
/// How long a failover may take after the fault.
const FAILOVER_LIMIT: Duration = Duration::from_secs(90);
/// How long the old primary may take to rejoin or be quarantined.
const REJOIN_LIMIT: Duration = Duration::from_secs(150);

/// One line per trial, as the drill goes.
pub fn describe(trial: &Trial) -> String {
    let seconds = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |value| format!("{value:.3} s"));
    format!(
        "trial {}: {} -> {}: RTO {}, detection {}, promotion {}; {} acknowledged, {} lost, {} split brain; {} failover(s); old primary {:?}; {} failed writes {:?}{}",
        trial.index,
        trial.from,
        trial.to.as_deref().unwrap_or("-"),
        seconds(trial.rto_seconds),
        seconds(trial.detection_seconds),
        seconds(trial.promotion_seconds),
        trial.writes.acknowledged,
        trial.writes.lost.len(),
        trial.writes.split_brain.len(),
        trial.failovers,
        trial.old_primary,
        trial.failed_writes,
        trial.failure_samples,
        trial
            .error
            .as_ref()
            .map(|error| format!("; FAILED: {error}"))
            .unwrap_or_default()
    )
}

/// Runs trial `index`; a trial that cannot complete carries its error.
pub async fn run(
    sandbox: &Sandbox,
    config: &DrillConfig,
    target: &WriterTarget,
    ids: Arc<AtomicU64>,
    index: usize,
) -> Trial {
    let mut trial = Trial {
        index,
        from: String::new(),
        to: None,
        rto_seconds: None,
        detection_seconds: None,
        promotion_seconds: None,
        rpo_estimate_seconds: None,
        failovers: 0,
        old_primary: None,
        writes: Default::default(),
        failed_writes: 0,
        failure_samples: Vec::new(),
        error: None,
    };
    if let Err(error) = carry_out(sandbox, config, target, ids, &mut trial).await {
        trial.error = Some(error.to_string());
    }
    trial
}

fn role_of(drmysql: &DRMySQL, instance: &str) -> Option<(Option<InstanceRole>, Option<ThreadState>)> {
    drmysql
        .status
        .as_ref()?
        .instances
        .iter()
        .find(|listed| listed.name == instance)
        .map(|listed| (listed.role, listed.io_thread))
}

fn primary_of(drmysql: &DRMySQL) -> Option<String> {
    drmysql.status.as_ref()?.current_primary.clone()
}

/// The failovers recorded since `since`.
fn failovers_since(drmysql: &DRMySQL, since: DateTime<Utc>) -> Vec<FailoverRecord> {
    drmysql
        .status
        .as_ref()
        .map(|status| {
            status
                .history
                .iter()
                .filter(|record| record.kind == TransitionKind::Failover && record.started_at >= since)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

async fn annotate(sandbox: &Sandbox, key: &str, value: &str) -> Result<(), SandboxError> {
    let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
    Api::<DRMySQL>::namespaced(sandbox.host_client(), NAMESPACE)
        .patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(SandboxError::kube(format!(
            "annotating {NAMESPACE}/{NAME} with {key}"
        )))
}

/// The member cluster whose virtual node runs `instance`, if any.
async fn member_of(sandbox: &Sandbox, instance: &str) -> Result<Option<String>, SandboxError> {
    let pods = sandbox.instance_pods(NAMESPACE, NAME).await?;
    let node = pods
        .iter()
        .find(|pod| pod.metadata.name.as_deref() == Some(instance))
        .and_then(|pod| pod.spec.as_ref()?.node_name.clone());
    Ok(sandbox
        .members()
        .into_iter()
        .find(|member| node.as_deref() == Some(virtual_node_name(member).as_str())))
}

/// A partition needs the primary in a member cluster (cutting the host's
/// cluster would cut the controller): a planned switchover first when it is
/// on the host's node.
async fn primary_in_a_member(sandbox: &Sandbox) -> Result<(String, String), SandboxError> {
    let drmysql = current(sandbox).await.map_err(SandboxError::Invariant)?;
    let primary = primary_of(&drmysql).ok_or_else(|| SandboxError::Invariant("no primary".to_owned()))?;
    if let Some(member) = member_of(sandbox, &primary).await? {
        return Ok((primary, member));
    }
    let to = format!("{NAME}-a");
    annotate(sandbox, request::SWITCHOVER_TO, &to).await?;
    wait::until(
        "a switchover to a member's instance",
        Duration::from_secs(60),
        || async {
            let drmysql = current(sandbox).await?;
            match primary_of(&drmysql) {
                Some(primary)
                    if primary == to
                        && drmysql
                            .status
                            .as_ref()
                            .is_some_and(|status| status.failover.is_none()) =>
                {
                    Ok(())
                }
                other => Err(format!("primary {other:?}")),
            }
        },
    )
    .await?;
    wait_ready(sandbox, Duration::from_secs(120)).await?;
    let member = member_of(sandbox, &to)
        .await?
        .ok_or_else(|| SandboxError::Invariant(format!("{to} is not on a virtual node")))?;
    Ok((to, member))
}

/// Injects the fault on `primary`.
fn inject(sandbox: &Sandbox, fault: Fault, primary: &str, member: Option<&str>) -> Result<(), SandboxError> {
    match (fault, member) {
        (Fault::Kill, _) => {
            if sandbox.kill_mysqld(NAMESPACE, primary) {
                Ok(())
            } else {
                Err(SandboxError::Invariant(format!("no running mysqld in {primary}")))
            }
        }
        (Fault::Partition, Some(member)) => {
            sandbox
                .topology()
                .partition_cluster(member)
                .map_err(SandboxError::part(format!("partitioning {member}")))?;
            if let Some(node) = sandbox.node(&virtual_node_name(member)) {
                node.pause_heartbeats();
            }
            Ok(())
        }
        (Fault::Partition, None) => Err(SandboxError::Invariant(format!(
            "{primary} is in no member cluster"
        ))),
    }
}

/// Heals the fault (a killed `mysqld` is restarted by the kubelet).
fn heal(sandbox: &Sandbox, fault: Fault, member: Option<&str>) -> Result<(), SandboxError> {
    if let (Fault::Partition, Some(member)) = (fault, member) {
        sandbox
            .topology()
            .heal_cluster(member)
            .map_err(SandboxError::part(format!("healing {member}")))?;
        if let Some(node) = sandbox.node(&virtual_node_name(member)) {
            node.resume_heartbeats();
        }
    }
    Ok(())
}

async fn carry_out(
    sandbox: &Sandbox,
    config: &DrillConfig,
    target: &WriterTarget,
    ids: Arc<AtomicU64>,
    trial: &mut Trial,
) -> Result<(), SandboxError> {
    let (primary, member) = match config.fault {
        Fault::Partition => {
            let (primary, member) = primary_in_a_member(sandbox).await?;
            (primary, Some(member))
        }
        Fault::Kill => {
            let drmysql = current(sandbox).await.map_err(SandboxError::Invariant)?;
            let primary =
                primary_of(&drmysql).ok_or_else(|| SandboxError::Invariant("no primary".to_owned()))?;
            (primary, None)
        }
    };
    trial.from.clone_from(&primary);
    let old_ip = sandbox.pod_ip(NAMESPACE, &primary).await?;

    let writers = Writers::start(target, config.writers, config.write_pause, ids);
    tokio::time::sleep(STEADY).await;
    let fault_wall = Utc::now();
    let fault_at = Instant::now();
    inject(sandbox, config.fault, &primary, member.as_deref())?;
    let failed_over = wait::until("a failover and a write accepted elsewhere", FAILOVER_LIMIT, || async {
        let drmysql = current(sandbox).await?;
        let still_primary = primary_of(&drmysql).as_deref() == Some(primary.as_str());
        if still_primary && config.fault == Fault::Kill {
            // A crash loop: whatever the kubelet restarts is killed again.
            sandbox.kill_mysqld(NAMESPACE, &primary);
        }
        let finished = failovers_since(&drmysql, fault_wall)
            .into_iter()
            .any(|record| record.outcome == TransitionOutcome::Succeeded);
        let written_elsewhere = writers
            .acks()
            .iter()
            .any(|ack| ack.at > fault_at && ack.on != old_ip);
        if finished && written_elsewhere && !still_primary {
            Ok(drmysql)
        } else {
            Err(format!(
                "primary {:?}, failover finished {finished}, a write accepted elsewhere {written_elsewhere}",
                primary_of(&drmysql)
            ))
        }
    })
    .await;
    tokio::time::sleep(STEADY).await;
    let written = writers.stop();
    let after_fault: Vec<&(Instant, String)> =
        written.failures.iter().filter(|(at, _)| *at > fault_at).collect();
    trial.failed_writes = after_fault.len();
    let mut samples: Vec<String> = Vec::new();
    for (at, why) in &after_fault {
        let class: String = why.chars().take(90).collect();
        if samples.len() < 6 && !samples.iter().any(|sample| sample.ends_with(&class)) {
            samples.push(format!(
                "+{:.3} s: {class}",
                at.duration_since(fault_at).as_secs_f64()
            ));
        }
    }
    if let Some((last, why)) = after_fault.last() {
        samples.push(format!(
            "last +{:.3} s: {}",
            last.duration_since(fault_at).as_secs_f64(),
            why.chars().take(90).collect::<String>()
        ));
    }
    trial.failure_samples = samples;
    heal(sandbox, config.fault, member.as_deref())?;
    let after = failed_over?;

    let records = failovers_since(&after, fault_wall);
    trial.failovers = records.len();
    let record = records.last().cloned();
    trial.to = primary_of(&after);
    trial.rto_seconds = written
        .acks
        .iter()
        .find(|ack| ack.at > fault_at && ack.on != old_ip)
        .map(|ack| ack.at.duration_since(fault_at).as_secs_f64());
    if let Some(record) = &record {
        trial.detection_seconds = Some(seconds_between(fault_wall, record.started_at));
        trial.promotion_seconds = record.duration_seconds;
        trial.rpo_estimate_seconds = record.rpo_seconds;
    }
    let new_primary = trial.to.clone().unwrap_or_default();
    let new_ip = sandbox.pod_ip(NAMESPACE, &new_primary).await?;
    let on_new = ids_on(sandbox, new_ip).await?;

    // The old primary comes back: rejoined, or quarantined and rebuilt.
    let outcome = wait::until(
        "the old primary rejoined or quarantined",
        REJOIN_LIMIT,
        || async {
            let drmysql = current(sandbox).await?;
            match role_of(&drmysql, &primary) {
                Some((Some(InstanceRole::Replica), Some(ThreadState::Running))) => Ok(OldPrimary::Rejoined),
                Some((Some(InstanceRole::Quarantined), _)) => Ok(OldPrimary::QuarantinedThenRebuilt),
                other => Err(format!("{primary}: {other:?}")),
            }
        },
    )
    .await?;
    let on_old: Option<BTreeSet<u64>> = match outcome {
        OldPrimary::Rejoined => None,
        OldPrimary::QuarantinedThenRebuilt => {
            let held = ids_on(sandbox, old_ip).await?;
            annotate(sandbox, request::REBUILD, &primary).await?;
            wait::until(
                "the rebuilt old primary replicating",
                Duration::from_secs(180),
                || async {
                    let drmysql = current(sandbox).await?;
                    match role_of(&drmysql, &primary) {
                        Some((Some(InstanceRole::Replica), Some(ThreadState::Running))) => Ok(()),
                        other => Err(format!("{primary}: {other:?}")),
                    }
                },
            )
            .await?;
            Some(held)
        }
    };
    trial.old_primary = Some(outcome);
    let acks: Vec<Ack> = written
        .acks
        .iter()
        .map(|ack| Ack {
            id: ack.id,
            on: ack.on,
        })
        .collect();
    trial.writes = check(&acks, &on_new, on_old.as_ref());
    wait_ready(sandbox, Duration::from_secs(120)).await?;
    Ok(())
}

fn seconds_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> f64 {
    (later - earlier)
        .num_microseconds()
        .map_or(f64::NAN, |micros| micros as f64 / 1e6)
}
