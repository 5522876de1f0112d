//! The built `kubectl-drmysql` binary against the e2e Kubernetes API simulator,
//! as a user runs it: `status` as a table, JSON and YAML of a DRMySQL created
//! from `examples/mysql/drmysql-basic.yaml` whose status was patched as the
//! controller would; the namespace taken from `-n`, from the context or
//! `default`; the errors for a missing object, a wrong namespace, a missing
//! CRD, an unknown context, no kubeconfig and an unreachable API, each with
//! exit status 1; the help offering every subcommand; `lag --watch` (by watch
//! and by polling) printing an update after a status change and stopping
//! cleanly on Ctrl-C; and the plugin run by real kubectl as `kubectl drmysql
//! status`. kubectl must be installed: when it is not found, that test fails
//! and says so. The requests (`switchover`, `failover`, `check-tunnel`,
//! `rebuild`) are tested in `transitions.rs` and `checks.rs`.

mod support;

use std::process::Stdio;
use std::time::Duration;

use drmysql_e2e::apiserver::Config;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use support::{Cluster, ago, has_row, loopback, plugin, run};

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
             "startedAt": "2026-02-27T10:00:00Z", "finishedAt": "2026-02-27T10:00:04Z", "outcome": "Succeeded",
             "forced": false, "durationSeconds": 4.2, "rpoSeconds": 0.0}
        ],
        "lastRequest": {"kind": "Switchover", "target": "orders-cloud-a", "forced": false, "outcome": "Started",
                        "message": "switching over from orders-tencent", "answeredAt": "2026-02-27T10:00:00Z"},
        "observedGeneration": 1
    })
}

fn assert_status_table(text: &str) {
    let expected_rows: [&[&str]; 11] = [
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
            "4.2s",
            "0s",
            "no",
            "planned",
        ],
        &[
            "Last",
            "request:",
            "Switchover",
            "to",
            "orders-cloud-a,",
            "Started",
            "2026-02-27T10:00:00Z",
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
    for offered in ["switchover", "failover", "check-tunnel", "rebuild"] {
        assert!(
            help.stdout.contains(offered),
            "{offered} is offered: {}",
            help.stdout
        );
    }
    let rebuild_help = cluster.run(&["rebuild", "--help"]).await;
    assert_eq!(rebuild_help.code, Some(0));
    assert!(rebuild_help.stdout.contains("--yes"), "{}", rebuild_help.stdout);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_runs_it_as_a_plugin() {
    let cluster = Cluster::start().await;
    cluster.create_orders("default", observed_status(0.25)).await;

    let status = cluster.kubectl(&["drmysql", "status", "orders"]).await;
    assert_eq!(status.code, Some(0), "kubectl drmysql status: {}", status.stderr);
    assert_status_table(&status.stdout);

    let missing = cluster.kubectl(&["drmysql", "status", "nosuch"]).await;
    assert_eq!(
        missing.code,
        Some(1),
        "the plugin's exit status passes through kubectl"
    );
    assert!(
        missing.stderr.contains("DRMySQL \"nosuch\" not found"),
        "{}",
        missing.stderr
    );

    // Its exit status also counts warnings about other plugins on PATH, so only the listing is checked.
    let list = cluster.kubectl(&["plugin", "list"]).await;
    assert!(
        list.stdout.contains("kubectl-drmysql"),
        "kubectl plugin list finds it: {}",
        list.stdout
    );
}
