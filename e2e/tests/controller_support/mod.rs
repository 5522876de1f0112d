//! Helpers shared by the tests and the benchmark that run the real
//! `drmysql controller` as a child process against the API simulator: Ready
//! Nodes and DRMySQLs the controller accepts, the process itself (killed when
//! dropped, its log in a file), and its `/metrics` read over plain HTTP.
//!
//! Needs `mod apiserver_support;` beside it (the example manifests).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use drmysql_api::drmysql::DRMySQL;
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::{Api, Patch, PatchParams, PostParams};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

use crate::apiserver_support::basic_drmysql;

/// The taint Kosmos clustertree puts on its virtual nodes, which DRMySQL
/// instances tolerate by default.
const KOSMOS_TAINT: (&str, &str, &str) = ("kosmos.io/node", "true", "NoSchedule");

/// A Ready Node; a virtual one (`kosmos-...`) carries the Kosmos taint.
pub fn ready_node(name: &str, virtual_node: bool) -> Node {
    let taints = if virtual_node {
        json!([{"key": KOSMOS_TAINT.0, "value": KOSMOS_TAINT.1, "effect": KOSMOS_TAINT.2}])
    } else {
        json!([])
    };
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"taints": taints},
    }))
    .expect("a Node")
}

/// Creates Ready Nodes: `hosts` plain ones and `virtual_nodes` Kosmos virtual
/// ones (tainted).
pub async fn create_ready_nodes(client: &kube::Client, hosts: &[String], virtual_nodes: &[String]) {
    let nodes: Api<Node> = Api::all(client.clone());
    let all = hosts
        .iter()
        .map(|name| (name, false))
        .chain(virtual_nodes.iter().map(|name| (name, true)));
    for (name, virtual_node) in all {
        nodes
            .create(&PostParams::default(), &ready_node(name, virtual_node))
            .await
            .unwrap_or_else(|error| panic!("Node {name} cannot be created: {error}"));
        let status = json!({"status": {"conditions": [{
            "type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z",
        }]}});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap_or_else(|error| panic!("Node {name} cannot be made Ready: {error}"));
    }
}

/// Creates a Namespace.
pub async fn create_namespace(client: &kube::Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
            .expect("a Namespace");
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|error| panic!("Namespace {name} cannot be created: {error}"));
}

/// `examples/mysql/drmysql-basic.yaml` as `namespace/name`, with its primary
/// on `primary_node` and its one replica on `replica_node`.
pub fn drmysql(namespace: &str, name: &str, primary_node: &str, replica_node: &str) -> DRMySQL {
    let mut object = basic_drmysql(name);
    object["metadata"]["namespace"] = json!(namespace);
    object["spec"]["primary"]["node"] = json!(primary_node);
    let replicas = object["spec"]["replicas"]
        .as_array_mut()
        .expect("the basic example has spec.replicas");
    assert_eq!(replicas.len(), 1, "the basic example has one replica");
    replicas[0]["node"] = json!(replica_node);
    serde_json::from_value(object).expect("the basic example is a DRMySQL")
}

/// A free TCP port on 127.0.0.1 (free when asked; the controller binds it
/// soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A running `drmysql controller`, killed (SIGKILL) and reaped when dropped.
pub struct ControllerProcess {
    /// A name for messages.
    pub name: String,
    child: Child,
    /// Where its `/metrics` and `/healthz` are served.
    pub metrics: SocketAddr,
    /// Its stdout and stderr.
    pub log: PathBuf,
    exit: Option<ExitStatus>,
}

impl ControllerProcess {
    /// Starts `binary controller --sidecar-image drmysql:test --metrics-address
    /// 127.0.0.1:<free port> <extra>` against `kubeconfig`, logging into
    /// `log_dir/<name>.log`.
    pub fn start(binary: &Path, kubeconfig: &Path, log_dir: &Path, name: &str, extra: &[&str]) -> Self {
        Self::start_with_image(binary, kubeconfig, log_dir, name, "drmysql:test", extra)
    }

    /// As [`ControllerProcess::start`], with the sidecar image given.
    pub fn start_with_image(
        binary: &Path,
        kubeconfig: &Path,
        log_dir: &Path,
        name: &str,
        sidecar_image: &str,
        extra: &[&str],
    ) -> Self {
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = log_dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("controller log file");
        let errors = file.try_clone().expect("controller log file handle");
        let metrics_address = metrics.to_string();
        let mut args = vec![
            "controller",
            "--sidecar-image",
            sidecar_image,
            "--metrics-address",
            &metrics_address,
        ];
        args.extend_from_slice(extra);
        let child = Command::new(binary)
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .env_remove("POD_NAME")
            .env_remove("POD_NAMESPACE")
            .env_remove("DRMYSQL_LOG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(errors))
            .spawn()
            .unwrap_or_else(|error| panic!("{} controller cannot start: {error}", binary.display()));
        Self {
            name: name.to_owned(),
            child,
            metrics,
            log,
            exit: None,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: Signal) {
        let pid = i32::try_from(self.child.id()).expect("a pid fits in i32");
        kill(Pid::from_raw(pid), signal).unwrap_or_else(|error| panic!("{signal} to {}: {error}", self.name));
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("waitpid on the controller");
        }
        self.exit
    }

    /// Waits up to `limit` for it to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {limit:?}; its log ends:\n{}",
                self.name,
                self.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Panics with its log when it has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exited() {
            panic!(
                "{} exited ({status}); its log ends:\n{}",
                self.name,
                self.log_tail(30)
            );
        }
    }

    /// Its `/metrics` as a map from series (name and labels) to value.
    pub async fn metrics(&self) -> Result<BTreeMap<String, f64>, String> {
        let body = http_get(self.metrics, "/metrics").await?;
        Ok(parse_metrics(&body))
    }

    /// Waits up to `limit` for its `/healthz`.
    pub async fn wait_serving(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            self.assert_running();
            if http_get(self.metrics, "/healthz").await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not serve /healthz on {} within {limit:?}; its log ends:\n{}",
                self.name,
                self.metrics,
                self.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub use drmysql_e2e::sandbox::http::{get as http_get, parse_metrics};

/// The value of the unlabelled series `name`.
pub fn metric(metrics: &BTreeMap<String, f64>, name: &str) -> Option<f64> {
    metrics.get(name).copied()
}

/// The sum of every series of `name` (all label sets).
pub fn metric_sum(metrics: &BTreeMap<String, f64>, name: &str) -> f64 {
    metrics
        .iter()
        .filter(|(series, _)| {
            series.as_str() == name
                || series
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{'))
        })
        .fold(0.0, |sum, (_, value)| sum + value)
}
