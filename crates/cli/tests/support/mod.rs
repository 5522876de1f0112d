//! What the integration tests share: an API simulator with drmysql's CRDs and
//! a kubeconfig for it in a scratch HOME, the example DRMySQL `orders`, and
//! ways to run the built `kubectl-drmysql`, directly or as `kubectl drmysql`
//! through real kubectl's plugin discovery.

#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses a different part of it"
)]

pub mod controller;

use std::path::{Path, PathBuf};
use std::time::Duration;

use drmysql_api::drmysql::DRMySQL;
use drmysql_e2e::apiserver::{ApiServer, ApiServerHandle, Config};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// The plugin under test.
pub const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-drmysql");

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A simulator (with or without the CRDs), its kube client, and a scratch HOME
/// holding its kubeconfig.
pub struct Cluster {
    pub server: ApiServerHandle,
    pub client: kube::Client,
    pub home: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Cluster {
    pub async fn start() -> Self {
        Self::start_with(Config::new(loopback()).with_crd_dir(repo_root().join("crds"))).await
    }

    pub async fn start_with(config: Config) -> Self {
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
    pub fn plugin(&self, args: &[&str]) -> tokio::process::Command {
        plugin(self.home.path(), args)
    }

    /// Runs the plugin with `--kubeconfig` and `args` to completion.
    pub async fn run(&self, args: &[&str]) -> Run {
        let kubeconfig = self.kubeconfig.display().to_string();
        let mut all = vec!["--kubeconfig", kubeconfig.as_str()];
        all.extend_from_slice(args);
        run(self.plugin(&all), &all).await
    }

    /// Runs `kubectl drmysql ARGS --kubeconfig FILE` with the plugin's
    /// directory first on PATH, so that kubectl finds it as a user's would.
    pub async fn kubectl(&self, args: &[&str]) -> Run {
        let plugin_dir = Path::new(PLUGIN).parent().expect("the plugin's directory");
        let path = std::env::join_paths(
            std::iter::once(plugin_dir.to_path_buf())
                .chain(std::env::var_os("PATH").iter().flat_map(std::env::split_paths)),
        )
        .expect("a PATH");
        let kubeconfig = self.kubeconfig.display().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--kubeconfig", kubeconfig.as_str()]);
        let mut command = tokio::process::Command::new(kubectl_binary());
        command
            .args(&all)
            .env("PATH", &path)
            .env("HOME", self.home.path())
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("DRMYSQL_LOG")
            .kill_on_drop(true);
        let mut shown = vec!["(kubectl)"];
        shown.extend(all);
        run(command, &shown).await
    }

    /// The example DRMySQL `orders`, created in `namespace` with `status`.
    pub async fn create_orders(&self, namespace: &str, status: Value) {
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

    pub async fn patch_status(&self, namespace: &str, status: Value) {
        patch_status(&self.client, namespace, status).await;
    }

    pub async fn create_namespace(&self, name: &str) {
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).expect("a Namespace");
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .expect("the namespace is created");
    }
}

/// Merges `status` into the status of `orders` in `namespace`.
pub async fn patch_status(client: &kube::Client, namespace: &str, status: Value) {
    let api: Api<DRMySQL> = Api::namespaced(client.clone(), namespace);
    api.patch_status(
        "orders",
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .expect("the status is patched");
}

/// The plugin with a clean environment: HOME is `home` and neither KUBECONFIG
/// nor an in-cluster service account is visible.
pub fn plugin(home: &Path, args: &[&str]) -> tokio::process::Command {
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

pub fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().expect("loopback address")
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub async fn run(mut command: tokio::process::Command, args: &[&str]) -> Run {
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
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "expected success: {}", self.stderr);
        assert!(self.stderr.is_empty(), "nothing on stderr: {}", self.stderr);
        &self.stdout
    }

    pub fn failed(&self) -> &str {
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
pub fn cells(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .map(|line| line.split_whitespace().collect())
        .collect()
}

pub fn has_row(text: &str, row: &[&str]) -> bool {
    cells(text).iter().any(|line| line.starts_with(row))
}

pub fn ago(seconds: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// kubectl: `$KUBECTL`, or the first `kubectl` on `PATH`.
pub fn kubectl_binary() -> PathBuf {
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
