//! The **update_status** stage's decisions: from what observe saw to the
//! DRMySQL's status, its conditions and the Events their transitions raise.
//!
//! Pure, so the rules are unit-tested. Conditions follow the Kubernetes API
//! conventions: `lastTransitionTime` moves only when the status does, and
//! every condition carries the generation it was computed from. The lag
//! condition has hysteresis: it turns False above the threshold but True again
//! only below 80 % of it, so a lag hovering at the threshold does not flap.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::{
    DRMySQL, DRMySQLStatus, InstanceRole, InstanceStatus as InstanceReport, Phase, ThreadState, TunnelState,
    TunnelStatus,
};
use drmysql_api::names::condition;
use drmysql_mysql::{InstanceStatus, Lag};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::failover;
use crate::validate::Problem;
use crate::wiring::Finding;

/// Fraction of the lag threshold below which LagWithinThreshold recovers.
pub const LAG_RECOVERY_RATIO: f64 = 0.8;

/// What observe learned about one instance.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceObservation {
    /// Instance name.
    pub name: String,
    /// Node its Pod is bound to.
    pub node: Option<String>,
    /// Its Pod IP.
    pub pod_ip: Option<String>,
    /// Whether its Pod is Ready.
    pub pod_ready: bool,
    /// Whether it is the current primary.
    pub primary: bool,
    /// Its server snapshot, or why none was taken.
    pub server: Result<InstanceStatus, String>,
    /// Its heartbeat lag (replicas).
    pub lag: Option<Lag>,
}

/// Everything observe learned about one DRMySQL.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    /// Every instance, primary first.
    pub instances: Vec<InstanceObservation>,
    /// Tunnel checks.
    pub tunnel: Vec<TunnelStatus>,
    /// The validate stage's problems.
    pub problems: Vec<Problem>,
    /// Wiring's findings.
    pub findings: Vec<Finding>,
    /// The failover decision of this reconcile; `None` when it did not run (an
    /// invalid spec): the previous `PrimaryAvailable` and memory are kept.
    pub failover: Option<failover::report::Outcome>,
    /// Each instance's role (see [`crate::roles`]); an instance missing here
    /// is the primary when observed as such, else a replica.
    pub roles: BTreeMap<String, InstanceRole>,
}

/// An Event to publish for a condition transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    /// PascalCase reason.
    pub reason: &'static str,
    /// Whether it is a warning.
    pub warning: bool,
    /// Human-readable note.
    pub note: String,
}

/// Computes the new status of `drmysql`.
pub fn compute(drmysql: &DRMySQL, observation: &Observation, now: DateTime<Utc>) -> DRMySQLStatus {
    let previous = drmysql.status.clone().unwrap_or_default();
    let generation = drmysql.metadata.generation;
    let threshold = drmysql.spec.lag.alert_threshold_seconds;
    let primary = observation.instances.iter().find(|instance| instance.primary);
    let replicas: Vec<&InstanceObservation> = observation.instances.iter().filter(|i| !i.primary).collect();

    let mut instances: Vec<InstanceReport> = observation
        .instances
        .iter()
        .map(|instance| report(instance, observation.roles.get(&instance.name).copied()))
        .collect();
    for finding in &observation.findings {
        if let Finding::Errant { instance, gtids } = finding
            && let Some(report) = instances.iter_mut().find(|report| report.name == *instance)
        {
            report.errant_gtids = Some(gtids.clone());
        }
    }
    let worst = worst_lag(&replicas);
    let tunnel_state = tunnel_state(&observation.tunnel);
    let primary_writable = primary.is_some_and(|p| p.server.as_ref().is_ok_and(InstanceStatus::writable));

    let mut conditions = Vec::new();
    let mut set = |kind: &str, status: bool, reason: &str, message: String| {
        conditions.push(condition(
            &previous.conditions,
            kind,
            status,
            reason,
            message,
            generation,
            now,
        ));
    };

    // Replicating.
    let broken: Vec<String> = replicas
        .iter()
        .filter_map(|replica| match &replica.server {
            Err(error) => Some(format!("{} is unreachable: {error}", replica.name)),
            Ok(status) => match &status.replica {
                None => Some(format!("{} is not replicating", replica.name)),
                Some(r) if !r.replicating() => Some(format!(
                    "{} replication IO thread {:?}, SQL thread {:?}{}",
                    replica.name,
                    r.io_thread,
                    r.sql_thread,
                    r.last_io_error
                        .iter()
                        .chain(r.last_sql_error.iter())
                        .map(|e| format!(": {e}"))
                        .collect::<String>()
                )),
                Some(_) => None,
            },
        })
        .collect();
    let replicating = broken.is_empty() && !replicas.is_empty();
    set(
        condition::REPLICATING,
        replicating,
        if replicating {
            "ReplicationRunning"
        } else {
            "ReplicationBroken"
        },
        if replicating {
            "every replica replicates from the primary".to_owned()
        } else {
            broken.join("; ")
        },
    );

    // LagWithinThreshold, with hysteresis.
    let was_within = previous
        .conditions
        .iter()
        .find(|c| c.type_ == condition::LAG_WITHIN_THRESHOLD)
        .is_none_or(|c| c.status == "True");
    let (within, reason, message) = match &worst {
        WorstLag::Measured(name, seconds) => {
            let limit = if was_within {
                threshold
            } else {
                threshold * LAG_RECOVERY_RATIO
            };
            let within = *seconds <= limit;
            let message = format!(
                "worst replica lag {} on {name} (threshold {threshold}s)",
                human_lag(*seconds)
            );
            (within, if within { "LagOk" } else { "LagHigh" }, message)
        }
        WorstLag::Stale(name, since) => (
            false,
            "HeartbeatStale",
            format!("{name}: the primary's heartbeat is stale since {since}"),
        ),
        WorstLag::Unknown => (false, "LagUnknown", "no replica lag measured".to_owned()),
    };
    set(condition::LAG_WITHIN_THRESHOLD, within, reason, message);

    // TunnelReachable.
    let failing: Vec<String> = observation
        .tunnel
        .iter()
        .filter(|check| !check.reachable)
        .map(|check| describe_failed_check(check, &observation.instances))
        .collect();
    let tunnel_ok = tunnel_state == TunnelState::Reachable;
    set(
        condition::TUNNEL_REACHABLE,
        tunnel_ok,
        match tunnel_state {
            TunnelState::Reachable => "TunnelReachable",
            TunnelState::Unknown => "TunnelNotChecked",
            _ => "TunnelUnreachable",
        },
        if failing.is_empty() {
            match tunnel_state {
                TunnelState::Unknown => "no tunnel check has run yet".to_owned(),
                _ => "every instance reaches its peers".to_owned(),
            }
        } else {
            failing.join("; ")
        },
    );

    // FailoverInProgress.
    let failing_over = previous.failover.is_some();
    set(
        condition::FAILOVER_IN_PROGRESS,
        failing_over,
        if failing_over {
            "FailoverRunning"
        } else {
            "NoFailover"
        },
        previous
            .failover
            .as_ref()
            .map(|f| format!("{:?} from {} to {}: step {:?}", f.kind, f.from, f.target, f.step))
            .unwrap_or_else(|| "no failover or switchover is running".to_owned()),
    );

    // PrimaryAvailable: the failover decision, reported.
    match &observation.failover {
        Some(outcome) => {
            let (available, reason, message) = outcome.condition();
            set(condition::PRIMARY_AVAILABLE, available, reason, message);
        }
        None => match previous
            .conditions
            .iter()
            .find(|c| c.type_ == condition::PRIMARY_AVAILABLE)
        {
            Some(kept) => set(
                condition::PRIMARY_AVAILABLE,
                kept.status == "True",
                &kept.reason.clone(),
                kept.message.clone(),
            ),
            None => set(
                condition::PRIMARY_AVAILABLE,
                false,
                failover::report::REASON_UNOBSERVED,
                "the failover decision has not run yet".to_owned(),
            ),
        },
    }

    // ErrantTransactions.
    let errant: Vec<String> = observation
        .findings
        .iter()
        .filter_map(|finding| match finding {
            Finding::Errant { instance, gtids } => {
                Some(format!("{instance} has transactions the primary lacks: {gtids}"))
            }
            _ => None,
        })
        .collect();
    set(
        condition::ERRANT_TRANSACTIONS,
        !errant.is_empty(),
        if errant.is_empty() {
            "NoErrantTransactions"
        } else {
            "ErrantTransactionsFound"
        },
        if errant.is_empty() {
            "no replica has transactions the primary lacks".to_owned()
        } else {
            errant.join("; ")
        },
    );

    // Ready, last: it sums up the others.
    let problems: Vec<String> = observation.problems.iter().map(|p| p.message.clone()).collect();
    let ready =
        problems.is_empty() && primary_writable && replicating && within && tunnel_ok && errant.is_empty();
    let not_ready_reason = if !problems.is_empty() {
        ("InvalidSpec", problems.join("; "))
    } else if !primary_writable {
        (
            "PrimaryNotWritable",
            format!(
                "primary {} is not writable yet",
                primary.map_or("(none)", |p| p.name.as_str())
            ),
        )
    } else {
        ("Degraded", "see the other conditions".to_owned())
    };
    set(
        condition::READY,
        ready,
        if ready { "Ready" } else { not_ready_reason.0 },
        if ready {
            "the primary is writable and every replica replicates within the lag threshold".to_owned()
        } else {
            not_ready_reason.1
        },
    );
    let ready_order = |c: &Condition| {
        condition::ALL
            .iter()
            .position(|kind| *kind == c.type_)
            .unwrap_or(usize::MAX)
    };
    conditions.sort_by_key(ready_order);

    let phase = if !observation.problems.is_empty() {
        Phase::Invalid
    } else if failing_over {
        previous.phase.unwrap_or(Phase::FailingOver)
    } else if ready {
        Phase::Running
    } else if previous
        .phase
        .is_some_and(|phase| phase != Phase::Pending && phase != Phase::Provisioning)
        || primary_writable
    {
        Phase::Degraded
    } else if observation.instances.iter().any(|i| i.pod_ip.is_some()) {
        Phase::Provisioning
    } else {
        Phase::Pending
    };

    DRMySQLStatus {
        phase: Some(phase),
        current_primary: primary.map(|p| p.name.clone()).or(previous.current_primary),
        primary_node: primary.and_then(|p| p.node.clone()),
        replicas_ready: Some(format!(
            "{}/{}",
            replicas.iter().filter(|replica| replica.pod_ready).count(),
            replicas.len()
        )),
        lag: Some(match worst {
            WorstLag::Measured(_, seconds) => human_lag(seconds),
            WorstLag::Stale(..) => "stale".to_owned(),
            WorstLag::Unknown => "unknown".to_owned(),
        }),
        tunnel_state: Some(tunnel_state),
        instances,
        tunnel: observation.tunnel.clone(),
        conditions,
        failover: previous.failover,
        history: previous.history,
        last_request: previous.last_request,
        rebuilds: previous.rebuilds,
        failover_memory: match &observation.failover {
            Some(outcome) => failover::persist::to_status(&outcome.memory),
            None => previous.failover_memory,
        },
        observed_generation: generation,
    }
}

/// The Events that the change from `old` to `new` conditions raises.
pub fn transitions(old: &[Condition], new: &[Condition]) -> Vec<EventSpec> {
    let pairs: [(&str, &'static str, &'static str); 4] = [
        (condition::LAG_WITHIN_THRESHOLD, "LagRecovered", "LagHigh"),
        (
            condition::TUNNEL_REACHABLE,
            "TunnelRecovered",
            "TunnelUnreachable",
        ),
        (condition::REPLICATING, "ReplicationRestored", "ReplicationBroken"),
        (
            condition::ERRANT_TRANSACTIONS,
            "ErrantTransactionsResolved",
            "ErrantTransactionsFound",
        ),
    ];
    let mut events = Vec::new();
    for (kind, good, bad) in pairs {
        let Some(now) = new.iter().find(|c| c.type_ == kind) else {
            continue;
        };
        let before = old.iter().find(|c| c.type_ == kind).map(|c| c.status.as_str());
        // ErrantTransactions is good when False; the others when True.
        let healthy = |status: &str| (status == "True") != (kind == condition::ERRANT_TRANSACTIONS);
        if before == Some(now.status.as_str()) {
            continue;
        }
        match (before, healthy(&now.status)) {
            // First observation: only a bad state is worth an Event.
            (None, true) => {}
            (_, true) => events.push(EventSpec {
                reason: good,
                warning: false,
                note: now.message.clone(),
            }),
            (_, false) => events.push(EventSpec {
                reason: bad,
                warning: true,
                note: now.message.clone(),
            }),
        }
    }
    events
}

fn condition(
    previous: &[Condition],
    kind: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_owned();
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == kind && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| to_time(now));
    Condition {
        type_: kind.to_owned(),
        status,
        reason: reason.to_owned(),
        message,
        last_transition_time,
        observed_generation: generation,
    }
}

/// chrono → k8s-openapi's `Time` (jiff), at the boundary.
pub fn to_time(instant: DateTime<Utc>) -> Time {
    let nanos =
        i128::from(instant.timestamp()) * 1_000_000_000 + i128::from(instant.timestamp_subsec_nanos());
    Time(
        k8s_openapi::jiff::Timestamp::from_nanosecond(nanos)
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    )
}

enum WorstLag {
    Measured(String, f64),
    Stale(String, DateTime<Utc>),
    Unknown,
}

fn worst_lag(replicas: &[&InstanceObservation]) -> WorstLag {
    let mut worst = WorstLag::Unknown;
    for replica in replicas {
        match replica.lag {
            Some(Lag::Stale { since, .. }) => return WorstLag::Stale(replica.name.clone(), since),
            Some(Lag::Measured { lag, .. }) => {
                let seconds = lag.as_secs_f64();
                if !matches!(&worst, WorstLag::Measured(_, current) if *current >= seconds) {
                    worst = WorstLag::Measured(replica.name.clone(), seconds);
                }
            }
            Some(Lag::NoHeartbeat) | None => {}
        }
    }
    worst
}

fn tunnel_state(checks: &[TunnelStatus]) -> TunnelState {
    let reachable = checks.iter().filter(|check| check.reachable).count();
    match (checks.len(), reachable) {
        (0, _) => TunnelState::Unknown,
        (total, ok) if ok == total => TunnelState::Reachable,
        (_, 0) => TunnelState::Unreachable,
        _ => TunnelState::Partial,
    }
}

/// "replica orders-1 on kosmos-member-tencent cannot reach primary orders-0 at
/// 10.233.64.12:3306: connect timeout after 3s": the pods, nodes, address and error.
fn describe_failed_check(check: &TunnelStatus, instances: &[InstanceObservation]) -> String {
    let find = |name: &str| instances.iter().find(|instance| instance.name == name);
    let role = |instance: Option<&InstanceObservation>| match instance {
        Some(instance) if instance.primary => "primary",
        _ => "replica",
    };
    let from = find(&check.from);
    let to = find(&check.to);
    let node = from
        .and_then(|instance| instance.node.as_deref())
        .map(|node| format!(" on {node}"))
        .unwrap_or_default();
    let address = to
        .and_then(|instance| instance.pod_ip.as_deref())
        .map(|ip| format!(" at {ip}:{}", crate::build::config::MYSQL_PORT))
        .unwrap_or_default();
    format!(
        "{} {}{node} cannot reach {} {}{address}: {}",
        role(from),
        check.from,
        role(to),
        check.to,
        check.error.as_deref().unwrap_or("unreachable")
    )
}

/// `250ms`, `3.2s`, `75s`.
pub fn human_lag(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{}ms", (seconds * 1000.0).round() as u64)
    } else if seconds < 10.0 {
        format!("{seconds:.1}s")
    } else {
        format!("{}s", seconds.round() as u64)
    }
}

fn report(instance: &InstanceObservation, role: Option<InstanceRole>) -> InstanceReport {
    let status = instance.server.as_ref().ok();
    let replica = status.and_then(|s| s.replica.as_ref());
    let thread = |state: drmysql_mysql::ThreadState| match state {
        drmysql_mysql::ThreadState::Running => ThreadState::Running,
        drmysql_mysql::ThreadState::Connecting => ThreadState::Connecting,
        drmysql_mysql::ThreadState::Stopped => ThreadState::Stopped,
    };
    InstanceReport {
        name: instance.name.clone(),
        role: Some(role.unwrap_or(if instance.primary {
            InstanceRole::Primary
        } else {
            InstanceRole::Replica
        })),
        node: instance.node.clone(),
        pod_ip: instance.pod_ip.clone(),
        ready: instance.pod_ready,
        lag_seconds: match instance.lag {
            Some(Lag::Measured { lag, .. }) => Some(lag.as_secs_f64()),
            _ => None,
        },
        io_thread: replica.map(|r| thread(r.io_thread)),
        sql_thread: replica.map(|r| thread(r.sql_thread)),
        gtid_position: status.map(|s| s.gtid_executed.clone()).filter(|g| !g.is_empty()),
        read_only: status.map(|s| !s.writable()),
        version: status.map(|s| s.version.text.clone()),
        errant_gtids: None,
        last_error: match &instance.server {
            Err(error) => Some(error.clone()),
            Ok(_) => replica.and_then(|r| r.last_io_error.clone().or_else(|| r.last_sql_error.clone())),
        },
    }
}

#[cfg(test)]
mod tests;
