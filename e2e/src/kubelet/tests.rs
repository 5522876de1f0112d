//! The pod runtime on real parts: the controller's own Pod, ConfigMap and
//! Secrets run as a real `mariadbd` and a real `drmysql sidecar` in a fresh
//! pod network namespace wired to a fresh node namespace.
//!
//! Root, `ip`, `mariadbd` and `mariadb-install-db` are required: a test
//! fails, naming what is missing, rather than skipping. Every namespace is
//! unique to its test and removed when the test ends, however it ends.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use drmysql_api::drmysql::DRMySQL;
use drmysql_api::names::credentials;
use drmysql_controller::build::config::server_id;
use drmysql_controller::build::{BuildContext, build, credentials_secret};
use drmysql_mysql::{Account, Accounts, Server, Target};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodStatus};
use mysql_async::prelude::Queryable;

use super::command::{IP_TIMEOUT, run, which};
use super::netns::{self, Ipv4Cidr, PodNetwork, netns_path};
use super::probe::ProbeAction;
use super::process::is_alive;
use super::status::{CONTAINER_CREATING, CREATE_CONTAINER_CONFIG_ERROR};
use super::{PodObjects, PodPlacement, PodRuntime, RestartBackoff, RuntimeConfig, drmysql_binary};

const ROOT_PASSWORD: &str = "root-pw-'\"-e2e";
const HEARTBEAT_PASSWORD: &str = "heartbeat-pw-e2e";

/// Fails unless this machine can run Pods for real.
fn require_machine() {
    let mut missing = Vec::new();
    let uid = std::fs::metadata("/proc/self").map(|metadata| std::os::unix::fs::MetadataExt::uid(&metadata));
    if uid.ok() != Some(0) {
        missing.push("root (pod network namespaces and veth pairs)".to_owned());
    }
    for (program, package) in [
        ("ip", "iproute2"),
        ("mariadbd", "mariadb-server"),
        ("mariadb-install-db", "mariadb-server"),
    ] {
        if which(program).is_none() {
            missing.push(format!("`{program}` (package {package})"));
        }
    }
    assert!(
        missing.is_empty(),
        "the pod runtime tests need {}; run scripts/install-deps as root",
        missing.join(", ")
    );
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique(tag: &str) -> String {
    format!(
        "drk-{}-{}-{tag}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A node's network namespace, removed when dropped.
struct NodeNetns {
    name: String,
}

impl NodeNetns {
    fn new() -> Self {
        let name = unique("node");
        let ip = which("ip").expect("ip is installed");
        run(&ip, &["netns", "add", &name], IP_TIMEOUT).expect("node namespace created");
        let node = Self { name };
        run(&ip, &["-n", &node.name, "link", "set", "lo", "up"], IP_TIMEOUT).expect("loopback up");
        node
    }
}

impl Drop for NodeNetns {
    fn drop(&mut self) {
        if let Some(ip) = which("ip") {
            let _ = run(&ip, &["netns", "del", &self.name], IP_TIMEOUT);
        }
    }
}

fn orders() -> DRMySQL {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "drmysql.io/v1alpha1",
        "kind": "DRMySQL",
        "metadata": {"name": "orders", "namespace": "shop", "uid": "0f0e2c1a-0000-4000-8000-00000000e2e0"},
        "spec": {
            "engine": {"image": "mariadb:10.11"},
            "primary": {"name": "a", "node": "n0"},
            "replicas": [{"name": "b", "node": "n1"}]
        }
    }))
    .expect("valid DRMySQL")
}

/// The controller's Pod of the primary `orders-a`, its ConfigMap and claim,
/// and the two Secrets it refers to holding `keys`.
fn primary_pod(credential_keys: &[&str]) -> (Pod, PodObjects) {
    let drmysql = orders();
    let desired = build(
        &drmysql,
        &BuildContext {
            sidecar_image: "drmysql:e2e".to_owned(),
            current_primary: "orders-a".to_owned(),
            roles: Default::default(),
        },
    );
    let value = |key: &str| match key {
        credentials::ROOT_PASSWORD => ROOT_PASSWORD.to_owned(),
        credentials::HEARTBEAT_PASSWORD => HEARTBEAT_PASSWORD.to_owned(),
        other => format!("{other}-e2e"),
    };
    let credentials = credential_keys
        .iter()
        .map(|key| ((*key).to_owned(), value(key)))
        .collect();
    let token = [(credentials::SIDECAR_TOKEN.to_owned(), "token-e2e".to_owned())].into();
    let pod = desired
        .pods
        .into_iter()
        .find(|pod| pod.metadata.name.as_deref() == Some("orders-a"))
        .expect("the primary's Pod");
    (
        pod,
        PodObjects {
            secrets: vec![
                credentials_secret(&drmysql, &drmysql.credentials_secret_name(), &credentials),
                credentials_secret(&drmysql, "orders-sidecar", &token),
            ],
            config_maps: desired.config_maps,
            claims: desired.persistent_volume_claims,
        },
    )
}

fn container<'a>(status: &'a PodStatus, name: &str) -> &'a ContainerStatus {
    status
        .container_statuses
        .iter()
        .flatten()
        .find(|container| container.name == name)
        .expect("the container has a status")
}

fn running(status: &PodStatus, name: &str) -> bool {
    let container = container(status, name);
    container
        .state
        .as_ref()
        .is_some_and(|state| state.running.is_some())
}

fn pod_ready(status: &PodStatus) -> bool {
    status
        .conditions
        .iter()
        .flatten()
        .any(|condition| condition.type_ == "Ready" && condition.status == "True")
}

fn waiting_reason(status: &PodStatus, name: &str) -> (String, String) {
    let waiting = container(status, name)
        .state
        .as_ref()
        .and_then(|state| state.waiting.clone())
        .expect("the container is waiting");
    (
        waiting.reason.unwrap_or_default(),
        waiting.message.unwrap_or_default(),
    )
}

/// Runs `work` on a current-thread runtime inside network namespace `netns`.
async fn in_netns<T, F, Fut>(netns: &str, work: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let netns = netns.to_owned();
    tokio::task::spawn_blocking(move || {
        netns::within(&netns, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime inside the namespace")
                .block_on(work())
        })
    })
    .await
    .expect("the namespace thread finished")
    .expect("the namespace was entered")
}

async fn root_client(pod_ip: IpAddr) -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(pod_ip.to_string())
        .tcp_port(3306)
        .user(Some("root"))
        .pass(Some(ROOT_PASSWORD))
        .prefer_socket(false);
    tokio::time::timeout(Duration::from_secs(5), mysql_async::Conn::new(opts))
        .await
        .expect("connecting within 5 s")
        .expect("root logs in with the Secret's password on podIP:3306")
}

fn log_tail(runtime: &PodRuntime, container: &str) -> String {
    let path = runtime.log_path(container).expect("a container of the Pod");
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controllers_pod_runs_restarts_and_stops_for_real() {
    require_machine();
    let binary = drmysql_binary().expect("the drmysql binary");
    let scratch = tempfile::tempdir().expect("scratch directory");
    let node = NodeNetns::new();
    let cidr: Ipv4Cidr = "10.244.7.0/24".parse().expect("pod CIDR");
    let pod_ip = cidr.allocate(&[]).expect("a free address");
    let mut network = PodNetwork::create(&node.name, &unique("pod"), pod_ip, cidr.gateway())
        .expect("pod network namespace");
    let pod_netns = network.pod_netns().to_owned();
    let pod_ip = IpAddr::V4(pod_ip);
    let claims_root = scratch.path().join("pvc");
    let (pod, objects) = primary_pod(&credentials::REQUIRED_KEYS);
    let runtime = PodRuntime::start(
        RuntimeConfig {
            drmysql_binary: binary,
            pods_dir: scratch.path().join("pods"),
            claims_root: claims_root.clone(),
            backoff: RestartBackoff::default(),
        },
        pod,
        objects,
        PodPlacement {
            node_name: "n0".to_owned(),
            node_netns: node.name.clone(),
            pod_netns: pod_netns.clone(),
            pod_ip,
            host_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        },
    )
    .expect("the Pod starts");

    // mysqld is started once its startup probe (the Pod's tcpSocket probe on
    // 3306) passes; the sidecar is not ready: the primary boots read-only.
    let status = runtime
        .wait_until(Duration::from_secs(40), |status| {
            container(status, "mysqld").started == Some(true) && running(status, "sidecar")
        })
        .await
        .unwrap_or_else(|error| panic!("{error}\nmysqld log:\n{}", log_tail(&runtime, "mysqld")));
    assert_eq!(status.pod_ip.as_deref(), Some(pod_ip.to_string().as_str()));
    assert!(
        container(&status, "mysqld").ready,
        "no readiness probe: ready once started"
    );
    assert!(!container(&status, "sidecar").ready);
    assert!(!pod_ready(&status));

    let expected_server_id = server_id("orders-a", 0);
    in_netns(&node.name, move || async move {
        let mut client = root_client(pod_ip).await;
        let (id, read_only): (u64, u64) = client
            .query_first("SELECT @@server_id, @@read_only")
            .await
            .expect("variables")
            .expect("one row");
        assert_eq!(id, u64::from(expected_server_id), "server_id from the ConfigMap");
        assert_eq!(read_only, 1, "every instance boots read-only");
        // What the controller does to a new primary.
        let target = Target::new(pod_ip.to_string(), 3306, "root", ROOT_PASSWORD);
        let mut server = Server::connect(&target, Duration::from_secs(5)).await.expect("drmysql connects");
        let accounts = Accounts {
            replication: Account::new(credentials::REPLICATION_USER, "replication-password-e2e"),
            heartbeat: Account::new(credentials::HEARTBEAT_USER, HEARTBEAT_PASSWORD),
        };
        server.prepare(&accounts).await.expect("accounts and heartbeat table");
        server.make_writable().await.expect("promoted");
        server.close().await;
        client
            .query_drop("CREATE DATABASE e2e; CREATE TABLE e2e.survivors (id INT PRIMARY KEY, note TEXT); INSERT INTO e2e.survivors VALUES (1, 'written before kill -9')")
            .await
            .expect("a row written");
        client.disconnect().await.expect("disconnect");
    })
    .await;

    let healthz = ProbeAction::Http {
        host: None,
        port: 9104,
        path: "/healthz".to_owned(),
        headers: Vec::new(),
    };
    healthz
        .run(&node.name, pod_ip, Duration::from_secs(2))
        .await
        .unwrap_or_else(|error| {
            panic!(
                "/healthz: {error}\nsidecar log:\n{}",
                log_tail(&runtime, "sidecar")
            )
        });

    // The sidecar's /readyz, as the Pod's readinessProbe polls it, now
    // answers 200: the writable primary is Ready.
    runtime
        .wait_until(Duration::from_secs(20), pod_ready)
        .await
        .unwrap_or_else(|error| panic!("{error}\nsidecar log:\n{}", log_tail(&runtime, "sidecar")));

    // kill -9 of mysqld: the kubelet restarts it at once, on the same data.
    let killed = runtime.kill9("mysqld").expect("mysqld runs");
    let status = runtime
        .wait_until(Duration::from_secs(30), |status| {
            let mysqld = container(status, "mysqld");
            mysqld.restart_count == 1 && mysqld.started == Some(true)
        })
        .await
        .unwrap_or_else(|error| panic!("{error}\nmysqld log:\n{}", log_tail(&runtime, "mysqld")));
    let last = container(&status, "mysqld")
        .last_state
        .as_ref()
        .and_then(|state| state.terminated.clone())
        .expect("the killed run is the last state");
    assert_eq!((last.exit_code, last.signal), (137, Some(9)));
    assert!(!is_alive(killed), "the killed mariadbd is gone");
    let restarted = runtime.pids()["mysqld"];
    assert_ne!(restarted, killed);
    let note: String = in_netns(&node.name, move || async move {
        let mut client = root_client(pod_ip).await;
        let note = client
            .query_first("SELECT note FROM e2e.survivors WHERE id = 1")
            .await
            .expect("query")
            .expect("the row survived");
        client.disconnect().await.expect("disconnect");
        note
    })
    .await;
    assert_eq!(note, "written before kill -9");

    // Stopping ends every process; the claim's data stays, the namespace goes.
    let pids: Vec<u32> = runtime.pids().into_values().collect();
    assert_eq!(pids.len(), 2, "both containers run");
    runtime
        .stop_within(Duration::from_secs(20))
        .await
        .expect("the Pod stops");
    for pid in pids {
        assert!(!is_alive(pid), "process {pid} outlived its Pod");
    }
    assert!(!scratch.path().join("pods/shop_orders-a").exists());
    assert!(
        claims_root.join("shop/orders-a-data/mysql").is_dir(),
        "the claim keeps its data"
    );
    network.delete().expect("the pod namespace is removed");
    assert!(!netns_path(&pod_netns).exists());
}

#[tokio::test]
async fn missing_objects_keep_the_pod_waiting_with_the_kubelets_reasons() {
    require_machine();
    let scratch = tempfile::tempdir().expect("scratch directory");
    // No Secret key for either container, so nothing is ever started and the
    // namespaces need not exist.
    let (pod, complete) = primary_pod(&[credentials::REPLICATION_PASSWORD]);
    let mut without_config = complete.clone();
    without_config.config_maps.clear();
    let runtime = PodRuntime::start(
        RuntimeConfig {
            drmysql_binary: Path::new("/nonexistent/drmysql").to_path_buf(),
            pods_dir: scratch.path().join("pods"),
            claims_root: scratch.path().join("pvc"),
            backoff: RestartBackoff::default(),
        },
        pod.clone(),
        without_config,
        PodPlacement {
            node_name: "n0".to_owned(),
            node_netns: unique("absent-node"),
            pod_netns: unique("absent-pod"),
            pod_ip: IpAddr::V4(Ipv4Addr::new(10, 244, 9, 2)),
            host_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)),
        },
    )
    .expect("the Pod is accepted");

    let status = runtime
        .wait_until(Duration::from_secs(10), |status| {
            waiting_reason(status, "mysqld").1.contains("configmap")
        })
        .await
        .expect("the missing ConfigMap is reported");
    let (reason, message) = waiting_reason(&status, "mysqld");
    assert_eq!(reason, CONTAINER_CREATING);
    assert!(
        message.contains("configmap \"orders-a-config\" not found"),
        "{message}"
    );
    assert_eq!(status.phase.as_deref(), Some("Pending"));

    runtime.update(pod, complete).expect("the ConfigMap arrives");
    let status = runtime
        .wait_until(Duration::from_secs(10), |status| {
            waiting_reason(status, "mysqld").0 == CREATE_CONTAINER_CONFIG_ERROR
                && waiting_reason(status, "sidecar").0 == CREATE_CONTAINER_CONFIG_ERROR
        })
        .await
        .expect("the missing keys are reported");
    assert_eq!(
        waiting_reason(&status, "mysqld").1,
        "couldn't find key root-password in Secret shop/orders-credentials"
    );
    assert_eq!(
        waiting_reason(&status, "sidecar").1,
        "couldn't find key heartbeat-password in Secret shop/orders-credentials"
    );
    assert!(!pod_ready(&status));
    assert!(runtime.pids().is_empty());
    let events = runtime.drain_events();
    assert!(
        events.iter().any(
            |event| event.reason == "Failed" && event.message.contains("couldn't find key root-password")
        ),
        "{events:?}"
    );
    runtime
        .stop_within(Duration::from_secs(5))
        .await
        .expect("the Pod stops");
}
