//! What the sandbox scenarios share: starting a sandbox (failing with what
//! the machine lacks), reading a DRMySQL's status, conditions, Events,
//! EndpointSlices and the controller's metrics, and waiting for a state
//! with the sandbox's logs in the failure message.
//!
//! Nothing here knows whether the host API is the simulator or a real API
//! server (`DRMYSQL_E2E_KUBECONFIG`).

#![allow(dead_code, reason = "each scenario uses a different part")]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use drmysql_api::drmysql::DRMySQL;
use drmysql_e2e::sandbox::error::SandboxError;
use drmysql_e2e::sandbox::{Sandbox, SandboxConfig, wait};
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ListParams};

/// Starts a sandbox from the environment, or fails the test saying why.
pub async fn start() -> Sandbox {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
    match Sandbox::start(SandboxConfig::from_env()).await {
        Ok(sandbox) => sandbox,
        Err(error) => panic!("the sandbox did not start: {error}"),
    }
}

/// Unwraps a sandbox result, failing with the error and the components' logs.
pub fn check<T>(sandbox: &Sandbox, result: Result<T, SandboxError>) -> T {
    result.unwrap_or_else(|error| {
        panic!(
            "{error}\n\nthe components' logs end:\n{}\n\nthe Pods' containers' logs end:\n{}",
            sandbox.component_logs(15),
            sandbox.pod_logs(15)
        )
    })
}

/// Tears the sandbox down, failing if anything was left behind.
pub async fn finish(sandbox: Sandbox) {
    if let Err(error) = sandbox.shutdown().await {
        panic!("the sandbox did not shut down cleanly: {error}");
    }
}

/// DRMySQL `namespace/name`.
pub async fn get(sandbox: &Sandbox, namespace: &str, name: &str) -> Result<DRMySQL, String> {
    Api::<DRMySQL>::namespaced(sandbox.host_client(), namespace)
        .get(name)
        .await
        .map_err(|error| error.to_string())
}

/// Condition `kind` of `drmysql`.
pub fn condition<'a>(drmysql: &'a DRMySQL, kind: &str) -> Option<&'a Condition> {
    drmysql
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|condition| condition.type_ == kind)
}

/// Whether condition `kind` has `status` (`True`/`False`).
pub fn has(drmysql: &DRMySQL, kind: &str, status: &str) -> bool {
    condition(drmysql, kind).is_some_and(|condition| condition.status == status)
}

/// A one-line account of the status, for failure messages.
pub fn describe(drmysql: &DRMySQL) -> String {
    let Some(status) = &drmysql.status else {
        return "no status".to_owned();
    };
    let conditions: Vec<String> = status
        .conditions
        .iter()
        .map(|c| format!("{}={} ({}: {})", c.type_, c.status, c.reason, c.message))
        .collect();
    format!(
        "phase {:?}, primary {:?}, lag {:?}, tunnel {:?}, conditions [{}], instances {:?}",
        status.phase,
        status.current_primary,
        status.lag,
        status.tunnel_state,
        conditions.join("; "),
        status.instances
    )
}

/// Waits until `predicate` holds for DRMySQL `namespace/name`.
pub async fn wait_for(
    sandbox: &Sandbox,
    namespace: &str,
    name: &str,
    what: &str,
    limit: Duration,
    predicate: impl Fn(&DRMySQL) -> bool,
) -> DRMySQL {
    let predicate = &predicate;
    let result = wait::until(what, limit, || async move {
        let drmysql = get(sandbox, namespace, name).await?;
        if predicate(&drmysql) {
            Ok(drmysql)
        } else {
            Err(describe(&drmysql))
        }
    })
    .await;
    check(sandbox, result)
}

/// The core/v1 Events about DRMySQL `namespace/name`, as `reason: message`.
pub async fn events(sandbox: &Sandbox, namespace: &str, name: &str) -> Vec<(String, String)> {
    let api: Api<Event> = Api::namespaced(sandbox.host_client(), namespace);
    let selector = format!("involvedObject.name={name},involvedObject.kind=DRMySQL");
    api.list(&ListParams::default().fields(&selector))
        .await
        .unwrap_or_else(|error| panic!("Events of {namespace}/{name} cannot be listed: {error}"))
        .items
        .into_iter()
        .map(|event| {
            (
                event.reason.unwrap_or_default(),
                event.message.unwrap_or_default(),
            )
        })
        .collect()
}

/// The endpoints of Service `namespace/service`: address → ready.
pub async fn endpoints(sandbox: &Sandbox, namespace: &str, service: &str) -> BTreeMap<IpAddr, bool> {
    check(sandbox, sandbox.endpoints(namespace, service).await)
}

/// Waits until `address` is (`ready`) or is not (`!ready`) a ready endpoint
/// of Service `namespace/service`.
pub async fn wait_endpoint(sandbox: &Sandbox, namespace: &str, service: &str, address: IpAddr, ready: bool) {
    let what = if ready {
        format!("{address} a ready endpoint of {service}")
    } else {
        format!("{address} out of the ready endpoints of {service}")
    };
    let result = wait::until(&what, Duration::from_secs(30), || async {
        let endpoints = endpoints(sandbox, namespace, service).await;
        if (endpoints.get(&address) == Some(&true)) == ready {
            Ok(())
        } else {
            Err(format!("{endpoints:?}"))
        }
    })
    .await;
    check(sandbox, result);
}

/// Applies `example` and waits until the DRMySQL is Ready.
pub async fn apply_and_wait_ready(sandbox: &Sandbox, example: &serde_json::Value) -> DRMySQL {
    check(sandbox, sandbox.apply_drmysql(example).await);
    let namespace = example["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = example["metadata"]["name"].as_str().unwrap_or_default();
    wait_for(
        sandbox,
        namespace,
        name,
        "Ready",
        Duration::from_secs(90),
        |drmysql| has(drmysql, drmysql_api::names::condition::READY, "True"),
    )
    .await
}

/// The controller's metrics: series → value.
pub async fn metrics(sandbox: &Sandbox) -> BTreeMap<String, f64> {
    let address = sandbox.controller_metrics_address();
    let body = drmysql_e2e::sandbox::http::get(address, "/metrics")
        .await
        .unwrap_or_else(|error| panic!("the controller's metrics: {error}"));
    drmysql_e2e::sandbox::http::parse_metrics(&body)
}

/// The value of the series of `name` whose labels include every `labels` pair.
pub fn series(metrics: &BTreeMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.iter().find_map(|(series, value)| {
        let rest = series.strip_prefix(name)?;
        let matches = rest.starts_with('{')
            && labels
                .iter()
                .all(|(key, wanted)| rest.contains(&format!("{key}=\"{wanted}\"")));
        matches.then_some(*value)
    })
}

/// The DRMySQL's instance Pods, name → (node, IP).
pub async fn placement(
    sandbox: &Sandbox,
    namespace: &str,
    name: &str,
) -> BTreeMap<String, (String, Option<IpAddr>)> {
    let pods = check(sandbox, sandbox.instance_pods(namespace, name).await);
    pods.into_iter()
        .map(|pod| {
            let node = pod
                .spec
                .as_ref()
                .and_then(|spec| spec.node_name.clone())
                .unwrap_or_default();
            let ip = pod
                .status
                .as_ref()
                .and_then(|status| status.pod_ip.as_deref())
                .and_then(|ip| ip.parse().ok());
            (pod.metadata.name.unwrap_or_default(), (node, ip))
        })
        .collect()
}

/// Writes row `id` through the writer Service's endpoint and waits until the
/// replica at `replica` has it; returns how long replication took.
pub async fn write_and_replicate(
    sandbox: &Sandbox,
    namespace: &str,
    name: &str,
    replica: IpAddr,
    id: u32,
) -> Duration {
    let writer = wait::until("a ready writer endpoint", Duration::from_secs(30), || async {
        sandbox
            .ready_endpoint(namespace, &format!("{name}-primary"))
            .await
            .map_err(|error| error.to_string())
    })
    .await;
    let writer = check(sandbox, writer);
    let insert = format!("INSERT INTO sandbox.rows (id, note) VALUES ({id}, 'row {id}')");
    check(
        sandbox,
        sandbox
            .sql(
                namespace,
                name,
                writer,
                &[
                    "CREATE DATABASE IF NOT EXISTS sandbox",
                    "CREATE TABLE IF NOT EXISTS sandbox.rows (id INT PRIMARY KEY, note VARCHAR(64))",
                    &insert,
                ],
            )
            .await,
    );
    let written = std::time::Instant::now();
    let select = format!("SELECT note FROM sandbox.rows WHERE id = {id}");
    let seen = wait::until(
        &format!("row {id} on the replica {replica}"),
        Duration::from_secs(30),
        || {
            let select = select.clone();
            async move {
                let rows = sandbox
                    .sql(namespace, name, replica, &[&select])
                    .await
                    .map_err(|error| error.to_string())?;
                if rows.is_empty() {
                    Err("not there yet".to_owned())
                } else {
                    Ok(())
                }
            }
        },
    )
    .await;
    check(sandbox, seen);
    written.elapsed()
}

/// The newest `status.history` record of `kind`, if any.
pub fn history_record(
    drmysql: &DRMySQL,
    kind: drmysql_api::drmysql::TransitionKind,
) -> Option<&drmysql_api::drmysql::FailoverRecord> {
    drmysql
        .status
        .as_ref()?
        .history
        .iter()
        .rev()
        .find(|record| record.kind == kind)
}

/// The `kubectl-drmysql` plugin beside the running test (same target
/// directory and profile), brought up to date by cargo, once it offers
/// `subcommand`; why not, when it cannot be built or lacks it.
pub fn plugin(subcommand: &str) -> Result<std::path::PathBuf, String> {
    let executable = std::env::current_exe().map_err(|error| format!("no current executable: {error}"))?;
    let mut profile_dir = executable
        .parent()
        .ok_or_else(|| format!("{} has no parent", executable.display()))?
        .to_path_buf();
    if profile_dir.file_name().is_some_and(|name| name == "deps") {
        profile_dir.pop();
    }
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| format!("{} has no parent", profile_dir.display()))?
        .to_path_buf();
    let profile = match profile_dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
    {
        Some(name) if name == "debug" => "dev".to_owned(),
        Some(name) => name,
        None => return Err(format!("{} has no name", profile_dir.display())),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let built = std::process::Command::new(cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args([
            "--package",
            "drmysql-cli",
            "--bin",
            "kubectl-drmysql",
            "--profile",
            &profile,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .map_err(|error| format!("cargo does not run: {error}"))?;
    if !built.status.success() {
        let stderr = String::from_utf8_lossy(&built.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        return Err(format!(
            "cargo build -p drmysql-cli failed ({}): {}",
            built.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    let binary = profile_dir.join("kubectl-drmysql");
    let help = std::process::Command::new(&binary)
        .args([subcommand, "--help"])
        .output()
        .map_err(|error| format!("{} does not run: {error}", binary.display()))?;
    if help.status.success() {
        Ok(binary)
    } else {
        Err(format!(
            "{} offers no `{subcommand}`: {}",
            binary.display(),
            String::from_utf8_lossy(&help.stderr).trim()
        ))
    }
}

/// How a request reached the controller.
#[derive(Debug)]
pub enum Requested {
    /// `kubectl drmysql ...` ran to its end (it waits for the outcome).
    Plugin {
        /// Whether it exited 0.
        success: bool,
        /// Its standard output.
        stdout: String,
        /// Its standard error (the progress lines).
        stderr: String,
        /// How long it ran.
        took: Duration,
    },
    /// The plugin was unavailable (the reason); the annotations were
    /// written through the API instead.
    Annotation(String),
}

impl Requested {
    /// A multi-line account, for the test's output.
    pub fn describe(&self) -> String {
        match self {
            Self::Plugin {
                success,
                stdout,
                stderr,
                took,
            } => format!(
                "kubectl drmysql exited {} after {:.1} s\n--- stdout\n{}\n--- stderr\n{}",
                if *success { "0" } else { "non-zero" },
                took.as_secs_f64(),
                stdout.trim_end(),
                stderr.trim_end()
            ),
            Self::Annotation(why) => {
                format!("annotation written through the API (plugin unavailable: {why})")
            }
        }
    }
}

/// Merges `annotations` into DRMySQL `namespace/name`'s metadata.
pub async fn annotate(sandbox: &Sandbox, namespace: &str, name: &str, annotations: &[(&str, &str)]) {
    let map: serde_json::Map<String, serde_json::Value> = annotations
        .iter()
        .map(|(key, value)| ((*key).to_owned(), serde_json::Value::from(*value)))
        .collect();
    let patch = serde_json::json!({"metadata": {"annotations": map}});
    Api::<DRMySQL>::namespaced(sandbox.host_client(), namespace)
        .patch(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap_or_else(|error| panic!("annotating DRMySQL {namespace}/{name}: {error}"));
}

/// How requests are made: with the plugin when it builds and offers the
/// subcommand, else by writing the annotations (the reason kept).
#[derive(Clone, Debug)]
pub enum Requester {
    /// The plugin's path.
    Plugin(std::path::PathBuf),
    /// Why the plugin cannot be used.
    Annotation(String),
}

impl Requester {
    /// Builds the plugin (before a scenario times anything) and checks that
    /// it offers `subcommand`.
    pub async fn for_subcommand(subcommand: &str) -> Self {
        let subcommand = subcommand.to_owned();
        match tokio::task::spawn_blocking(move || plugin(&subcommand)).await {
            Ok(Ok(binary)) => Self::Plugin(binary),
            Ok(Err(why)) => Self::Annotation(why),
            Err(error) => Self::Annotation(format!("the build thread failed: {error}")),
        }
    }

    /// Asks the controller with `kubectl drmysql <plugin_args>` against the
    /// sandbox's host API (waiting for the outcome, up to 120 s), or writes
    /// `annotations` on DRMySQL `namespace/name`.
    pub async fn request(
        &self,
        sandbox: &Sandbox,
        namespace: &str,
        name: &str,
        plugin_args: &[&str],
        annotations: &[(&str, &str)],
    ) -> Requested {
        let binary = match self {
            Self::Plugin(binary) => binary,
            Self::Annotation(why) => {
                annotate(sandbox, namespace, name, annotations).await;
                return Requested::Annotation(why.clone());
            }
        };
        let began = std::time::Instant::now();
        let run = tokio::process::Command::new(binary)
            .arg("--kubeconfig")
            .arg(sandbox.host_kubeconfig())
            .args(["-n", namespace])
            .args(plugin_args)
            .args(["--timeout", "120s"])
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(150), run)
            .await
            .unwrap_or_else(|_| panic!("kubectl drmysql {plugin_args:?} ran for more than 150 s"))
            .unwrap_or_else(|error| panic!("{} does not run: {error}", binary.display()));
        Requested::Plugin {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            took: began.elapsed(),
        }
    }
}

/// The `drmysql.io/role` label of each of DRMySQL `namespace/name`'s Pods.
pub async fn role_labels(sandbox: &Sandbox, namespace: &str, name: &str) -> BTreeMap<String, Option<String>> {
    check(sandbox, sandbox.instance_pods(namespace, name).await)
        .into_iter()
        .map(|pod| {
            let role = pod
                .metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(drmysql_api::names::LABEL_ROLE))
                .cloned();
            (pod.metadata.name.unwrap_or_default(), role)
        })
        .collect()
}

/// The source (`Master_Host`) the server at `address` replicates from, and
/// its IO and SQL thread states, from `SHOW SLAVE STATUS` (MariaDB's column
/// order: `Slave_IO_State`, `Master_Host`, ...); `None` when it is no replica.
pub async fn replication_source(
    sandbox: &Sandbox,
    namespace: &str,
    name: &str,
    address: IpAddr,
) -> Result<Option<(String, String, String)>, String> {
    let rows = sandbox
        .sql(namespace, name, address, &["SHOW SLAVE STATUS"])
        .await
        .map_err(|error| error.to_string())?;
    Ok(rows.first().map(|row| {
        let column = |index: usize| row.get(index).cloned().flatten().unwrap_or_default();
        // Slave_IO_Running and Slave_SQL_Running are the 11th and 12th columns.
        (column(1), column(10), column(11))
    }))
}

/// The ids of `sandbox.rows` on the server at `address`.
pub async fn row_ids(
    sandbox: &Sandbox,
    namespace: &str,
    name: &str,
    address: IpAddr,
) -> Result<std::collections::BTreeSet<u64>, String> {
    let rows = sandbox
        .sql(namespace, name, address, &["SELECT id FROM sandbox.rows"])
        .await
        .map_err(|error| error.to_string())?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.into_iter().next().flatten())
        .filter_map(|id| id.parse().ok())
        .collect())
}

/// The core/v1 Events about DRMySQL `namespace/name`, as `(reason, message,
/// when)`, oldest first; `when` is when it was last seen: its series' last
/// observation (a repeated Event is a series of the first one, which keeps
/// the first message), else its last timestamp, event time or first
/// timestamp.
pub async fn events_timed(
    sandbox: &Sandbox,
    namespace: &str,
    name: &str,
) -> Vec<(String, String, Option<chrono::DateTime<chrono::Utc>>)> {
    let api: Api<Event> = Api::namespaced(sandbox.host_client(), namespace);
    let selector = format!("involvedObject.name={name},involvedObject.kind=DRMySQL");
    let mut events: Vec<(String, String, Option<chrono::DateTime<chrono::Utc>>)> = api
        .list(&ListParams::default().fields(&selector))
        .await
        .unwrap_or_else(|error| panic!("Events of {namespace}/{name} cannot be listed: {error}"))
        .items
        .into_iter()
        .map(|event| {
            let when = event
                .series
                .and_then(|series| series.last_observed_time)
                .map(|time| time.0)
                .or(event.last_timestamp.map(|time| time.0))
                .or(event.event_time.map(|time| time.0))
                .or(event.first_timestamp.map(|time| time.0))
                .and_then(|time| {
                    let nanos = u32::try_from(time.subsec_nanosecond()).ok()?;
                    chrono::DateTime::from_timestamp(time.as_second(), nanos)
                });
            (
                event.reason.unwrap_or_default(),
                event.message.unwrap_or_default(),
                when,
            )
        })
        .collect();
    events.sort_by_key(|(_, _, when)| *when);
    events
}

/// Asserts that the DRMySQL's Events include every reason in `wanted` and
/// none in `unwanted`.
pub async fn assert_events(
    sandbox: &Sandbox,
    namespace: &str,
    name: &str,
    wanted: &[&str],
    unwanted: &[&str],
) {
    let reasons: Vec<String> = events(sandbox, namespace, name)
        .await
        .into_iter()
        .map(|(reason, _)| reason)
        .collect();
    for reason in wanted {
        assert!(
            reasons.iter().any(|seen| seen == reason),
            "{reason} in {reasons:?}"
        );
    }
    for reason in unwanted {
        assert!(
            !reasons.iter().any(|seen| seen == reason),
            "{reason} not in {reasons:?}"
        );
    }
}

/// Waits until `instance` is listed as a replica with its IO thread running:
/// a former primary that rejoined.
pub async fn wait_rejoined(
    sandbox: &Sandbox,
    namespace: &str,
    name: &str,
    instance: &str,
    limit: Duration,
) -> DRMySQL {
    wait_for(
        sandbox,
        namespace,
        name,
        &format!("{instance} rejoined as a replica"),
        limit,
        |drmysql| {
            drmysql.status.as_ref().is_some_and(|status| {
                status.instances.iter().any(|listed| {
                    listed.name == instance
                        && listed.role == Some(drmysql_api::drmysql::InstanceRole::Replica)
                        && listed.io_thread == Some(drmysql_api::drmysql::ThreadState::Running)
                })
            })
        },
    )
    .await
}

/// Inserts row `id` into `sandbox.rows` through the writer Service's ready
/// endpoint, unless that is `not_on` (root may write even a read-only
/// server, and a row written on an old primary would be an errant
/// transaction); returns where it was written.
pub async fn try_write(
    sandbox: &Sandbox,
    namespace: &str,
    name: &str,
    id: u32,
    not_on: Option<std::net::IpAddr>,
) -> Result<std::net::IpAddr, String> {
    let writer = sandbox
        .ready_endpoint(namespace, &format!("{name}-primary"))
        .await
        .map_err(|error| error.to_string())?;
    if not_on == Some(writer) {
        return Err(format!("the writer endpoint is still the old primary {writer}"));
    }
    let insert = format!("INSERT INTO sandbox.rows (id, note) VALUES ({id}, 'after failover')");
    sandbox
        .sql(namespace, name, writer, &[&insert])
        .await
        .map_err(|error| error.to_string())?;
    Ok(writer)
}
