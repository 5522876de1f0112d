//! DR drills: a fault injected into a DRMySQL under write load, again and
//! again, measured and checked (`drmysql-e2e drill`, and the short drill in
//! CI).
//!
//! The drill applies a DRMySQL with three instances (the primary on the
//! virtual node of member cluster `member-a`, replicas on `member-b`'s and
//! on the host's node), `cooldownSeconds` 0 so that trials can follow each
//! other, creates an application account, and runs the trials. Each trial:
//! writers insert through the writer Service's ready endpoint; the fault
//! hits the current primary; the trial waits for the failover and a write
//! accepted by another server; the writers stop; the fault is healed; the
//! old primary rejoins, or is quarantined and rebuilt; every acknowledged
//! write is checked against the new primary (and the old one, when it
//! diverged); the DRMySQL is Ready again before the next trial.
//!
//! - [`stats`], [`check`], [`report`]: the pure parts, unit-tested;
//! - [`writer`]: the write load;
//! - `trial` (private): one trial against the sandbox.

pub mod check;
pub mod report;
pub mod stats;
mod trial;
pub mod writer;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use drmysql_api::drmysql::{DRMySQL, ReplicationMode};
use drmysql_api::names;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use serde_json::json;

use self::report::{Report, Trial};
use self::writer::WriterTarget;
use crate::sandbox::error::SandboxError;
use crate::sandbox::{Sandbox, wait};

/// The namespace and name of the drill's DRMySQL.
pub const NAMESPACE: &str = "drill";
/// The drill's DRMySQL.
pub const NAME: &str = "orders";
/// The member clusters the drill's sandbox needs.
pub const MEMBERS: [&str; 2] = ["member-a", "member-b"];
const APP_USER: &str = "app";
const APP_PASSWORD: &str = "app-password-for-the-drill";

/// The fault a drill injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// `kill -9` of the primary's `mysqld`, and of every restart while it is
    /// still the primary (a crash loop): hard evidence.
    Kill,
    /// The primary's whole member cluster cut off the underlay, and its
    /// virtual node NotReady: soft evidence only.
    Partition,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Partition => "partition",
        }
    }
}

/// What to drill.
#[derive(Clone, Debug)]
pub struct DrillConfig {
    /// The fault.
    pub fault: Fault,
    /// The replication mode.
    pub mode: ReplicationMode,
    /// How many trials.
    pub trials: usize,
    /// Writer connections.
    pub writers: usize,
    /// Pause between two inserts of one writer.
    pub write_pause: Duration,
    /// `spec.failover.detectionSeconds`.
    pub detection_seconds: u32,
}

impl Default for DrillConfig {
    fn default() -> Self {
        Self {
            fault: Fault::Kill,
            mode: ReplicationMode::Lossless,
            trials: 5,
            writers: 3,
            write_pause: Duration::from_millis(20),
            detection_seconds: 6,
        }
    }
}

/// The drill's DRMySQL on `sandbox`: the example with three instances.
fn drmysql_object(sandbox: &Sandbox, config: &DrillConfig) -> Result<serde_json::Value, SandboxError> {
    let mut object = sandbox.example(NAMESPACE, NAME)?;
    let node = |member: &str| crate::sandbox::objects::virtual_node_name(member);
    object["spec"]["primary"] = json!({"name": "a", "node": node(MEMBERS[0])});
    object["spec"]["replicas"] = json!([
        {"name": "b", "node": node(MEMBERS[1])},
        {"name": "host", "node": sandbox.host_node()},
    ]);
    object["spec"]["replication"]["mode"] = json!(match config.mode {
        ReplicationMode::Async => "Async",
        ReplicationMode::Lossless => "Lossless",
    });
    object["spec"]["failover"]["detectionSeconds"] = json!(config.detection_seconds);
    object["spec"]["failover"]["cooldownSeconds"] = json!(0);
    Ok(object)
}

/// The DRMySQL as the API has it now.
async fn current(sandbox: &Sandbox) -> Result<DRMySQL, String> {
    Api::<DRMySQL>::namespaced(sandbox.host_client(), NAMESPACE)
        .get(NAME)
        .await
        .map_err(|error| error.to_string())
}

/// Waits until the DRMySQL is Ready (every replica replicating within the
/// threshold, the primary writable) and every instance's Pod is Ready: the
/// steady state a fault should hit.
async fn wait_ready(sandbox: &Sandbox, limit: Duration) -> Result<DRMySQL, SandboxError> {
    wait::until("the drill's DRMySQL and its Pods Ready", limit, || async {
        let drmysql = current(sandbox).await?;
        let ready = drmysql.status.as_ref().is_some_and(|status| {
            let condition = status
                .conditions
                .iter()
                .any(|condition| condition.type_ == names::condition::READY && condition.status == "True");
            condition && status.instances.len() == 3 && status.instances.iter().all(|instance| instance.ready)
        });
        if ready {
            Ok(drmysql)
        } else {
            Err(format!(
                "{:?}",
                drmysql.status.map(|status| (status.conditions, status.instances))
            ))
        }
    })
    .await
}

/// The server at `address` as root, from the host node: the ids in
/// `drill.writes`.
async fn ids_on(sandbox: &Sandbox, address: IpAddr) -> Result<std::collections::BTreeSet<u64>, SandboxError> {
    let rows = sandbox
        .sql(NAMESPACE, NAME, address, &["SELECT id FROM drill.writes"])
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.into_iter().next().flatten())
        .filter_map(|id| id.parse().ok())
        .collect())
}

/// Keeps `slot` at the writer Service's single ready endpoint (`None`
/// while it has none or several), every 50 ms, until `stop`.
async fn follow_writer_endpoint(
    client: kube::Client,
    slot: Arc<RwLock<Option<IpAddr>>>,
    stop: Arc<AtomicBool>,
) {
    let api: Api<EndpointSlice> = Api::namespaced(client, NAMESPACE);
    let selector = format!("kubernetes.io/service-name={NAME}-primary");
    while !stop.load(Ordering::SeqCst) {
        if let Ok(slices) = api.list(&ListParams::default().labels(&selector)).await {
            let ready: Vec<IpAddr> = slices
                .items
                .into_iter()
                .flat_map(|slice| slice.endpoints.unwrap_or_default())
                .filter(|endpoint| {
                    endpoint
                        .conditions
                        .as_ref()
                        .and_then(|conditions| conditions.ready)
                        .unwrap_or(false)
                })
                .flat_map(|endpoint| endpoint.addresses)
                .filter_map(|address| address.parse().ok())
                .collect();
            if let Ok(mut current) = slot.write() {
                *current = match ready.as_slice() {
                    [one] => Some(*one),
                    _ => None,
                };
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Applies the drill's DRMySQL on `sandbox` (started with [`MEMBERS`]),
/// runs `config.trials` trials and reports them. Errors only when the
/// drill cannot start; a trial that cannot complete is reported as failed,
/// and the drill stops there (the DRMySQL is in no state for another).
pub async fn run(sandbox: &Sandbox, config: &DrillConfig) -> Result<Report, SandboxError> {
    let object = drmysql_object(sandbox, config)?;
    sandbox.apply_drmysql(&object).await?;
    let ready = wait_ready(sandbox, Duration::from_secs(180)).await?;
    let primary = ready
        .status
        .as_ref()
        .and_then(|status| status.current_primary.clone())
        .ok_or_else(|| SandboxError::Invariant("the drill's DRMySQL has no primary".to_owned()))?;
    let primary_ip = sandbox.pod_ip(NAMESPACE, &primary).await?;
    let create_user = format!("CREATE USER IF NOT EXISTS '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}'");
    let grant = format!("GRANT SELECT, INSERT ON drill.* TO '{APP_USER}'@'%'");
    sandbox
        .sql(
            NAMESPACE,
            NAME,
            primary_ip,
            &[
                "CREATE DATABASE IF NOT EXISTS drill",
                "CREATE TABLE IF NOT EXISTS drill.writes (id BIGINT UNSIGNED PRIMARY KEY, note VARCHAR(16))",
                &create_user,
                &grant,
            ],
        )
        .await?;

    let endpoint = Arc::new(RwLock::new(None));
    let stop = Arc::new(AtomicBool::new(false));
    let follower = tokio::spawn(follow_writer_endpoint(
        sandbox.host_client(),
        Arc::clone(&endpoint),
        Arc::clone(&stop),
    ));
    let target = WriterTarget {
        netns: sandbox.host_netns().to_owned(),
        user: APP_USER.to_owned(),
        password: APP_PASSWORD.to_owned(),
        endpoint,
    };
    // Ids go on from the largest already written (a second drill on the
    // same DRMySQL).
    let largest = sandbox
        .sql(
            NAMESPACE,
            NAME,
            primary_ip,
            &["SELECT COALESCE(MAX(id), 0) FROM drill.writes"],
        )
        .await?
        .into_iter()
        .next()
        .and_then(|row| row.into_iter().next().flatten())
        .and_then(|largest| largest.parse::<u64>().ok())
        .unwrap_or(0);
    let ids = Arc::new(AtomicU64::new(largest + 1));
    let mut trials: Vec<Trial> = Vec::new();
    for index in 1..=config.trials {
        let trial = trial::run(sandbox, config, &target, Arc::clone(&ids), index).await;
        println!("{}", trial::describe(&trial));
        let failed = trial.error.is_some();
        trials.push(trial);
        if failed {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let _ = follower.await;
    Ok(Report::new(
        config.fault.name(),
        match config.mode {
            ReplicationMode::Async => "Async",
            ReplicationMode::Lossless => "Lossless",
        },
        config.detection_seconds,
        config.writers,
        u64::try_from(config.write_pause.as_millis()).unwrap_or(u64::MAX),
        trials,
    ))
}
