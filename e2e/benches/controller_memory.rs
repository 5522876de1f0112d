//! Memory of the real `drmysql controller` process at scale (issue 4: at 500
//! DRMySQL objects, with their Pods and Services, it must stay under 64 MiB
//! RSS).
//!
//! For each object count, a fresh API simulator on 127.0.0.1 gets the
//! repository's CRDs, five namespaces, four Ready host Nodes and four Ready
//! Kosmos virtual Nodes (tainted), and the DRMySQLs: `examples/mysql/
//! drmysql-basic.yaml` renamed, a primary on a host Node and one replica on a
//! virtual Node. Then the optimised `drmysql controller --leader-election=false`
//! starts as a child process against the simulator's kubeconfig. The bench
//! waits until every DRMySQL carries the finalizer and a status of its
//! generation and every object the controller builds exists (Secrets,
//! ConfigMaps, PVCs, Services, Pods, compared with what `build` yields), then
//! until the simulator's resourceVersion stands still (nothing is written any
//! more), and samples the process's `/proc/<pid>/status` every second: VmRSS
//! (median and maximum), VmHWM (the peak since start, the initial reconcile
//! included), RssAnon, RssFile and threads. Over the same window it reads the
//! reconcile rate and failures from the controller's `/metrics`, its CPU time
//! from `/proc/<pid>/task/*/schedstat`, and the simulator's writes.
//!
//! No kubelet runs, so the Pods never get an IP: the controller cannot reach
//! MySQL, reports each instance as "the Pod has no IP yet" and requeues every
//! resync (`--resync-seconds`, 10 s). The series of counts (default 0, 100,
//! 250 and 500) shows the fixed cost and the cost per object.
//!
//! Run with `cargo bench -p drmysql-e2e --bench controller_memory`;
//! `DRMYSQL_BENCH_OBJECTS` sets the counts (comma-separated),
//! `DRMYSQL_BENCH_SAMPLE_SECONDS` the steady-state window (default 30).
//! The controller's logs go to a temporary directory, printed in part when
//! something fails.

#[path = "../tests/apiserver_support/mod.rs"]
mod apiserver_support;
#[path = "../tests/controller_support/mod.rs"]
mod controller_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use controller_support::{
    ControllerProcess, create_namespace, create_ready_nodes, drmysql, metric, metric_sum,
};
use drmysql_api::drmysql::DRMySQL;
use drmysql_api::names;
use drmysql_controller::build::{BuildContext, build};
use drmysql_controller::reconcile::observe::current_primary;
use drmysql_e2e::kubelet::drmysql_binary_rebuilt;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use kube::Resource;
use kube::api::{Api, ListParams, PostParams};
use nix::sys::signal::Signal;
use serde::de::DeserializeOwned;

const MIB: f64 = 1024.0 * 1024.0;
const TARGET_MIB: f64 = 64.0;
const TARGET_OBJECTS: usize = 500;
const SIDECAR_IMAGE: &str = "drmysql:bench";
const HOST_NODES: usize = 4;
/// How long the simulator's resourceVersion must stand still to call the
/// controller settled.
const QUIET: Duration = Duration::from_secs(5);

fn main() {
    let counts: Vec<usize> = std::env::var("DRMYSQL_BENCH_OBJECTS")
        .unwrap_or_else(|_| "0,100,250,500".to_owned())
        .split(',')
        .map(|count| {
            count
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("DRMYSQL_BENCH_OBJECTS holds `{count}`, not a count"))
        })
        .collect();
    let sample_seconds: u64 = std::env::var("DRMYSQL_BENCH_SAMPLE_SECONDS")
        .map(|text| {
            text.parse()
                .unwrap_or_else(|_| panic!("DRMYSQL_BENCH_SAMPLE_SECONDS holds `{text}`, not seconds"))
        })
        .unwrap_or(30);
    let per_namespace: usize = std::env::var("DRMYSQL_BENCH_PER_NAMESPACE")
        .map(|text| {
            text.parse()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| panic!("DRMYSQL_BENCH_PER_NAMESPACE holds `{text}`, not a positive count"))
        })
        .unwrap_or(1);
    let hold = std::env::var("DRMYSQL_BENCH_HOLD_SECONDS").ok().map(|text| {
        Duration::from_secs(
            text.parse()
                .unwrap_or_else(|_| panic!("DRMYSQL_BENCH_HOLD_SECONDS holds `{text}`, not seconds")),
        )
    });
    let binary = drmysql_binary_rebuilt().expect("the drmysql binary");
    let profile = binary
        .parent()
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(
        profile == "release",
        "{} is a `{profile}` build; run this bench with `cargo bench` so that the controller is the optimised one",
        binary.display()
    );
    println!(
        "drmysql controller memory benchmark: {counts:?} DRMySQLs, {sample_seconds} s of steady state each (binary: target/{profile}/drmysql)"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut results = Vec::new();
    for count in counts {
        let result = runtime.block_on(measure(
            &binary,
            count,
            per_namespace,
            Duration::from_secs(sample_seconds),
            hold,
        ));
        result.print_progress();
        results.push(result);
    }
    report(&results);
}

/// What one object count gave.
struct Measurement {
    objects: usize,
    counts: BTreeMap<&'static str, usize>,
    created_in: Duration,
    reconciled_in: Duration,
    settled_in: Duration,
    rss: Summary,
    rss_first_last: (f64, f64),
    rss_anon: Summary,
    rss_file: Summary,
    hwm: f64,
    threads: usize,
    sockets: Summary,
    reconcile_rate: f64,
    failures_in_window: f64,
    failures_total: f64,
    cpu_percent: f64,
    writes_in_window: u64,
    warnings: usize,
    sample_seconds: f64,
}

impl Measurement {
    fn print_progress(&self) {
        println!(
            "  {} DRMySQLs: reconciled in {:.1} s, steady VmRSS median {:.1} MiB (max {:.1}), VmHWM {:.1} MiB, {:.1} reconciles/s",
            self.objects,
            self.reconciled_in.as_secs_f64(),
            self.rss.median,
            self.rss.max,
            self.hwm,
            self.reconcile_rate
        );
    }
}

async fn measure(
    binary: &Path,
    objects: usize,
    per_namespace: usize,
    window: Duration,
    hold: Option<Duration>,
) -> Measurement {
    let (server, client) = apiserver_support::start().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig written");

    let namespace_count = objects.div_ceil(per_namespace).max(1);
    let namespaces: Vec<String> = (0..namespace_count).map(|n| format!("bench-{n:03}")).collect();
    for namespace in &namespaces {
        create_namespace(&client, namespace).await;
    }
    let hosts: Vec<String> = (0..HOST_NODES).map(|n| format!("host-{n}")).collect();
    let virtual_nodes: Vec<String> = (0..HOST_NODES).map(|n| format!("kosmos-member-{n}")).collect();
    create_ready_nodes(&client, &hosts, &virtual_nodes).await;

    let created = Instant::now();
    let manifests: Vec<DRMySQL> = (0..objects)
        .map(|i| {
            drmysql(
                &namespaces[i / per_namespace],
                &format!("db-{i:04}"),
                &hosts[i % HOST_NODES],
                &virtual_nodes[i % HOST_NODES],
            )
        })
        .collect();
    let stored: Vec<DRMySQL> = futures::stream::iter(manifests)
        .map(|manifest| {
            let api: Api<DRMySQL> = Api::namespaced(
                client.clone(),
                manifest.metadata.namespace.as_deref().unwrap_or_default(),
            );
            async move { api.create(&PostParams::default(), &manifest).await }
        })
        .buffer_unordered(8)
        .try_collect()
        .await
        .expect("every DRMySQL is created");
    let created_in = created.elapsed();
    let expected = expected_counts(&stored);

    let started = Instant::now();
    let mut controller = ControllerProcess::start_with_image(
        binary,
        &kubeconfig,
        dir.path(),
        "controller",
        SIDECAR_IMAGE,
        &["--leader-election=false"],
    );
    controller.wait_serving(Duration::from_secs(30)).await;

    // Everything reconciled. The simulator runs its controllers after every
    // write under its one lock, from the changes since their last round: the
    // first reconcile of 500 DRMySQLs takes 10 to 15 s on a shared 2-core
    // machine; the limit leaves room for a much busier one.
    let limit = Duration::from_secs(60) + Duration::from_secs(3) * u32::try_from(objects).unwrap_or(u32::MAX);
    let drmysqls: Api<DRMySQL> = Api::all(client.clone());
    let mut last_seen = (0, BTreeMap::new());
    let (reconciled_in, counts) = loop {
        controller.assert_running();
        let list = drmysqls
            .list(&ListParams::default())
            .await
            .expect("DRMySQLs listed");
        let done = list.items.iter().filter(|object| reconciled(object)).count();
        if done == objects {
            let counts = count_owned(&client).await;
            if counts == expected {
                break (started.elapsed(), counts);
            }
            last_seen = (done, counts);
        } else {
            last_seen.0 = done;
        }
        assert!(
            started.elapsed() < limit,
            "after {limit:?}, {} of {objects} DRMySQLs are reconciled and the owned objects are {:?} (expected {expected:?}); the controller's log ends:\n{}",
            last_seen.0,
            last_seen.1,
            controller.log_tail(30)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    // Settled: nothing written for a while.
    let settling = Instant::now();
    let mut version = server.resource_version().await;
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < QUIET {
        controller.assert_running();
        assert!(
            settling.elapsed() < Duration::from_secs(180),
            "the controller still writes after 180 s (resourceVersion {version}); its log ends:\n{}",
            controller.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = server.resource_version().await;
        if now != version {
            version = now;
            quiet_since = Instant::now();
        }
    }
    let settled_in = settling.elapsed();

    // Steady state.
    let pid = controller.pid();
    let metrics_before = controller.metrics().await.expect("the controller's metrics");
    let cpu_before = cpu_time(pid);
    let version_before = server.resource_version().await;
    let window_start = Instant::now();
    let mut samples = Vec::new();
    let mut next = Instant::now();
    while window_start.elapsed() < window {
        controller.assert_running();
        samples.push(proc_status(pid));
        next += Duration::from_secs(1);
        tokio::time::sleep_until(next.into()).await;
    }
    samples.push(proc_status(pid));
    let elapsed = window_start.elapsed().as_secs_f64();
    let cpu = cpu_time(pid) - cpu_before;
    let metrics_after = controller.metrics().await.expect("the controller's metrics");
    let writes_in_window = server.resource_version().await - version_before;
    let reconciles = metric(&metrics_after, "drmysql_reconciles_total").unwrap_or(0.0)
        - metric(&metrics_before, "drmysql_reconciles_total").unwrap_or(0.0);
    let failures_total = metric_sum(&metrics_after, "drmysql_reconcile_failures_total");
    let failures_in_window = failures_total - metric_sum(&metrics_before, "drmysql_reconcile_failures_total");

    controller.signal(Signal::SIGTERM);
    let status = controller.wait_exit(Duration::from_secs(20)).await;
    assert!(
        status.success(),
        "the controller exits 0 on SIGTERM, not {status}"
    );
    if let Some(hold) = hold {
        println!(
            "  holding the simulator with {objects} reconciled DRMySQLs for {hold:?}: KUBECONFIG={}",
            kubeconfig.display()
        );
        tokio::time::sleep(hold).await;
    }
    let log = std::fs::read_to_string(&controller.log).unwrap_or_default();
    let warnings = log.lines().filter(|line| line.contains(" WARN ")).count();
    if warnings > 0 {
        let first = log
            .lines()
            .find(|line| line.contains(" WARN "))
            .unwrap_or_default();
        println!("  {warnings} warnings in the controller's log, the first: {first}");
    }
    let mib = |key: &str| samples.iter().map(|sample| sample[key] / MIB).collect::<Vec<_>>();
    let rss = mib("VmRSS");
    Measurement {
        objects,
        counts,
        created_in,
        reconciled_in,
        settled_in,
        rss: Summary::of(rss.clone()),
        rss_first_last: (rss[0], rss[rss.len() - 1]),
        rss_anon: Summary::of(mib("RssAnon")),
        rss_file: Summary::of(mib("RssFile")),
        hwm: samples.iter().map(|sample| sample["VmHWM"]).fold(0.0, f64::max) / MIB,
        threads: samples.iter().map(|sample| sample["Threads"]).fold(0.0, f64::max) as usize,
        sockets: Summary::of(samples.iter().map(|sample| sample["Sockets"]).collect()),
        reconcile_rate: reconciles / elapsed,
        failures_in_window,
        failures_total,
        cpu_percent: cpu.as_secs_f64() / elapsed * 100.0,
        writes_in_window,
        warnings,
        sample_seconds: elapsed,
    }
}

/// Whether the controller has taken `object` over: finalizer, and a status of
/// its current generation.
fn reconciled(object: &DRMySQL) -> bool {
    let finalized = object
        .metadata
        .finalizers
        .as_ref()
        .is_some_and(|finalizers| finalizers.iter().any(|f| f == names::DRMYSQL_FINALIZER));
    let observed = object
        .status
        .as_ref()
        .and_then(|status| status.observed_generation);
    finalized && observed.is_some() && observed == object.metadata.generation
}

/// What the controller must create for `stored`: what `build` yields, and the
/// two generated Secrets (credentials and sidecar token) of each.
fn expected_counts(stored: &[DRMySQL]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::from([
        ("ConfigMaps", 0),
        ("PVCs", 0),
        ("Pods", 0),
        ("Secrets", 0),
        ("Services", 0),
    ]);
    for object in stored {
        let desired = build(
            object,
            &BuildContext {
                sidecar_image: SIDECAR_IMAGE.to_owned(),
                current_primary: current_primary(object),
                roles: Default::default(),
            },
        );
        *counts.entry("ConfigMaps").or_default() += desired.config_maps.len();
        *counts.entry("PVCs").or_default() += desired.persistent_volume_claims.len();
        *counts.entry("Pods").or_default() += desired.pods.len();
        *counts.entry("Services").or_default() += desired.services.len();
        let generated = if object.spec.credentials_secret.is_none() {
            2
        } else {
            1
        };
        *counts.entry("Secrets").or_default() += generated;
    }
    counts
}

/// How many objects labelled `app.kubernetes.io/managed-by=drmysql` exist, by kind.
async fn count_owned(client: &kube::Client) -> BTreeMap<&'static str, usize> {
    BTreeMap::from([
        ("ConfigMaps", count::<ConfigMap>(client).await),
        ("PVCs", count::<PersistentVolumeClaim>(client).await),
        ("Pods", count::<Pod>(client).await),
        ("Secrets", count::<Secret>(client).await),
        ("Services", count::<Service>(client).await),
    ])
}

async fn count<K>(client: &kube::Client) -> usize
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::all(client.clone());
    let selector = format!("app.kubernetes.io/managed-by={}", names::MANAGED_BY);
    api.list_metadata(&ListParams::default().labels(&selector))
        .await
        .unwrap_or_else(|error| {
            panic!(
                "{} cannot be listed: {error}",
                K::kind(&K::DynamicType::default())
            )
        })
        .items
        .len()
}

/// VmRSS, VmHWM, RssAnon and RssFile in bytes, and Threads, from
/// `/proc/<pid>/status`.
fn proc_status(pid: u32) -> BTreeMap<String, f64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let mut values = BTreeMap::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let mut words = value.split_whitespace();
        let (Some(number), unit) = (words.next().and_then(|n| n.parse::<f64>().ok()), words.next()) else {
            continue;
        };
        let bytes = if unit == Some("kB") {
            number * 1024.0
        } else {
            number
        };
        values.insert(key.to_owned(), bytes);
    }
    for key in ["VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"] {
        assert!(values.contains_key(key), "{path} has no {key}");
    }
    values.insert("Sockets".to_owned(), sockets(pid) as f64);
    values
}

/// How many sockets `pid` has open (its connections to the API server and
/// the metrics listener).
fn sockets(pid: u32) -> usize {
    let fds = format!("/proc/{pid}/fd");
    std::fs::read_dir(&fds)
        .unwrap_or_else(|error| panic!("{fds}: {error}"))
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// CPU time of every thread of `pid`, from `/proc/<pid>/task/*/schedstat`
/// (nanoseconds on a CPU); threads that ended before are not counted.
fn cpu_time(pid: u32) -> Duration {
    let tasks = format!("/proc/{pid}/task");
    let nanos: u64 = std::fs::read_dir(&tasks)
        .unwrap_or_else(|error| panic!("{tasks}: {error}"))
        .filter_map(|entry| {
            let text = std::fs::read_to_string(entry.ok()?.path().join("schedstat")).ok()?;
            text.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum();
    Duration::from_nanos(nanos)
}

struct Summary {
    median: f64,
    min: f64,
    max: f64,
}

impl Summary {
    fn of(mut values: Vec<f64>) -> Self {
        assert!(!values.is_empty(), "at least one sample");
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        let median = if values.len() % 2 == 1 {
            values[middle]
        } else {
            f64::midpoint(values[middle - 1], values[middle])
        };
        Self {
            median,
            min: values[0],
            max: values[values.len() - 1],
        }
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

fn report(results: &[Measurement]) {
    println!();
    println!(
        "| DRMySQLs | Pods | Services | reconciled in (s) | VmRSS median (MiB) | VmRSS min–max (MiB) | VmHWM (MiB) | RssAnon median (MiB) | RssFile median (MiB) | threads | sockets | reconciles/s | CPU (%) | writes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for m in results {
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1}–{:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {:.1} | {:.1} | {} |",
            m.objects,
            m.counts["Pods"],
            m.counts["Services"],
            m.reconciled_in.as_secs_f64(),
            m.rss.median,
            m.rss.min,
            m.rss.max,
            m.hwm,
            m.rss_anon.median,
            m.rss_file.median,
            m.threads,
            m.sockets.median,
            m.reconcile_rate,
            m.cpu_percent,
            m.writes_in_window,
        );
    }
    if let [first, .., last] = results
        && last.objects > first.objects
    {
        let slope = (last.rss.median - first.rss.median) / (last.objects - first.objects) as f64 * 1024.0;
        println!(
            "\nsteady VmRSS per DRMySQL between {} and {}: {slope:.1} KiB",
            first.objects, last.objects
        );
    }
    let json: Vec<serde_json::Value> = results
        .iter()
        .map(|m| {
            serde_json::json!({
                "drmysqls": m.objects,
                "objects": m.counts,
                "created_s": round(m.created_in.as_secs_f64(), 2),
                "reconciled_s": round(m.reconciled_in.as_secs_f64(), 2),
                "settled_s": round(m.settled_in.as_secs_f64(), 2),
                "sample_s": round(m.sample_seconds, 1),
                "vmrss_mib": {"median": round(m.rss.median, 2), "min": round(m.rss.min, 2), "max": round(m.rss.max, 2),
                    "first": round(m.rss_first_last.0, 2), "last": round(m.rss_first_last.1, 2)},
                "vmhwm_mib": round(m.hwm, 2),
                "rss_anon_median_mib": round(m.rss_anon.median, 2),
                "rss_file_median_mib": round(m.rss_file.median, 2),
                "threads": m.threads,
                "sockets": {"median": m.sockets.median, "max": m.sockets.max},
                "reconciles_per_s": round(m.reconcile_rate, 2),
                "failures_in_window": m.failures_in_window,
                "failures_total": m.failures_total,
                "cpu_percent": round(m.cpu_percent, 1),
                "writes_in_window": m.writes_in_window,
                "warnings_logged": m.warnings,
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({"bench": "drmysql controller memory", "target_mib": TARGET_MIB, "runs": json})
    );
    if let Some(at_target) = results.iter().find(|m| m.objects == TARGET_OBJECTS) {
        let met = at_target.rss.max < TARGET_MIB;
        println!(
            "\ntarget: < {TARGET_MIB} MiB RSS at {TARGET_OBJECTS} DRMySQLs in steady state: {} (max VmRSS {:.1} MiB; peak VmHWM {:.1} MiB, {} the target)",
            if met { "met" } else { "MISSED" },
            at_target.rss.max,
            at_target.hwm,
            if at_target.hwm < TARGET_MIB {
                "also under"
            } else {
                "above"
            }
        );
    }
}
