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
