//! The README's main job: one command that shows drmysql doing its work on
//! one machine. It brings up the sandbox (two clusters, the agents, the
//! network manager, discovery and the controller), applies the example
//! DRMySQL, prints a live status table (roles, nodes, Pod IPs, lag, tunnel
//! RTT), writes rows through the writer endpoint and shows them on the
//! replica, then runs a failover drill: the primary's `mysqld` is killed
//! (and every restart of it while it is still the primary: a crash loop),
//! and the time from the kill to the first write accepted on the new primary
//! is printed. Everything is torn down at the end, also on Ctrl-C.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use drmysql_api::drmysql::{DRMySQL, InstanceRole, ThreadState};
use drmysql_api::names::condition;
use kube::api::Api;

use crate::sandbox::error::SandboxError;
use crate::sandbox::{Sandbox, SandboxConfig};

/// The demo's DRMySQL.
const NAMESPACE: &str = "demo";
const NAME: &str = "orders";
/// How long the DRMySQL gets to become Ready.
const READY_LIMIT: Duration = Duration::from_secs(120);

/// What the demo does.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// How long the live table runs once the DRMySQL is Ready.
    pub watch: Duration,
    /// Rows written through the writer endpoint.
    pub rows: u32,
    /// Whether to run the failover drill at the end.
    pub failover_drill: bool,
}

/// How long the drill waits for a write to be accepted on a new primary.
const DRILL_LIMIT: Duration = Duration::from_secs(60);

/// Runs the demo; the sandbox is torn down however it ends.
pub async fn run(options: DemoOptions) -> Result<(), SandboxError> {
    println!(
        "drmysql demo: starting the sandbox (network namespaces, API simulators, nodes, agents, controller)..."
    );
    let started = Instant::now();
    let sandbox = Sandbox::start(SandboxConfig::from_env()).await?;
    println!(
        "sandbox up in {:.1} s; logs and kubeconfigs in {} (kubectl --kubeconfig {})",
        started.elapsed().as_secs_f64(),
        sandbox.work_dir().display(),
        sandbox.host_kubeconfig().display()
    );
    let outcome = tokio::select! {
        outcome = show(&sandbox, &options) => outcome,
        _ = tokio::signal::ctrl_c() => {
            println!("\ninterrupted: tearing down");
            Ok(())
        }
    };
    let teardown = sandbox.shutdown().await;
    println!("sandbox torn down");
    outcome.and(teardown)
}

async fn show(sandbox: &Sandbox, options: &DemoOptions) -> Result<(), SandboxError> {
    let example = sandbox.example(NAMESPACE, NAME)?;
    println!(
        "\napplying DRMySQL {NAMESPACE}/{NAME} (examples/mysql/drmysql-basic.yaml): primary on {}, replica on {}",
        example["spec"]["primary"]["node"].as_str().unwrap_or_default(),
        example["spec"]["replicas"][0]["node"]
            .as_str()
            .unwrap_or_default()
    );
    let applied = Instant::now();
    sandbox.apply_drmysql(&example).await?;
    let api: Api<DRMySQL> = Api::namespaced(sandbox.host_client(), NAMESPACE);
    let mut ready_at = None;
    loop {
        let drmysql = api
            .get(NAME)
            .await
            .map_err(SandboxError::kube("reading the demo DRMySQL"))?;
        println!(
            "\n[{:>5.1} s]\n{}",
            applied.elapsed().as_secs_f64(),
            render(&drmysql)
        );
        let ready = is_ready(&drmysql);
        match (ready, ready_at) {
            (true, None) => {
                println!(
                    "Ready {:.1} s after it was applied",
                    applied.elapsed().as_secs_f64()
                );
                ready_at = Some(Instant::now());
            }
            (false, None) if applied.elapsed() > READY_LIMIT => {
                return Err(SandboxError::Timeout {
                    what: "the demo DRMySQL Ready".to_owned(),
                    limit: READY_LIMIT,
                    last: format!("{}\n{}", render(&drmysql), sandbox.component_logs(10)),
                });
            }
            _ => {}
        }
        if ready_at.is_some_and(|at| at.elapsed() >= options.watch) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    write_and_read(sandbox, options.rows).await?;
    if options.failover_drill {
        failover_drill(sandbox).await?;
    }
    Ok(())
}

/// Kills the primary's `mysqld` and measures the time to the first write
/// accepted through the writer Service on the new primary.
async fn failover_drill(sandbox: &Sandbox) -> Result<(), SandboxError> {
    let api: Api<DRMySQL> = Api::namespaced(sandbox.host_client(), NAMESPACE);
    let current = |drmysql: &DRMySQL| {
        drmysql
            .status
            .as_ref()
            .and_then(|status| status.current_primary.clone())
            .unwrap_or_default()
    };
    let before = api
        .get(NAME)
        .await
        .map_err(SandboxError::kube("reading the demo DRMySQL"))?;
    let old = current(&before);
    let old_ip = sandbox.pod_ip(NAMESPACE, &old).await?;
    println!(
        "
failover drill: kill -9 the mysqld of the primary {old} (and each restart while it is the primary)"
    );
    let killed = Instant::now();
    if !sandbox.kill_mysqld(NAMESPACE, &old) {
        return Err(SandboxError::Invariant(format!("no running mysqld in {old}")));
    }
    let mut last = String::new();
    let writer = loop {
        if killed.elapsed() > DRILL_LIMIT {
            return Err(SandboxError::Timeout {
                what: "a write accepted on a new primary".to_owned(),
                limit: DRILL_LIMIT,
                last: format!("{last}\n{}", sandbox.component_logs(10)),
            });
        }
        let now = api
            .get(NAME)
            .await
            .map_err(SandboxError::kube("reading the demo DRMySQL"))?;
        if current(&now) == old {
            sandbox.kill_mysqld(NAMESPACE, &old);
        }
        match sandbox
            .ready_endpoint(NAMESPACE, &format!("{NAME}-primary"))
            .await
        {
            Ok(writer) if writer != old_ip => {
                let insert = "REPLACE INTO demo.orders (id, item) VALUES (0, 'written after the failover')";
                match sandbox.sql(NAMESPACE, NAME, writer, &[insert]).await {
                    Ok(_) => break writer,
                    Err(error) => last = error.to_string(),
                }
            }
            Ok(writer) => last = format!("the writer endpoint is still the old primary {writer}"),
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = killed.elapsed();
    let after = api
        .get(NAME)
        .await
        .map_err(SandboxError::kube("reading the demo DRMySQL"))?;
    println!(
        "failover drill: the first write was accepted on {} ({writer}) {:.0} ms after the kill",
        current(&after),
        took.as_secs_f64() * 1000.0
    );
    if let Some(record) = after.status.as_ref().and_then(|status| status.history.last()) {
        println!(
            "status.history: {:?} {} -> {} {:?} in {:.3} s, RPO estimate {}",
            record.kind,
            record.from,
            record.to,
            record.outcome,
            record.duration_seconds.unwrap_or_default(),
            record
                .rpo_seconds
                .map_or_else(|| "unknown".to_owned(), |rpo| format!("{rpo:.3} s"))
        );
    }
    // The table once the status lists the new roles.
    let settled = crate::sandbox::wait::until(
        "the status listing the new primary",
        Duration::from_secs(15),
        || async {
            let drmysql = api.get(NAME).await.map_err(|error| error.to_string())?;
            let promoted = current(&drmysql);
            let listed = drmysql.status.as_ref().is_some_and(|status| {
                status
                    .instances
                    .iter()
                    .any(|instance| instance.name == promoted && instance.role == Some(InstanceRole::Primary))
            });
            if listed {
                Ok(drmysql)
            } else {
                Err(render(&drmysql))
            }
        },
    )
    .await?;
    println!("\n{}", render(&settled));
    Ok(())
}

/// Writes rows through the writer Service's endpoint and reads them on the
/// replica, through the tunnel.
async fn write_and_read(sandbox: &Sandbox, rows: u32) -> Result<(), SandboxError> {
    // The Pod turns ready at its next readiness probe, a few seconds after
    // the DRMySQL is Ready.
    let writer = crate::sandbox::wait::until("a ready writer endpoint", Duration::from_secs(30), || async {
        sandbox
            .ready_endpoint(NAMESPACE, &format!("{NAME}-primary"))
            .await
            .map_err(|error| error.to_string())
    })
    .await?;
    let replica = sandbox.pod_ip(NAMESPACE, &format!("{NAME}-tencent")).await?;
    let mut statements = vec![
        "CREATE DATABASE IF NOT EXISTS demo".to_owned(),
        "CREATE TABLE IF NOT EXISTS demo.orders (id INT PRIMARY KEY, item VARCHAR(64), written_at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP(3))".to_owned(),
    ];
    statements.extend(
        (1..=rows).map(|id| format!("REPLACE INTO demo.orders (id, item) VALUES ({id}, 'order {id}')")),
    );
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    sandbox.sql(NAMESPACE, NAME, writer, &statements).await?;
    println!("\nwrote {rows} rows through the writer endpoint {writer} (Service {NAME}-primary)");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = sandbox
            .sql(
                NAMESPACE,
                NAME,
                replica,
                &["SELECT id, item, written_at FROM demo.orders ORDER BY id"],
            )
            .await?;
        if found.len() >= usize::try_from(rows).unwrap_or(usize::MAX) {
            println!("on the replica {replica}, across the tunnel:");
            for row in found {
                let cells: Vec<String> = row.into_iter().map(Option::unwrap_or_default).collect();
                println!("  {}", cells.join("  "));
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(SandboxError::Timeout {
                what: format!("{rows} rows on the replica"),
                limit: Duration::from_secs(30),
                last: format!("{} rows", found.len()),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn is_ready(drmysql: &DRMySQL) -> bool {
    drmysql.status.as_ref().is_some_and(|status| {
        status
            .conditions
            .iter()
            .any(|c| c.type_ == condition::READY && c.status == "True")
    })
}

/// The live status table: one line per instance, the tunnel checks, and the
/// conditions.
pub fn render(drmysql: &DRMySQL) -> String {
    let Some(status) = &drmysql.status else {
        return "  (no status yet)".to_owned();
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:<18} {:<8} {:<18} {:<12} {:<6} {:<9} {:<10}",
        "INSTANCE", "ROLE", "NODE", "POD-IP", "READY", "LAG", "IO/SQL"
    );
    for instance in &status.instances {
        let role = match instance.role {
            Some(InstanceRole::Primary) => "primary",
            Some(InstanceRole::Replica) => "replica",
            Some(InstanceRole::Fenced) => "fenced",
            Some(InstanceRole::Quarantined) => "quarant.",
            None => "-",
        };
        let lag = instance
            .lag_seconds
            .map_or_else(|| "-".to_owned(), |lag| format!("{lag:.2}s"));
        let thread = |state: Option<ThreadState>| match state {
            Some(ThreadState::Running) => "yes",
            Some(_) => "NO",
            None => "-",
        };
        let _ = writeln!(
            out,
            "  {:<18} {:<8} {:<18} {:<12} {:<6} {:<9} {}/{}",
            instance.name,
            role,
            instance.node.as_deref().unwrap_or("-"),
            instance.pod_ip.as_deref().unwrap_or("-"),
            if instance.ready { "yes" } else { "no" },
            lag,
            thread(instance.io_thread),
            thread(instance.sql_thread),
        );
    }
    for check in &status.tunnel {
        let result = match (check.reachable, check.rtt_ms) {
            (true, Some(rtt)) => format!("reachable, RTT {rtt:.2} ms"),
            (true, None) => "reachable".to_owned(),
            (false, _) => format!(
                "UNREACHABLE: {}",
                check.error.as_deref().unwrap_or("no reason given")
            ),
        };
        let _ = writeln!(out, "  tunnel {} -> {}: {result}", check.from, check.to);
    }
    let conditions: Vec<String> = status
        .conditions
        .iter()
        .map(|c| format!("{}={}", c.type_, c.status))
        .collect();
    let _ = write!(
        out,
        "  phase {:?}, primary {}, conditions: {}",
        status.phase,
        status.current_primary.as_deref().unwrap_or("-"),
        conditions.join(" ")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_roles_nodes_lag_and_the_tunnel() {
        let drmysql: DRMySQL = serde_json::from_value(serde_json::json!({
            "apiVersion": "drmysql.io/v1alpha1", "kind": "DRMySQL",
            "metadata": {"name": "orders", "namespace": "demo"},
            "spec": {"engine": {"image": "mariadb:11.4"}, "primary": {"name": "cloud-a", "node": "host-1"},
                     "replicas": [{"name": "tencent", "node": "kosmos-member-a"}]},
            "status": {
                "phase": "Running", "currentPrimary": "orders-cloud-a",
                "instances": [
                    {"name": "orders-cloud-a", "role": "Primary", "node": "host-1", "podIP": "10.10.1.2", "ready": true},
                    {"name": "orders-tencent", "role": "Replica", "node": "kosmos-member-a", "podIP": "10.20.1.2",
                     "ready": true, "lagSeconds": 0.25, "ioThread": "Running", "sqlThread": "Running"}
                ],
                "tunnel": [{"from": "orders-tencent", "to": "orders-cloud-a", "reachable": true, "rttMs": 0.4,
                            "checkedAt": "2026-11-23T00:00:00Z"}],
                "conditions": [{"type": "Ready", "status": "True", "reason": "AllHealthy", "message": "",
                                "lastTransitionTime": "2026-11-23T00:00:00Z"}]
            }
        }))
        .expect("a DRMySQL");
        let table = render(&drmysql);
        assert!(table.contains("orders-tencent"), "{table}");
        assert!(table.contains("kosmos-member-a"), "{table}");
        assert!(table.contains("0.25s"), "{table}");
        assert!(table.contains("yes/yes"), "{table}");
        assert!(table.contains("RTT 0.40 ms"), "{table}");
        assert!(table.contains("Ready=True"), "{table}");
    }
}
