//! The built `kubectl-drmysql` binary against the e2e Kubernetes API simulator,
//! as a user runs it: `status` as a table, JSON and YAML of a DRMySQL created
//! from `examples/mysql/drmysql-basic.yaml` whose status was patched as the
//! controller would; the namespace taken from `-n`, from the context or
//! `default`; the errors for a missing object, a wrong namespace, a missing
//! CRD, an unknown context, no kubeconfig and an unreachable API, each with
//! exit status 1; `lag --watch` (by watch and by polling) printing an update
//! after a status change and stopping cleanly on Ctrl-C; and the plugin run by
//! real kubectl as `kubectl drmysql status`. kubectl must be installed: when it
//! is not found, that test fails and says so.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use drmysql_api::drmysql::DRMySQL;
use drmysql_e2e::apiserver::{ApiServer, ApiServerHandle, Config};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The plugin under test.
const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-drmysql");

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A simulator (with or without the CRDs), its kube client, and a scratch HOME
/// holding its kubeconfig.
struct Cluster {
    server: ApiServerHandle,
    client: kube::Client,
    home: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Cluster {
    async fn start() -> Self {
        Self::start_with(Config::new(loopback()).with_crd_dir(repo_root().join("crds"))).await
    }

    async fn start_with(config: Config) -> Self {
        let server = ApiServer::start_with(config).await.expect("the simulator starts");
        let client = server.client().await.expect("a client for the simulator");
        let home = tempfile::tempdir().expect("a scratch HOME");
        let kubeconfig = home.path().join("kubeconfig");
        server
            .write_kubeconfig(&kubeconfig)
            .expect("write the kubeconfig");
        Self {
            server,
            client,
            home,
            kubeconfig,
        }
    }

    /// The plugin, with HOME the scratch directory.
    fn plugin(&self, args: &[&str]) -> tokio::process::Command {
        plugin(self.home.path(), args)
    }

    /// Runs the plugin with `--kubeconfig` and `args` to completion.
    async fn run(&self, args: &[&str]) -> Run {
        let kubeconfig = self.kubeconfig.display().to_string();
        let mut all = vec!["--kubeconfig", kubeconfig.as_str()];
        all.extend_from_slice(args);
        run(self.plugin(&all), &all).await
    }

    /// The example DRMySQL `orders`, created in `namespace` with `status`.
    async fn create_orders(&self, namespace: &str, status: Value) {
        let text = std::fs::read_to_string(repo_root().join("examples/mysql/drmysql-basic.yaml"))
            .expect("examples/mysql/drmysql-basic.yaml is readable");
        let mut manifest: Value = serde_saphyr::from_str(&text).expect("the example is YAML");
        manifest["metadata"]["namespace"] = Value::from(namespace);
        let drmysql: DRMySQL = serde_json::from_value(manifest).expect("the example is a DRMySQL");
        let api: Api<DRMySQL> = Api::namespaced(self.client.clone(), namespace);
        api.create(&PostParams::default(), &drmysql)
            .await
            .expect("the example is created");
        self.patch_status(namespace, status).await;
    }

    async fn patch_status(&self, namespace: &str, status: Value) {
        let api: Api<DRMySQL> = Api::namespaced(self.client.clone(), namespace);
        api.patch_status(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .expect("the status is patched");
    }

    async fn create_namespace(&self, name: &str) {
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).expect("a Namespace");
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .expect("the namespace is created");
    }
}

/// The plugin with a clean environment: HOME is `home` and neither KUBECONFIG
/// nor an in-cluster service account is visible.
fn plugin(home: &Path, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(PLUGIN);
    command
        .args(args)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("DRMYSQL_LOG")
        .kill_on_drop(true);
    command
}

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().expect("loopback address")
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run(mut command: tokio::process::Command, args: &[&str]) -> Run {
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("kubectl-drmysql {} did not finish within 60 s", args.join(" ")))
        .expect("kubectl-drmysql runs");
    let run = Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    eprintln!(
        "$ kubectl-drmysql {}\n{}{}(exit {:?})",
        args.join(" "),
        run.stdout,
        run.stderr,
        run.code
    );
    run
}

impl Run {
    fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "expected success: {}", self.stderr);
        assert!(self.stderr.is_empty(), "nothing on stderr: {}", self.stderr);
        &self.stdout
    }

    fn failed(&self) -> &str {
        assert_eq!(
            self.code,
            Some(1),
            "expected exit 1: {}{}",
            self.stdout,
            self.stderr
        );
        assert!(self.stdout.is_empty(), "nothing on stdout: {}", self.stdout);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        assert!(self.stderr.starts_with("error: "), "{}", self.stderr);
        &self.stderr
    }
}

/// The whitespace-separated cells of each line.
fn cells(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .map(|line| line.split_whitespace().collect())
        .collect()
}

fn has_row(text: &str, row: &[&str]) -> bool {
    cells(text).iter().any(|line| line.starts_with(row))
}

fn ago(seconds: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What the controller would write for the basic example: both instances up,
/// the tunnel checked both ways, conditions, a failover in progress and one
/// finished switchover.
fn observed_status(replica_lag: f64) -> Value {
    json!({
        "phase": "Running",
        "currentPrimary": "orders-cloud-a",
        "primaryNode": "vm-0-7-rockylinux",
        "replicasReady": "1/1",
        "lag": "250ms",
        "tunnelState": "Reachable",
        "instances": [
            {"name": "orders-cloud-a", "role": "Primary", "node": "vm-0-7-rockylinux",
             "podIP": "10.244.0.5", "ready": true},
            {"name": "orders-tencent", "role": "Replica", "node": "kosmos-member-tencent",
             "podIP": "10.245.1.7", "ready": true, "lagSeconds": replica_lag,
             "ioThread": "Running", "sqlThread": "Running"}
        ],
        "tunnel": [
            {"from": "orders-cloud-a", "to": "orders-tencent", "reachable": true, "rttMs": 12.34,
             "checkedAt": ago(3)},
            {"from": "orders-tencent", "to": "orders-cloud-a", "reachable": false,
             "checkedAt": ago(3), "error": "connect timeout after 2s"}
        ],
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "PrimaryWritable",
             "message": "orders-cloud-a is writable", "lastTransitionTime": ago(600)},
            {"type": "TunnelReachable", "status": "False", "reason": "Unreachable",
             "message": "replica orders-tencent cannot reach primary orders-cloud-a", "lastTransitionTime": ago(60)}
        ],
        "failover": {"kind": "Switchover", "from": "orders-cloud-a", "target": "orders-tencent",
                     "step": "CatchUp", "startedAt": ago(5), "reason": "kubectl drmysql switchover",
                     "forced": false},
        "history": [
            {"kind": "Switchover", "from": "orders-tencent", "to": "orders-cloud-a", "reason": "planned move back",
             "startedAt": "2026-02-27T10:00:00Z", "finishedAt": "2026-02-27T10:00:04Z", "outcome": "Succeeded"}
        ],
        "observedGeneration": 1
    })
}

fn assert_status_table(text: &str) {
    let expected_rows: [&[&str]; 10] = [
        &["Name:", "default/orders"],
        &["Phase:", "Running"],
        &["Primary:", "orders-cloud-a", "on", "vm-0-7-rockylinux"],
        &["NAME", "ROLE", "NODE", "POD", "IP", "READY", "LAG", "IO", "SQL"],
        &[
            "orders-cloud-a",
            "Primary",
            "vm-0-7-rockylinux",
            "10.244.0.5",
            "yes",
            "-",
            "-",
            "-",
        ],
        &[
            "orders-tencent",
            "Replica",
            "kosmos-member-tencent",
            "10.245.1.7",
            "yes",
            "250ms",
            "Running",
            "Running",
        ],
        &["orders-cloud-a", "orders-tencent", "yes", "12.3ms"],
        &["TunnelReachable", "False", "Unreachable"],
        &[
            "Failover",
            "in",
            "progress:",
            "Switchover",
            "from",
            "orders-cloud-a",
            "to",
            "orders-tencent,",
            "step",
            "CatchUp,",
        ],
        &[
            "2026-02-27T10:00:00Z",
            "Switchover",
            "orders-tencent",
            "orders-cloud-a",
            "Succeeded",
            "4s",
            "planned",
        ],
    ];
    for row in expected_rows {
        assert!(has_row(text, row), "no line starting with {row:?} in:\n{text}");
    }
    assert!(
        text.contains("connect timeout after 2s"),
        "the failed tunnel check's error:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_the_table_json_and_yaml() {
    let cluster = Cluster::start().await;
    let status = observed_status(0.25);
    cluster.create_orders("default", status.clone()).await;

    // The namespace is the context's (`default`), or -n.
    assert_status_table(cluster.run(&["status", "orders"]).await.ok());
    assert_status_table(cluster.run(&["status", "orders", "-n", "default"]).await.ok());
    assert_status_table(cluster.run(&["-n", "default", "status", "orders"]).await.ok());

    let json: Value = serde_json::from_str(cluster.run(&["status", "orders", "-o", "json"]).await.ok())
        .expect("-o json prints JSON");
    assert_eq!(json, status, "-o json is the status, field for field");

    let yaml: Value =
        serde_saphyr::from_str(cluster.run(&["status", "orders", "--output", "yaml"]).await.ok())
            .expect("-o yaml prints YAML");
    assert_eq!(yaml, status, "-o yaml is the status, field for field");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespace_comes_from_the_chosen_context() {
    let cluster = Cluster::start().await;
    cluster.create_namespace("shop").await;
    cluster.create_orders("shop", observed_status(0.25)).await;
    // A second context in the same kubeconfig whose namespace is `shop`.
    let mut kubeconfig = cluster.server.kubeconfig_yaml();
    kubeconfig = kubeconfig.replace(
        "contexts:\n",
        "contexts:\n- name: shop\n  context:\n    cluster: drmysql-e2e\n    user: drmysql-e2e\n    namespace: shop\n",
    );
    std::fs::write(&cluster.kubeconfig, kubeconfig).expect("rewrite the kubeconfig");

    let text = cluster.run(&["status", "orders", "--context", "shop"]).await;
    assert!(has_row(text.ok(), &["Name:", "shop/orders"]), "{}", text.stdout);

    // The current context's namespace is `default`, where there is none: the
    // error names where it searched and where it is.
    let stderr = cluster.run(&["status", "orders"]).await;
    assert_eq!(
        stderr.failed().trim_end(),
        "error: DRMySQL \"orders\" not found in namespace \"default\" (the namespace of context \
         \"drmysql-e2e\"; -n chooses another); it exists in namespace \"shop\": pass -n shop"
    );

    // KUBECONFIG works like --kubeconfig; missing files in it are skipped, as kubectl does.
    let missing = cluster.home.path().join("missing");
    let list = std::env::join_paths([missing.as_path(), cluster.kubeconfig.as_path()]).expect("a path list");
    let mut command = cluster.plugin(&["status", "orders", "-n", "shop"]);
    command.env("KUBECONFIG", &list);
    let text = run(command, &["status", "orders", "-n", "shop", "(KUBECONFIG)"]).await;
    assert!(has_row(text.ok(), &["Name:", "shop/orders"]), "{}", text.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_what_to_fix_and_exit_1() {
    let cluster = Cluster::start().await;
    cluster.create_orders("default", observed_status(0.25)).await;

    let missing = cluster.run(&["status", "nosuch"]).await;
    assert_eq!(
        missing.failed().trim_end(),
        "error: DRMySQL \"nosuch\" not found in namespace \"default\" (the namespace of context \
         \"drmysql-e2e\"; -n chooses another); no namespace has one of that name (`kubectl get drmysqls -A` lists them all)"
    );

    let wrong_namespace = cluster.run(&["status", "orders", "-n", "prod"]).await;
    assert_eq!(
        wrong_namespace.failed().trim_end(),
        "error: DRMySQL \"orders\" not found in namespace \"prod\"; it exists in namespace \"default\": pass -n default"
    );
    let lag = cluster.run(&["lag", "orders", "-n", "prod"]).await;
    assert!(lag.failed().contains("pass -n default"), "{}", lag.stderr);

    let context = cluster.run(&["status", "orders", "--context", "staging"]).await;
    let stderr = context.failed();
    assert!(
        stderr.contains("context \"staging\" (--context) is not in the kubeconfig"),
        "{stderr}"
    );
    assert!(stderr.contains("its contexts are: drmysql-e2e"), "{stderr}");

    // No kubeconfig anywhere: HOME has no .kube/config and KUBECONFIG is unset.
    let none = run(
        cluster.plugin(&["status", "orders"]),
        &["status", "orders", "(no kubeconfig)"],
    )
    .await;
    assert!(
        none.failed().contains(
            "no kubeconfig: ~/.kube/config does not exist and KUBECONFIG is not set; pass --kubeconfig FILE"
        ),
        "{}",
        none.stderr
    );

    let args = ["--kubeconfig", "/nonexistent/kubeconfig", "status", "orders"];
    let unreadable = run(cluster.plugin(&args), &args).await;
    assert!(
        unreadable.failed().trim_end()
            == "error: cannot read the kubeconfig /nonexistent/kubeconfig (--kubeconfig): \
                No such file or directory (os error 2)",
        "{}",
        unreadable.stderr
    );

    // Usage errors exit 1 too, as kubectl's do; help exits 0.
    let usage = cluster.run(&["status"]).await;
    assert_eq!(usage.code, Some(1), "{}", usage.stderr);
    let help = cluster.run(&["--help"]).await;
    assert_eq!(help.code, Some(0));
    assert!(
        help.stdout.contains("status") && help.stdout.contains("lag"),
        "{}",
        help.stdout
    );
    for absent in ["switchover", "failover", "check-tunnel", "rebuild"] {
        let attempt = cluster.run(&[absent, "orders"]).await;
        assert_eq!(attempt.code, Some(1), "`{absent}` is not offered yet");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_crd_and_an_unreachable_api_are_named() {
    let bare = Cluster::start_with(Config::new(loopback())).await;
    let stderr = bare.run(&["status", "orders"]).await;
    let stderr = stderr.failed();
    assert!(
        stderr.contains("the DRMySQL API (drmysql.io/v1alpha1, resource drmysqls) is not installed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`kubectl apply --server-side -f crds/`"),
        "{stderr}"
    );

    // The same kubeconfig once the server is gone.
    let Cluster {
        server,
        home,
        kubeconfig,
        ..
    } = bare;
    server.shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let args = [
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "status",
        "orders",
    ]
    .map(str::to_owned);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stderr = run(plugin(home.path(), &args), &args).await;
    let stderr = stderr.failed();
    assert!(
        stderr.contains("cannot reach the Kubernetes API of context \"drmysql-e2e\" (http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("check that the cluster is up"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a refused connection is reported promptly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_prints_the_replicas_against_the_threshold() {
    let cluster = Cluster::start().await;
    cluster.create_orders("default", observed_status(45.2)).await;
    let text = cluster.run(&["lag", "orders"]).await;
    let text = text.ok();
    assert!(
        has_row(text, &["Threshold:", "30s", "(spec.lag.alertThresholdSeconds)"]),
        "{text}"
    );
    assert!(
        has_row(
            text,
            &[
                "orders-tencent",
                "Replica",
                "kosmos-member-tencent",
                "45s",
                "30s",
                "ABOVE",
                "THRESHOLD"
            ]
        ),
        "{text}"
    );
    assert!(text.ends_with("1 of 1 above the threshold\n"), "{text}");
}

/// `lag --watch` prints the table, then again after a status change, and
/// exits 0 on Ctrl-C; with `--interval` it polls instead of watching.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_watch_prints_updates_and_stops_on_ctrl_c() {
    let cluster = Cluster::start().await;
    cluster.create_orders("default", observed_status(0.25)).await;
    let kubeconfig = cluster.kubeconfig.display().to_string();
    for extra in [&[][..], &["--interval", "0.2"][..]] {
        let mut args = vec!["--kubeconfig", kubeconfig.as_str(), "lag", "orders", "--watch"];
        args.extend_from_slice(extra);
        let mut child = cluster
            .plugin(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the watch starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = read_until(&mut lines, "above the threshold").await;
        assert!(
            has_row(
                &first,
                &[
                    "orders-tencent",
                    "Replica",
                    "kosmos-member-tencent",
                    "250ms",
                    "30s",
                    "ok"
                ]
            ),
            "{first}"
        );

        cluster.patch_status("default", json!({"instances": [
            {"name": "orders-cloud-a", "role": "Primary", "node": "vm-0-7-rockylinux", "podIP": "10.244.0.5", "ready": true},
            {"name": "orders-tencent", "role": "Replica", "node": "kosmos-member-tencent", "podIP": "10.245.1.7",
             "ready": false, "lagSeconds": 75.0, "ioThread": "Running", "sqlThread": "Running"}
        ]})).await;
        let update = read_until(&mut lines, "above the threshold").await;
        assert!(
            has_row(
                &update,
                &[
                    "orders-tencent",
                    "Replica",
                    "kosmos-member-tencent",
                    "75s",
                    "30s",
                    "ABOVE",
                    "THRESHOLD"
                ]
            ),
            "{args:?}: {update}"
        );
        assert!(update.contains("1 of 1 above the threshold"), "{update}");

        // Ctrl-C.
        let pid = child.id().expect("the watch is running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("the watch stops within 10 s of Ctrl-C")
            .expect("wait for the watch");
        assert_eq!(status.code(), Some(0), "{args:?}: Ctrl-C is a clean stop");
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            use tokio::io::AsyncReadExt;
            pipe.read_to_string(&mut stderr).await.expect("stderr");
        }
        assert!(stderr.is_empty(), "{args:?}: {stderr}");

        // Put the lag back for the next round.
        cluster.patch_status("default", observed_status(0.25)).await;
    }
}

/// Reads lines until one contains `marker`, returning everything read.
async fn read_until(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    marker: &str,
) -> String {
    let mut text = String::new();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read the watch's output") {
            text.push_str(&line);
            text.push('\n');
            if line.contains(marker) {
                return true;
            }
        }
        false
    };
    let found = tokio::time::timeout(Duration::from_secs(30), read).await;
    assert!(
        matches!(found, Ok(true)),
        "no line with {marker:?} within 30 s; read:\n{text}"
    );
    text
}

/// kubectl: `$KUBECTL`, or the first `kubectl` on `PATH`.
fn kubectl_binary() -> PathBuf {
    if let Some(explicit) = std::env::var_os("KUBECTL") {
        return PathBuf::from(explicit);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubectl was not found on PATH (or in $KUBECTL): the plugin test runs `kubectl drmysql`; \
                 install the package kubectl (scripts/install-deps does)"
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_runs_it_as_a_plugin() {
    let kubectl = kubectl_binary();
    let cluster = Cluster::start().await;
    cluster.create_orders("default", observed_status(0.25)).await;

    let plugin_dir = Path::new(PLUGIN).parent().expect("the plugin's directory");
    let path = std::env::join_paths(
        std::iter::once(plugin_dir.to_path_buf())
            .chain(std::env::var_os("PATH").iter().flat_map(std::env::split_paths)),
    )
    .expect("a PATH");
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let kubectl_run = |args: Vec<String>| {
        let mut command = tokio::process::Command::new(&kubectl);
        command
            .args(&args)
            .env("PATH", &path)
            .env("HOME", cluster.home.path())
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        async move {
            let output = tokio::time::timeout(Duration::from_secs(60), command.output())
                .await
                .expect("kubectl finishes within 60 s")
                .expect("kubectl runs");
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            eprintln!("$ kubectl {}\n{stdout}{stderr}", args.join(" "));
            (output.status.code(), stdout, stderr)
        }
    };

    let (code, stdout, stderr) = kubectl_run(
        ["drmysql", "status", "orders", "--kubeconfig", &kubeconfig]
            .map(str::to_owned)
            .to_vec(),
    )
    .await;
    assert_eq!(code, Some(0), "kubectl drmysql status: {stderr}");
    assert_status_table(&stdout);

    let (code, _, stderr) = kubectl_run(
        ["drmysql", "status", "nosuch", "--kubeconfig", &kubeconfig]
            .map(str::to_owned)
            .to_vec(),
    )
    .await;
    assert_eq!(code, Some(1), "the plugin's exit status passes through kubectl");
    assert!(stderr.contains("DRMySQL \"nosuch\" not found"), "{stderr}");

    // Its exit status also counts warnings about other plugins on PATH, so only the listing is checked.
    let (_, stdout, _) = kubectl_run(["plugin", "list"].map(str::to_owned).to_vec()).await;
    assert!(
        stdout.contains("kubectl-drmysql"),
        "kubectl plugin list finds it: {stdout}"
    );
}
