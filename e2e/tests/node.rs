//! A simulated node and the sandbox scheduler against the API simulator,
//! with the controller's own objects: the DRMySQL's Pods are created through
//! the API, bound by the scheduler (the primary to its node, the replica,
//! pinned to a node that does not exist, left Unschedulable with the
//! reason), run by the node as a real `mariadbd` and `drmysql sidecar` in a
//! pod namespace, and reported back (status, restarts, Events). Deleting the
//! Pod and shutting the node down leave no process and no namespace.
//!
//! Root, `ip`, `mariadbd` and `mariadb-install-db` are required: the test
//! fails, naming what is missing, rather than skipping.

#[path = "apiserver_support/mod.rs"]
mod support;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use drmysql_api::drmysql::DRMySQL;
use drmysql_api::names::credentials;
use drmysql_controller::build::{BuildContext, build, credentials_secret};
use drmysql_e2e::kubelet::command::{IP_TIMEOUT, run, which};
use drmysql_e2e::kubelet::netns::{self, netns_path};
use drmysql_e2e::kubelet::process::is_alive;
use drmysql_e2e::kubelet::{Ipv4Cidr, RestartBackoff, RuntimeConfig, drmysql_binary};
use drmysql_e2e::node::{NodeSpec, RunningPod, SchedulerOptions, SimulatedNode, run_scheduler};
use drmysql_mysql::{Account, Accounts, Server, Target};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, ContainerStatus, Event, Namespace, Node, PersistentVolumeClaim, Pod, Secret,
};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::eventually;

const NODE: &str = "n0";
const ROOT_PASSWORD: &str = "root-pw-node-e2e";
const HEARTBEAT_PASSWORD: &str = "heartbeat-pw-node-e2e";

/// Fails unless this machine can run Pods for real.
fn require_machine() {
    let mut missing = Vec::new();
    let uid = std::fs::metadata("/proc/self").map(|metadata| std::os::unix::fs::MetadataExt::uid(&metadata));
    if uid.ok() != Some(0) {
        missing.push("root (network namespaces and veth pairs)".to_owned());
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
        "the simulated node test needs {}; run scripts/install-deps as root",
        missing.join(", ")
    );
}

/// The node's network namespace (what the topology would create), removed
/// when dropped.
struct NodeNetns {
    name: String,
}

impl NodeNetns {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "drn-{}-{}-{NODE}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
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

fn container<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    pod.status
        .as_ref()?
        .container_statuses
        .iter()
        .flatten()
        .find(|status| status.name == name)
}

fn condition(pod: &Pod, kind: &str) -> Option<(String, Option<String>, Option<String>)> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|condition| condition.type_ == kind)
        .map(|condition| {
            (
                condition.status.clone(),
                condition.reason.clone(),
                condition.message.clone(),
            )
        })
}

fn started(pod: &Pod, name: &str) -> bool {
    container(pod, name).is_some_and(|status| status.started == Some(true))
}

fn ready(pod: &Pod) -> bool {
    condition(pod, "Ready").is_some_and(|(status, _, _)| status == "True")
}

async fn get_pod(pods: &Api<Pod>, name: &str) -> Option<Pod> {
    pods.get_opt(name).await.expect("the simulator answers")
}

/// Creates the DRMySQL and every object the controller would create for it
/// (Secrets, ConfigMaps, claims, Pods), as the controller does, through the
/// API. The primary `orders-a` is pinned to [`NODE`], the replica
/// `orders-b` to `n1`, which does not exist.
async fn apply_drmysql(client: &kube::Client) -> Vec<Pod> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "shop"}})).expect("a Namespace"),
        )
        .await
        .expect("namespace shop");
    let drmysqls: Api<DRMySQL> = Api::namespaced(client.clone(), "shop");
    let drmysql: DRMySQL = serde_json::from_value(json!({
        "apiVersion": "drmysql.io/v1alpha1",
        "kind": "DRMySQL",
        "metadata": {"name": "orders", "namespace": "shop"},
        "spec": {
            "engine": {"image": "mariadb:10.11"},
            "primary": {"name": "a", "node": NODE},
            "replicas": [{"name": "b", "node": "n1"}]
        }
    }))
    .expect("a DRMySQL");
    let drmysql = drmysqls
        .create(&PostParams::default(), &drmysql)
        .await
        .expect("the DRMySQL is admitted");
    let desired = build(
        &drmysql,
        &BuildContext {
            sidecar_image: "drmysql:e2e".to_owned(),
            current_primary: "orders-a".to_owned(),
            roles: Default::default(),
        },
    );
    let credential_values = credentials::REQUIRED_KEYS
        .iter()
        .map(|key| {
            let value = match *key {
                credentials::ROOT_PASSWORD => ROOT_PASSWORD.to_owned(),
                credentials::HEARTBEAT_PASSWORD => HEARTBEAT_PASSWORD.to_owned(),
                other => format!("{other}-node-e2e"),
            };
            ((*key).to_owned(), value)
        })
        .collect();
    let token = [(credentials::SIDECAR_TOKEN.to_owned(), "token-node-e2e".to_owned())].into();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "shop");
    for secret in [
        credentials_secret(&drmysql, &drmysql.credentials_secret_name(), &credential_values),
        credentials_secret(&drmysql, "orders-sidecar", &token),
    ] {
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("a Secret");
    }
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    for map in &desired.config_maps {
        maps.create(&PostParams::default(), map)
            .await
            .expect("a ConfigMap");
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "shop");
    for claim in &desired.persistent_volume_claims {
        claims
            .create(&PostParams::default(), claim)
            .await
            .expect("a claim");
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    for pod in &desired.pods {
        pods.create(&PostParams::default(), pod).await.expect("a Pod");
    }
    desired.pods
}

async fn events_of(client: &kube::Client, pod: &str, reason: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), "shop");
    events
        .list(&ListParams::default().fields(&format!("involvedObject.name={pod},reason={reason}")))
        .await
        .expect("events listed")
        .items
}

/// Waits until `pod` no longer runs on `node`: processes gone, namespace
/// removed.
async fn gone_from_the_node(node: &SimulatedNode, pod: &RunningPod) {
    eventually("the Pod stopped on the node", Duration::from_secs(30), || async {
        (!node.pods().iter().any(|running| running.uid == pod.uid)).then_some(())
    })
    .await;
    eventually("the Pod's processes gone", Duration::from_secs(10), || async {
        pod.pids.values().all(|pid| !is_alive(*pid)).then_some(())
    })
    .await;
    eventually("the Pod's namespace removed", Duration::from_secs(10), || async {
        (!netns_path(&pod.netns).exists()).then_some(())
    })
    .await;
}

/// Creates the primary's Pod again and waits until the node runs it.
async fn run_again(pods: &Api<Pod>, node: &SimulatedNode, desired: &[Pod], previous_uid: &str) -> RunningPod {
    let pod = desired
        .iter()
        .find(|pod| pod.name_any() == "orders-a")
        .cloned()
        .expect("orders-a");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("orders-a created again");
    eventually("orders-a running again", Duration::from_secs(60), || async {
        get_pod(pods, "orders-a")
            .await
            .filter(|pod| started(pod, "mysqld"))
    })
    .await;
    let running = eventually("orders-a listed by the node", Duration::from_secs(5), || async {
        node.pods().into_iter().find(|running| {
            running.name == "orders-a" && running.uid != previous_uid && running.pids.len() == 2
        })
    })
    .await;
    assert!(netns_path(&running.netns).exists());
    running
}

fn log_tail(node: &SimulatedNode, pod: &str, container: &str) -> String {
    node.pods()
        .into_iter()
        .find(|running| running.name == pod)
        .and_then(|running| running.logs.get(container).cloned())
        .and_then(|path| std::fs::read_to_string(path).ok())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_node_runs_the_controllers_pod_through_the_api() {
    let began = Instant::now();
    require_machine();
    let binary = drmysql_binary().expect("the drmysql binary");
    let (_server, client) = support::start().await;
    let scratch = tempfile::tempdir().expect("scratch directory");
    let node_netns = NodeNetns::new();
    let cidr: Ipv4Cidr = "10.244.31.0/24".parse().expect("pod CIDR");
    let node = SimulatedNode::start(
        client.clone(),
        NodeSpec {
            name: NODE.to_owned(),
            labels: [("topology.kubernetes.io/zone".to_owned(), "cloud-a".to_owned())].into(),
            taints: Vec::new(),
            pod_cidr: cidr,
            internal_ip: Ipv4Addr::new(192, 0, 2, 31),
            netns: node_netns.name.clone(),
        },
        RuntimeConfig {
            drmysql_binary: binary,
            pods_dir: scratch.path().join("pods"),
            claims_root: scratch.path().join("pvc"),
            backoff: RestartBackoff::default(),
        },
    )
    .await
    .expect("the node starts");
    assert_eq!(node.name(), NODE);
    let (stop_scheduler, scheduler_stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = tokio::spawn(run_scheduler(
        client.clone(),
        SchedulerOptions::default(),
        async move {
            let _ = scheduler_stopped.await;
        },
    ));

    // The Node is registered Ready, with its labels, CIDR and address, and
    // holds its Lease.
    let nodes: Api<Node> = Api::all(client.clone());
    let registered = nodes.get(NODE).await.expect("the Node exists");
    let labels = registered.labels();
    assert_eq!(labels["kubernetes.io/hostname"], NODE);
    assert_eq!(labels["topology.kubernetes.io/zone"], "cloud-a");
    let node_spec = registered.spec.clone().expect("spec");
    assert_eq!(node_spec.pod_cidr.as_deref(), Some("10.244.31.0/24"));
    let node_status = registered.status.clone().expect("status");
    let ready_condition = node_status
        .conditions
        .iter()
        .flatten()
        .find(|condition| condition.type_ == "Ready")
        .expect("a Ready condition");
    assert_eq!(
        (ready_condition.status.as_str(), ready_condition.reason.as_deref()),
        ("True", Some("KubeletReady"))
    );
    assert!(
        node_status
            .addresses
            .iter()
            .flatten()
            .any(|address| address.type_ == "InternalIP" && address.address == "192.0.2.31")
    );
    assert_eq!(
        node_status.node_info.map(|info| info.kubelet_version),
        Some("v1.32.0-drmysql-e2e".to_owned())
    );
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = leases.get(NODE).await.expect("the node Lease exists");
    let lease_spec = lease.spec.expect("spec");
    assert_eq!(lease_spec.holder_identity.as_deref(), Some(NODE));
    assert_eq!(lease_spec.lease_duration_seconds, Some(40));
    let first_renewal = lease_spec.renew_time.expect("renewed");

    let desired = apply_drmysql(&client).await;
    assert_eq!(desired.len(), 2, "a primary and a replica");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");

    // The scheduler binds the primary to its node ...
    let bound = eventually("orders-a bound to n0", Duration::from_secs(10), || async {
        get_pod(&pods, "orders-a")
            .await
            .filter(|pod| pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()) == Some(NODE))
    })
    .await;
    assert_eq!(
        condition(&bound, "PodScheduled")
            .map(|(status, _, _)| status)
            .as_deref(),
        Some("True")
    );
    eventually("the Scheduled Event", Duration::from_secs(5), || async {
        (!events_of(&client, "orders-a", "Scheduled").await.is_empty()).then_some(())
    })
    .await;

    // ... and leaves the replica, pinned to a node that does not exist,
    // Pending with the reason.
    let unschedulable = eventually("orders-b Unschedulable", Duration::from_secs(10), || async {
        get_pod(&pods, "orders-b").await.filter(|pod| {
            condition(pod, "PodScheduled").is_some_and(|(status, reason, _)| {
                status == "False" && reason.as_deref() == Some("Unschedulable")
            })
        })
    })
    .await;
    let (_, _, message) = condition(&unschedulable, "PodScheduled").expect("the condition");
    let message = message.expect("a message");
    assert!(
        message.contains("0/1 nodes are available")
            && message.contains("node n0 does not match the Pod's required node affinity"),
        "{message}"
    );
    assert_eq!(unschedulable.spec.and_then(|spec| spec.node_name), None);
    assert_eq!(
        unschedulable.status.and_then(|status| status.phase).as_deref(),
        Some("Pending")
    );
    let failed = eventually("the FailedScheduling Event", Duration::from_secs(5), || async {
        Some(events_of(&client, "orders-b", "FailedScheduling").await).filter(|events| !events.is_empty())
    })
    .await;
    // The scheduler keeps retrying; the same reason is reported once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let failed_again = events_of(&client, "orders-b", "FailedScheduling").await;
    assert_eq!(failed_again.len(), 1, "one Event per reason: {failed_again:?}");
    assert_eq!(failed[0].message.as_deref(), Some(message.as_str()));

    // The claim is bound (the sandbox has no provisioner), the Pod runs with
    // an address of the node's CIDR, and its status says so.
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "shop");
    eventually("orders-a-data Bound", Duration::from_secs(10), || async {
        claims
            .get("orders-a-data")
            .await
            .ok()
            .filter(|claim| claim.status.as_ref().and_then(|status| status.phase.as_deref()) == Some("Bound"))
    })
    .await;
    let running = eventually("mysqld started in the API", Duration::from_secs(60), || async {
        get_pod(&pods, "orders-a")
            .await
            .filter(|pod| started(pod, "mysqld"))
    })
    .await;
    let status = running.status.clone().expect("status");
    let pod_ip: Ipv4Addr = status
        .pod_ip
        .as_deref()
        .expect("status.podIP")
        .parse()
        .expect("an IPv4 address");
    assert!(cidr.contains(pod_ip), "{pod_ip} is in {cidr}");
    assert_eq!(status.host_ip.as_deref(), Some("192.0.2.31"));
    let here = node.pods();
    assert_eq!(here.len(), 1, "only the primary runs here: {here:?}");
    assert_eq!((here[0].name.as_str(), here[0].ip), ("orders-a", pod_ip));
    assert!(netns_path(&here[0].netns).exists());

    // What the controller does to a new primary, from the node's namespace:
    // after that the sidecar reports ready and so does the Pod.
    let target_ip = IpAddr::V4(pod_ip);
    in_netns(&node_netns.name, move || async move {
        let target = Target::new(target_ip.to_string(), 3306, "root", ROOT_PASSWORD);
        let mut server = Server::connect(&target, Duration::from_secs(5))
            .await
            .expect("root connects to podIP:3306 with the Secret's password");
        let accounts = Accounts {
            replication: Account::new(credentials::REPLICATION_USER, "replication-password-node-e2e"),
            heartbeat: Account::new(credentials::HEARTBEAT_USER, HEARTBEAT_PASSWORD),
        };
        server
            .prepare(&accounts)
            .await
            .expect("accounts and heartbeat table");
        server.make_writable().await.expect("promoted");
        server.close().await;
    })
    .await;
    let limit = Duration::from_secs(30);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let pod = get_pod(&pods, "orders-a").await.expect("orders-a exists");
        if ready(&pod) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "orders-a not Ready in the API within {limit:?}: {:?}\nsidecar log:\n{}",
            pod.status,
            log_tail(&node, "orders-a", "sidecar")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The kubelet's Events are in the API, from the node.
    let started_events = eventually("the kubelet's Started Events", Duration::from_secs(5), || async {
        Some(events_of(&client, "orders-a", "Started").await).filter(|events| events.len() >= 2)
    })
    .await;
    for event in &started_events {
        let source = event.source.clone().expect("a source");
        assert_eq!(source.component.as_deref(), Some("kubelet"));
        assert_eq!(source.host.as_deref(), Some(NODE));
        assert_eq!(event.reporting_component.as_deref(), Some("kubelet"));
    }

    // A label moved on the live Pod reaches its downwardAPI volume.
    pods.patch(
        "orders-a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"e2e.drmysql.io/touched": "yes"}}})),
    )
    .await
    .expect("label added");
    let labels_file = scratch
        .path()
        .join("pods")
        .join(NODE)
        .join("shop_orders-a/volumes/podinfo/labels");
    eventually(
        "the new label in the podinfo volume",
        Duration::from_secs(10),
        || async {
            std::fs::read_to_string(&labels_file)
                .ok()
                .filter(|labels| labels.contains("e2e.drmysql.io/touched=\"yes\""))
        },
    )
    .await;

    // The Lease is renewed by the heartbeats.
    let renewed = eventually("the node Lease renewed", Duration::from_secs(15), || async {
        leases
            .get(NODE)
            .await
            .ok()
            .and_then(|lease| lease.spec?.renew_time)
            .filter(|renewal| renewal.0 > first_renewal.0)
    })
    .await;
    assert!(renewed.0 > first_renewal.0);

    // Paused heartbeats: the node turns Unknown (what the node-lifecycle
    // controller would write) while its Pod keeps running; resumed, Ready.
    let node_ready = |wanted: &'static str| {
        let nodes = nodes.clone();
        async move {
            let node = nodes.get(NODE).await.ok()?;
            let conditions = node.status?.conditions?;
            let ready = conditions
                .into_iter()
                .find(|condition| condition.type_ == "Ready")?;
            (ready.status == wanted).then_some(ready)
        }
    };
    node.pause_heartbeats();
    let unknown = eventually("the Node Unknown", Duration::from_secs(5), || {
        node_ready("Unknown")
    })
    .await;
    assert_eq!(unknown.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(node.pods().len(), 1, "the Pod keeps running");
    node.resume_heartbeats();
    let back = eventually("the Node Ready again", Duration::from_secs(5), || {
        node_ready("True")
    })
    .await;
    assert_eq!(back.reason.as_deref(), Some("KubeletReady"));

    // kill -9 of mysqld: the runtime restarts it and the API sees the restart.
    let killed = node.kill9("shop", "orders-a", "mysqld").expect("mysqld runs");
    let restarted = eventually(
        "mysqld restartCount 1 in the API",
        Duration::from_secs(40),
        || async {
            get_pod(&pods, "orders-a").await.filter(|pod| {
                container(pod, "mysqld").is_some_and(|status| status.restart_count == 1)
                    && started(pod, "mysqld")
            })
        },
    )
    .await;
    let last = container(&restarted, "mysqld")
        .and_then(|status| status.last_state.clone())
        .and_then(|state| state.terminated)
        .expect("the killed run is the last state");
    assert_eq!((last.exit_code, last.signal), (137, Some(9)));
    assert!(!is_alive(killed), "the killed mariadbd is gone");

    // Deleting the Pod (the simulator deletes at once) stops its processes
    // and removes its namespace.
    let first = node.pods().into_iter().next().expect("orders-a runs");
    assert_eq!(first.pids.len(), 2, "both containers run: {first:?}");
    pods.delete("orders-a", &DeleteParams::default())
        .await
        .expect("orders-a deleted");
    gone_from_the_node(&node, &first).await;

    // A Pod marked for deletion (a finalizer holds it here, as a real API
    // server holds every Pod for its kubelet) is stopped, then deleted with
    // gracePeriodSeconds=0 by the node; the finalizer keeps it until removed.
    let second = run_again(&pods, &node, &desired, &first.uid).await;
    pods.patch(
        "orders-a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": ["e2e.drmysql.io/hold"]}})),
    )
    .await
    .expect("finalizer added");
    pods.delete("orders-a", &DeleteParams::default())
        .await
        .expect("orders-a marked for deletion");
    gone_from_the_node(&node, &second).await;
    let held = get_pod(&pods, "orders-a").await.expect("held by the finalizer");
    assert!(held.metadata.deletion_timestamp.is_some());
    let killing = events_of(&client, "orders-a", "Killing").await;
    assert!(
        killing
            .iter()
            .any(|event| event.involved_object.uid.as_deref() == Some(second.uid.as_str())),
        "{killing:?}"
    );
    pods.patch(
        "orders-a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("finalizer removed");
    eventually("orders-a gone from the API", Duration::from_secs(10), || async {
        get_pod(&pods, "orders-a").await.is_none().then_some(())
    })
    .await;

    // Run once more, on the data its claim kept; shutting the node down then
    // leaves nothing behind, and the Node object stays.
    let third = run_again(&pods, &node, &desired, &second.uid).await;
    node.shutdown().await.expect("the node stops cleanly");
    for pid in third.pids.values() {
        assert!(!is_alive(*pid), "process {pid} outlived the node");
    }
    assert!(
        !netns_path(&third.netns).exists(),
        "the pod namespace outlived the node"
    );
    assert!(
        nodes
            .get_opt(NODE)
            .await
            .expect("the simulator answers")
            .is_some(),
        "the Node object stays, as a stopped kubelet leaves it"
    );

    stop_scheduler.send(()).expect("the scheduler runs");
    scheduler
        .await
        .expect("the scheduler task")
        .expect("the scheduler stops cleanly");
    eprintln!("simulated node test took {:?}", began.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_takes_its_node_object_over_and_pauses_its_heartbeats() {
    require_machine();
    let (_server, client) = support::start().await;
    let scratch = tempfile::tempdir().expect("scratch directory");
    let runtime = RuntimeConfig {
        drmysql_binary: scratch.path().join("drmysql"),
        pods_dir: scratch.path().join("pods"),
        claims_root: scratch.path().join("pvc"),
        backoff: RestartBackoff::default(),
    };
    let spec = |netns: &str| NodeSpec {
        name: NODE.to_owned(),
        labels: [("topology.kubernetes.io/zone".to_owned(), "cloud-b".to_owned())].into(),
        taints: Vec::new(),
        pod_cidr: "10.244.32.0/24".parse().expect("pod CIDR"),
        internal_ip: Ipv4Addr::new(192, 0, 2, 32),
        netns: netns.to_owned(),
    };
    let missing = SimulatedNode::start(client.clone(), spec("drn-does-not-exist"), runtime.clone()).await;
    let Err(error) = missing else {
        panic!("a node without its namespace must not start");
    };
    assert!(error.to_string().contains("does not exist"), "{error}");

    // A Node left by an earlier kubelet, with a label of someone else's and
    // a taint the spec no longer has.
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": NODE, "labels": {"kept": "yes"}},
                "spec": {"taints": [{"key": "old", "value": "x", "effect": "NoSchedule"}]}
            }))
            .expect("a Node"),
        )
        .await
        .expect("the old Node");
    let node_netns = NodeNetns::new();
    let node = SimulatedNode::start_with(
        client.clone(),
        spec(&node_netns.name),
        runtime,
        drmysql_e2e::node::NodeOptions {
            heartbeat_interval: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await
    .expect("the node takes the Node over");
    let taken = nodes.get(NODE).await.expect("the Node");
    assert_eq!(taken.labels()["kept"], "yes", "other labels are kept");
    assert_eq!(taken.labels()["topology.kubernetes.io/zone"], "cloud-b");
    let taken_spec = taken.spec.clone().expect("spec");
    assert_eq!(taken_spec.taints, None, "the old taint is gone");
    assert_eq!(taken_spec.pod_cidr.as_deref(), Some("10.244.32.0/24"));

    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let renewal = || async {
        leases
            .get(NODE)
            .await
            .ok()
            .and_then(|lease| lease.spec?.renew_time)
            .map(|time| time.0)
    };
    let first = renewal().await.expect("the Lease");
    let renewed = eventually("a renewal", Duration::from_secs(5), || async {
        renewal().await.filter(|time| *time > first)
    })
    .await;
    node.pause_heartbeats();
    eventually("the Node Unknown", Duration::from_secs(5), || async {
        let node = nodes.get(NODE).await.ok()?;
        let ready = node
            .status?
            .conditions?
            .into_iter()
            .find(|condition| condition.type_ == "Ready")?;
        (ready.status == "Unknown").then_some(())
    })
    .await;
    let paused_at = renewal().await.expect("the Lease");
    assert!(paused_at >= renewed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(renewal().await, Some(paused_at), "no renewal while paused");
    node.resume_heartbeats();
    eventually("a renewal after resuming", Duration::from_secs(5), || async {
        renewal().await.filter(|time| *time > paused_at)
    })
    .await;
    // The Event follows the status write and the Lease renewal, so wait
    // for it rather than reading once.
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let wanted = ["Starting", "NodeNotReady", "NodeReady"];
    eventually("the node's Events", Duration::from_secs(5), || async {
        let reasons: Vec<String> = events
            .list(&ListParams::default().fields(&format!("involvedObject.name={NODE}")))
            .await
            .ok()?
            .items
            .into_iter()
            .filter_map(|event| event.reason)
            .collect();
        wanted
            .iter()
            .all(|reason| reasons.iter().any(|seen| seen == reason))
            .then_some(())
    })
    .await;
    node.shutdown().await.expect("the node stops cleanly");
}
