//! The sandbox: a host cluster and member clusters on one machine, with real
//! parts wherever this machine allows them, so that scenarios and the demo
//! watch drmysql do its whole job.
//!
//! - **Network:** every node is a network namespace on a shared underlay
//!   ([`crate::topology`]); the real `drmysql agent` runs in each and joins the
//!   clusters' pod networks with VXLAN, from NodeConfigs the real `drmysql
//!   network-manager` computes from the ClusterNodes the real `drmysql
//!   discovery` of each cluster mirrors.
//! - **APIs:** one Kubernetes API simulator per cluster ([`crate::apiserver`]),
//!   listening on the underlay so that the components reach it from their
//!   namespaces; or, for the host cluster, a real API server
//!   (`DRMYSQL_E2E_KUBECONFIG`).
//! - **Nodes:** each cluster's node registers itself and runs the Pods bound
//!   to it as real `mariadbd` and `drmysql sidecar` processes
//!   ([`crate::node`]); a member cluster also appears in the host API as the
//!   tainted virtual node `kosmos-<member>`, whose Pods its node runs, as
//!   Kosmos clustertree does. A scheduler binds Pods only where their
//!   affinity and tolerations admit.
//! - **Controller:** the real `drmysql controller` runs in the host node's
//!   namespace and reaches the member's Pods through the tunnel.
//!
//! Nothing in a scenario depends on which kind of host API it runs against.

pub mod error;
pub mod http;
pub mod mysql;
pub mod objects;
pub mod preflight;
pub mod process;
pub mod uplink;
pub mod wait;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use drmysql_api::clusterlink::{Cluster, ClusterNode, NodeConfig};
use drmysql_api::drmysql::DRMySQL;
use drmysql_api::names;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret, Taint};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::error::SandboxError;
use self::mysql::{SqlTarget, run_sql};
use self::process::{Component, ProcessSpec};
use self::uplink::Uplink;
use crate::apiserver::{ApiServer, ApiServerHandle, Config};
use crate::kubelet::{RuntimeConfig, drmysql_binary_rebuilt};
use crate::node::{NodeSpec, SchedulerOptions, SimulatedNode, run_scheduler};
use crate::topology::{NodeNet, Topology};

/// The host cluster's name.
pub const HOST_CLUSTER: &str = "host";
/// The field manager of everything the sandbox writes.
const MANAGER: &str = "drmysql-sandbox";
/// The namespace the controller would live in.
const SYSTEM_NAMESPACE: &str = "drmysql-system";
/// The sidecar image the controller puts in its Pods (the sandbox's kubelet
/// runs the drmysql binary for it whatever the image).
pub const SIDECAR_IMAGE: &str = "drmysql:sandbox";
/// Where the controller serves `/metrics`, in the host node's namespace.
const CONTROLLER_METRICS_PORT: u16 = 8080;
/// How long the clusterlink components get to join the clusters.
const NETWORK_READY: Duration = Duration::from_secs(90);

/// What to build.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// A short prefix for network namespaces and links.
    pub prefix: String,
    /// The member clusters (one node each, seen in the host as
    /// `kosmos-<member>`).
    pub members: Vec<String>,
    /// A real host API server's kubeconfig instead of a simulator.
    pub host_kubeconfig: Option<PathBuf>,
    /// Where logs, kubeconfigs, Pods' files and data go (a fresh temporary
    /// directory, removed at the end, when unset).
    pub work_dir: Option<PathBuf>,
    /// Extra arguments for `drmysql controller`.
    pub controller_args: Vec<String>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            prefix: "drm".to_owned(),
            members: vec!["member-a".to_owned()],
            host_kubeconfig: None,
            work_dir: None,
            controller_args: Vec::new(),
        }
    }
}

impl SandboxConfig {
    /// The defaults, with the host API from `DRMYSQL_E2E_KUBECONFIG` and a
    /// kept work directory from `DRMYSQL_E2E_WORK_DIR` when they are set.
    pub fn from_env() -> Self {
        let path = |key: &str| {
            std::env::var_os(key)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        Self {
            host_kubeconfig: path("DRMYSQL_E2E_KUBECONFIG"),
            work_dir: path("DRMYSQL_E2E_WORK_DIR"),
            ..Self::default()
        }
    }
}

/// A member cluster: its own API, its node, and its virtual node in the host.
struct Member {
    name: String,
    kubeconfig: PathBuf,
    client: kube::Client,
    net: NodeNet,
    server: ApiServerHandle,
}

/// What the sandbox created in a real host API server, removed at shutdown
/// so that the next sandbox starts from the same state.
#[derive(Debug, Default)]
struct ExternalHost {
    namespaces: Mutex<BTreeSet<String>>,
    drmysql_namespaces: Mutex<BTreeSet<String>>,
    nodes: Vec<String>,
}

/// Where the work directory is, and whether the sandbox owns it.
enum WorkDir {
    Temporary(tempfile::TempDir),
    Given(PathBuf),
}

impl WorkDir {
    fn path(&self) -> &Path {
        match self {
            Self::Temporary(dir) => dir.path(),
            Self::Given(path) => path,
        }
    }
}

/// A running sandbox. Fields drop in order: components first, then nodes
/// (their Pods' processes and namespaces), the APIs, and the network last.
pub struct Sandbox {
    components: Vec<Component>,
    nodes: Vec<SimulatedNode>,
    scheduler_stop: watch::Sender<bool>,
    scheduler: Option<JoinHandle<()>>,
    members: Vec<Member>,
    host_server: Option<ApiServerHandle>,
    host_client: kube::Client,
    host_kubeconfig: PathBuf,
    host_net: NodeNet,
    /// Set with a real host API server: what the sandbox created there, to
    /// remove at the end.
    external: Option<ExternalHost>,
    /// Held for its Drop, which removes the routes and NAT to the outside.
    _uplink: Option<Uplink>,
    topology: Topology,
    work_dir: WorkDir,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The crds/ directory of the repository.
fn crd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds")
}

/// A client for `kubeconfig`.
async fn client_for(kubeconfig: &Path) -> Result<kube::Client, SandboxError> {
    let what = format!("the kubeconfig {}", kubeconfig.display());
    let config = Kubeconfig::read_from(kubeconfig).map_err(SandboxError::part(what.clone()))?;
    let config = kube::Config::from_custom_kubeconfig(config, &KubeConfigOptions::default())
        .await
        .map_err(SandboxError::part(what.clone()))?;
    kube::Client::try_from(config).map_err(SandboxError::kube(what))
}

/// Creates or updates `object` with server-side apply.
async fn apply<K>(api: &Api<K>, name: &str, object: &K) -> Result<K, SandboxError>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    api.patch(name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(object))
        .await
        .map_err(SandboxError::kube(format!("applying {kind} {name}")))
}

/// Makes sure Namespace `name` exists; whether this call created it.
async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<bool, SandboxError> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api
        .get_opt(name)
        .await
        .map_err(SandboxError::kube(format!("reading Namespace {name}")))?
        .is_some()
    {
        return Ok(false);
    }
    let mut namespace = objects::namespace(name);
    namespace.metadata.name = Some(name.to_owned());
    let mut object = serde_json::to_value(&namespace)
        .map_err(|error| SandboxError::Invariant(format!("Namespace {name}: {error}")))?;
    object["apiVersion"] = "v1".into();
    object["kind"] = "Namespace".into();
    api.patch(name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&object))
        .await
        .map_err(SandboxError::kube(format!("applying Namespace {name}")))?;
    Ok(true)
}

/// Installs the repository's CRDs into a real API server and waits until
/// they are established.
async fn install_crds(client: &kube::Client) -> Result<(), SandboxError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = crd_dir();
    let entries = std::fs::read_dir(&dir).map_err(|error| SandboxError::Io {
        what: format!("cannot read {}", dir.display()),
        error,
    })?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|extension| extension != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|error| SandboxError::Io {
            what: format!("cannot read {}", path.display()),
            error,
        })?;
        let crd: CustomResourceDefinition = serde_saphyr::from_str(&text)
            .map_err(SandboxError::part(format!("{} is not a CRD", path.display())))?;
        let name = crd.metadata.name.clone().unwrap_or_default();
        apply(&api, &name, &crd).await?;
        names.push(name);
    }
    for name in names {
        let api = api.clone();
        wait::until(
            &format!("CRD {name} established"),
            Duration::from_secs(30),
            || {
                let (api, name) = (api.clone(), name.clone());
                async move {
                    let crd = api.get(&name).await.map_err(|error| error.to_string())?;
                    let established = crd
                        .status
                        .and_then(|status| status.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|condition| condition.type_ == "Established" && condition.status == "True");
                    if established {
                        Ok(())
                    } else {
                        Err("not established".to_owned())
                    }
                }
            },
        )
        .await?;
    }
    Ok(())
}

fn kosmos_taint() -> Taint {
    Taint {
        key: names::KOSMOS_NODE_TAINT_KEY.to_owned(),
        value: Some(names::KOSMOS_NODE_TAINT_VALUE.to_owned()),
        effect: names::KOSMOS_NODE_TAINT_EFFECT.to_owned(),
        time_added: None,
    }
}

impl Sandbox {
    /// Builds and starts everything, and waits until the clusters' pod
    /// networks are joined.
    pub async fn start(config: SandboxConfig) -> Result<Self, SandboxError> {
        preflight::check()?;
        let binary = drmysql_binary_rebuilt().map_err(SandboxError::part("the drmysql binary"))?;
        let work_dir = match &config.work_dir {
            Some(path) => {
                std::fs::create_dir_all(path).map_err(|error| SandboxError::Io {
                    what: format!("cannot create {}", path.display()),
                    error,
                })?;
                WorkDir::Given(path.clone())
            }
            None => WorkDir::Temporary(tempfile::Builder::new().prefix("drm-").tempdir().map_err(
                |error| SandboxError::Io {
                    what: "cannot create the sandbox's temporary directory".to_owned(),
                    error,
                },
            )?),
        };
        let dir = work_dir.path().to_path_buf();
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|error| SandboxError::Io {
            what: format!("cannot create {}", logs.display()),
            error,
        })?;

        let mut topology = Topology::create(&config.prefix).map_err(SandboxError::part("the network"))?;
        let host_net = topology
            .add_node(HOST_CLUSTER, &format!("{HOST_CLUSTER}-1"))
            .map_err(SandboxError::part("the host node's namespace"))?;
        let bind = SocketAddr::new(IpAddr::V4(topology.api_address()), 0);

        let (host_server, host_kubeconfig) = match &config.host_kubeconfig {
            Some(path) => (None, path.clone()),
            None => {
                let server = ApiServer::start_with(Config::new(bind).with_crd_dir(crd_dir()))
                    .await
                    .map_err(SandboxError::part("the host API simulator"))?;
                let path = dir.join("host.kubeconfig");
                server.write_kubeconfig(&path).map_err(|error| SandboxError::Io {
                    what: format!("cannot write {}", path.display()),
                    error,
                })?;
                (Some(server), path)
            }
        };
        let host_client = client_for(&host_kubeconfig).await?;
        if host_server.is_none() {
            install_crds(&host_client).await?;
        }
        let mut created_namespaces = BTreeSet::new();
        for namespace in [objects::KOSMOS_NAMESPACE, SYSTEM_NAMESPACE] {
            if ensure_namespace(&host_client, namespace).await? {
                created_namespaces.insert(namespace.to_owned());
            }
        }
        let clusters: Api<Cluster> = Api::all(host_client.clone());
        apply(&clusters, HOST_CLUSTER, &objects::cluster(HOST_CLUSTER)).await?;

        let mut members = Vec::new();
        for name in &config.members {
            let net = topology
                .add_node(name, &format!("{name}-1"))
                .map_err(SandboxError::part(format!("the namespace of {name}'s node")))?;
            let server = ApiServer::start_with(Config::new(bind))
                .await
                .map_err(SandboxError::part(format!("{name}'s API simulator")))?;
            let kubeconfig = dir.join(format!("{name}.kubeconfig"));
            server
                .write_kubeconfig(&kubeconfig)
                .map_err(|error| SandboxError::Io {
                    what: format!("cannot write {}", kubeconfig.display()),
                    error,
                })?;
            let client = client_for(&kubeconfig).await?;
            ensure_namespace(&client, objects::KOSMOS_NAMESPACE).await?;
            apply(&clusters, name, &objects::cluster(name)).await?;
            members.push(Member {
                name: name.clone(),
                kubeconfig,
                client,
                net,
                server,
            });
        }

        // Short paths: a Pod's mysqld socket lives under pods/<node>/<pod>/
        // and a unix socket address holds 107 bytes.
        let runtime_config = RuntimeConfig {
            drmysql_binary: binary.clone(),
            pods_dir: dir.join("pods"),
            claims_root: dir.join("claims"),
            backoff: Default::default(),
        };
        let node_spec = |name: &str, net: &NodeNet| NodeSpec {
            name: name.to_owned(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            pod_cidr: net.pod_cidr,
            internal_ip: net.underlay_ip,
            netns: net.netns.clone(),
        };
        let mut nodes = Vec::new();
        nodes.push(
            SimulatedNode::start(
                host_client.clone(),
                node_spec(&host_net.node, &host_net),
                runtime_config.clone(),
            )
            .await
            .map_err(SandboxError::part(format!("node {}", host_net.node)))?,
        );
        for member in &members {
            nodes.push(
                SimulatedNode::start(
                    member.client.clone(),
                    node_spec(&member.net.node, &member.net),
                    runtime_config.clone(),
                )
                .await
                .map_err(SandboxError::part(format!("node {}", member.net.node)))?,
            );
            let virtual_name = objects::virtual_node_name(&member.name);
            let mut spec = node_spec(&virtual_name, &member.net);
            spec.labels
                .insert(names::KOSMOS_NODE_LABEL.to_owned(), "true".to_owned());
            spec.taints.push(kosmos_taint());
            nodes.push(
                SimulatedNode::start(host_client.clone(), spec, runtime_config.clone())
                    .await
                    .map_err(SandboxError::part(format!("virtual node {virtual_name}")))?,
            );
        }
        let external = config.host_kubeconfig.is_some().then(|| ExternalHost {
            namespaces: Mutex::new(created_namespaces),
            drmysql_namespaces: Mutex::new(BTreeSet::new()),
            nodes: nodes
                .iter()
                .filter(|node| !members.iter().any(|member| member.net.node == node.name()))
                .map(|node| node.name().to_owned())
                .collect(),
        });
        let uplink = match &external {
            Some(_) => {
                let namespaces: Vec<String> = std::iter::once(host_net.netns.clone())
                    .chain(members.iter().map(|member| member.net.netns.clone()))
                    .collect();
                Some(Uplink::open(
                    &namespaces,
                    topology.api_address(),
                    topology.underlay_cidr(),
                )?)
            }
            None => None,
        };
        let (scheduler_stop, mut stopped) = watch::channel(false);
        let options = SchedulerOptions {
            bind_after: if host_server.is_some() {
                Duration::ZERO
            } else {
                Duration::from_secs(5)
            },
            ..SchedulerOptions::default()
        };
        let scheduler_client = host_client.clone();
        let scheduler = tokio::spawn(async move {
            let stop = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            if let Err(error) = run_scheduler(scheduler_client, options, stop).await {
                tracing::error!(%error, "the sandbox scheduler stopped");
            }
        });

        let mut sandbox = Self {
            components: Vec::new(),
            nodes,
            scheduler_stop,
            scheduler: Some(scheduler),
            members,
            host_server,
            host_client,
            host_kubeconfig,
            host_net,
            external,
            _uplink: uplink,
            topology,
            work_dir,
        };
        sandbox.start_components(&binary, &config)?;
        sandbox.wait_network().await?;
        Ok(sandbox)
    }

    /// Starts the clusterlink components and the controller where they run
    /// in a cluster.
    fn start_components(&mut self, binary: &Path, config: &SandboxConfig) -> Result<(), SandboxError> {
        let logs = self.work_dir.path().join("logs");
        let host_netns = self.host_net.netns.clone();
        let host_kubeconfig = self.host_kubeconfig.clone();
        let drmysql = |name: &str, args: &[&str]| {
            ProcessSpec::new(name, binary, args)
                .env("KUBECONFIG", &host_kubeconfig)
                .env("DRMYSQL_LOG_FORMAT", "text")
        };
        let mut specs = vec![
            drmysql(
                "network-manager",
                &[
                    "network-manager",
                    "--debounce-ms",
                    "200",
                    "--max-delay-ms",
                    "2000",
                ],
            )
            .in_netns(&host_netns),
            drmysql(
                &format!("discovery-{HOST_CLUSTER}"),
                &["discovery", "--cluster", HOST_CLUSTER, "--lease-namespace"],
            )
            .args([
                objects::KOSMOS_NAMESPACE,
                "--identity",
                "discovery-host",
                "--resync-seconds",
                "10",
            ])
            .args([
                "--host-kubeconfig".into(),
                host_kubeconfig.clone().into_os_string(),
            ])
            .in_netns(&host_netns),
        ];
        let metrics = format!("0.0.0.0:{CONTROLLER_METRICS_PORT}");
        let mut controller = vec![
            "controller",
            "--sidecar-image",
            SIDECAR_IMAGE,
            "--leader-election=false",
            "--metrics-address",
            &metrics,
        ];
        controller.extend(config.controller_args.iter().map(String::as_str));
        specs.push(drmysql("controller", &controller).in_netns(&host_netns));
        let nets: Vec<NodeNet> = std::iter::once(self.host_net.clone())
            .chain(self.members.iter().map(|member| member.net.clone()))
            .collect();
        for member in &self.members {
            specs.push(
                ProcessSpec::new(
                    &format!("discovery-{}", member.name),
                    binary,
                    &["discovery", "--cluster", &member.name, "--lease-namespace"],
                )
                .args([
                    objects::KOSMOS_NAMESPACE,
                    "--identity",
                    &format!("discovery-{}", member.name),
                    "--resync-seconds",
                    "10",
                ])
                .args([
                    "--host-kubeconfig".into(),
                    host_kubeconfig.clone().into_os_string(),
                ])
                .env("KUBECONFIG", &member.kubeconfig)
                .in_netns(&host_netns),
            );
        }
        for net in &nets {
            specs.push(
                drmysql(
                    &format!("agent-{}", net.node),
                    &["agent", "--cluster", &net.cluster, "--node", &net.node],
                )
                .args(["--metrics-address", "0.0.0.0:9105", "--resync-seconds", "10"])
                .in_netns(&net.netns),
            );
        }
        for spec in &specs {
            self.components.push(Component::start(spec, &logs)?);
        }
        Ok(())
    }

    /// Waits until every node's NodeConfig is applied without errors.
    async fn wait_network(&mut self) -> Result<(), SandboxError> {
        let configs: Api<NodeConfig> = Api::all(self.host_client.clone());
        let expected: Vec<String> = std::iter::once(&self.host_net)
            .chain(self.members.iter().map(|member| &member.net))
            .map(|net| ClusterNode::name_for(&net.cluster, &net.node))
            .collect();
        let limit = NETWORK_READY;
        let deadline = std::time::Instant::now() + limit;
        loop {
            self.check_components()?;
            let mut waiting = Vec::new();
            for name in &expected {
                match configs.get_opt(name).await {
                    Ok(Some(config)) => {
                        let status = config.status.unwrap_or_default();
                        let current = status.observed_generation.is_some()
                            && status.observed_generation == config.metadata.generation;
                        if !current || status.applied.unwrap_or(0) == 0 || !status.errors.is_empty() {
                            waiting.push(format!(
                                "{name}: applied {:?}, errors {:?}, observed generation {:?} of {:?}",
                                status.applied,
                                status.errors,
                                status.observed_generation,
                                config.metadata.generation
                            ));
                        }
                    }
                    Ok(None) => waiting.push(format!("{name}: no NodeConfig yet")),
                    Err(error) => waiting.push(format!("{name}: {error}")),
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(SandboxError::Timeout {
                    what: "the clusters' pod networks joined (every NodeConfig applied)".to_owned(),
                    limit,
                    last: format!("{}\n{}", waiting.join("; "), self.component_logs(10)),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// An error naming the first component that has exited.
    pub fn check_components(&mut self) -> Result<(), SandboxError> {
        self.components.iter_mut().try_for_each(Component::check_running)
    }

    /// The last `lines` of every component's log, for diagnostics.
    pub fn component_logs(&self, lines: usize) -> String {
        self.components
            .iter()
            .map(|component| format!("--- {} ---\n{}", component.name(), component.log_tail(lines)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every Pod the sandbox's nodes run, with the end of each container's
    /// log, for diagnostics.
    pub fn pod_logs(&self, lines: usize) -> String {
        let mut out = Vec::new();
        for node in &self.nodes {
            for pod in node.pods() {
                for (container, log) in &pod.logs {
                    let text = std::fs::read_to_string(log).unwrap_or_default();
                    let all: Vec<&str> = text.lines().collect();
                    out.push(format!(
                        "--- {}/{} {container} on {} ({}) ---\n{}",
                        pod.namespace,
                        pod.name,
                        node.name(),
                        pod.ip,
                        all[all.len().saturating_sub(lines)..].join("\n")
                    ));
                }
            }
        }
        out.join("\n")
    }

    /// A client of the host cluster's API.
    pub fn host_client(&self) -> kube::Client {
        self.host_client.clone()
    }

    /// The host cluster's kubeconfig (for kubectl).
    pub fn host_kubeconfig(&self) -> &Path {
        &self.host_kubeconfig
    }

    /// The host node's network namespace, where the controller runs.
    pub fn host_netns(&self) -> &str {
        &self.host_net.netns
    }

    /// The host node's name.
    pub fn host_node(&self) -> &str {
        &self.host_net.node
    }

    /// The network.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The member clusters' names.
    pub fn members(&self) -> Vec<String> {
        self.members.iter().map(|member| member.name.clone()).collect()
    }

    /// The simulated node (or virtual node) `name`.
    pub fn node(&self, name: &str) -> Option<&SimulatedNode> {
        self.nodes.iter().find(|node| node.name() == name)
    }

    /// The pid of the running `mysqld` of Pod `namespace/pod`, on whichever
    /// node runs it; `None` when none runs (the kubelet has not restarted it
    /// yet).
    pub fn mysqld_pid(&self, namespace: &str, pod: &str) -> Option<u32> {
        self.nodes.iter().find_map(|node| {
            node.pods()
                .into_iter()
                .find(|running| running.namespace == namespace && running.name == pod)
                .and_then(|running| running.pids.get("mysqld").copied())
        })
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`) to process `pid`; whether it
    /// was delivered.
    pub fn signal_pid(pid: u32, signal: &str) -> bool {
        std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Sends `signal` to the running `mysqld` of Pod `namespace/pod`: whether
    /// it was delivered, or `None` when none runs.
    pub fn signal_mysqld(&self, namespace: &str, pod: &str, signal: &str) -> Option<bool> {
        self.mysqld_pid(namespace, pod)
            .map(|pid| Self::signal_pid(pid, signal))
    }

    /// Sends SIGKILL to the running `mysqld` of Pod `namespace/pod`; whether
    /// one ran and was killed.
    pub fn kill_mysqld(&self, namespace: &str, pod: &str) -> bool {
        self.signal_mysqld(namespace, pod, "KILL") == Some(true)
    }

    /// Where the controller's `/metrics` is served, seen from here.
    pub fn controller_metrics_address(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.host_net.underlay_ip), CONTROLLER_METRICS_PORT)
    }

    /// The work directory (logs, kubeconfigs, Pods' files).
    pub fn work_dir(&self) -> &Path {
        self.work_dir.path()
    }

    /// `kubectl apply` of a DRMySQL given as JSON.
    pub async fn apply_drmysql(&self, object: &serde_json::Value) -> Result<DRMySQL, SandboxError> {
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or("default");
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let created = ensure_namespace(&self.host_client, namespace).await?;
        if let Some(external) = &self.external {
            if created {
                lock(&external.namespaces).insert(namespace.to_owned());
            }
            lock(&external.drmysql_namespaces).insert(namespace.to_owned());
        }
        let api: Api<DRMySQL> = Api::namespaced(self.host_client.clone(), namespace);
        api.patch(name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(object))
            .await
            .map_err(SandboxError::kube(format!("applying DRMySQL {namespace}/{name}")))
    }

    /// The example DRMySQL placed on this sandbox: primary on the host node,
    /// replica on the first member's virtual node.
    pub fn example(&self, namespace: &str, name: &str) -> Result<serde_json::Value, SandboxError> {
        let member = self
            .members
            .first()
            .ok_or_else(|| SandboxError::Invariant("the sandbox has no member cluster".to_owned()))?;
        objects::example_drmysql(
            namespace,
            name,
            &self.host_net.node,
            &objects::virtual_node_name(&member.name),
        )
    }

    /// Root on the server at `address` (an instance of DRMySQL
    /// `namespace/drmysql`), as a client in the host node's namespace
    /// reaches it: through the tunnel for a member's Pod.
    pub async fn sql_target(
        &self,
        namespace: &str,
        drmysql: &str,
        address: IpAddr,
    ) -> Result<SqlTarget, SandboxError> {
        let object = Api::<DRMySQL>::namespaced(self.host_client.clone(), namespace)
            .get(drmysql)
            .await
            .map_err(SandboxError::kube(format!(
                "reading DRMySQL {namespace}/{drmysql}"
            )))?;
        let secrets: Api<Secret> = Api::namespaced(self.host_client.clone(), namespace);
        let secret_name = object.credentials_secret_name();
        let secret = secrets
            .get(&secret_name)
            .await
            .map_err(SandboxError::kube(format!(
                "reading Secret {namespace}/{secret_name}"
            )))?;
        let password = secret
            .data
            .as_ref()
            .and_then(|data| data.get(names::credentials::ROOT_PASSWORD))
            .map(|value| String::from_utf8_lossy(&value.0).into_owned())
            .ok_or_else(|| {
                SandboxError::Invariant(format!(
                    "Secret {namespace}/{secret_name} has no {}",
                    names::credentials::ROOT_PASSWORD
                ))
            })?;
        Ok(SqlTarget {
            netns: self.host_net.netns.clone(),
            address,
            user: "root".to_owned(),
            password,
        })
    }

    /// Runs `statements` as root on the server at `address` (see
    /// [`Self::sql_target`]); the rows of the last statement.
    pub async fn sql(
        &self,
        namespace: &str,
        drmysql: &str,
        address: IpAddr,
        statements: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, SandboxError> {
        let target = self.sql_target(namespace, drmysql, address).await?;
        run_sql(&target, statements).await
    }

    /// The IP of Pod `namespace/pod`, once it has one.
    pub async fn pod_ip(&self, namespace: &str, pod: &str) -> Result<IpAddr, SandboxError> {
        let pods: Api<Pod> = Api::namespaced(self.host_client.clone(), namespace);
        let found = pods
            .get(pod)
            .await
            .map_err(SandboxError::kube(format!("reading Pod {namespace}/{pod}")))?;
        found
            .status
            .and_then(|status| status.pod_ip)
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| SandboxError::Invariant(format!("Pod {namespace}/{pod} has no IP")))
    }

    /// The endpoints of Service `namespace/service` from its EndpointSlices:
    /// address → ready.
    pub async fn endpoints(
        &self,
        namespace: &str,
        service: &str,
    ) -> Result<BTreeMap<IpAddr, bool>, SandboxError> {
        let api: Api<EndpointSlice> = Api::namespaced(self.host_client.clone(), namespace);
        let selector = format!("kubernetes.io/service-name={service}");
        let slices = api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(SandboxError::kube(format!(
                "listing the EndpointSlices of {namespace}/{service}"
            )))?;
        let mut found = BTreeMap::new();
        for endpoint in slices
            .items
            .into_iter()
            .flat_map(|slice| slice.endpoints.unwrap_or_default())
        {
            let ready = endpoint
                .conditions
                .as_ref()
                .and_then(|conditions| conditions.ready)
                .unwrap_or(false);
            for address in endpoint.addresses {
                if let Ok(ip) = address.parse() {
                    found.insert(ip, ready);
                }
            }
        }
        Ok(found)
    }

    /// The one ready endpoint of Service `namespace/service` (the writer
    /// Service has exactly one when all is well).
    pub async fn ready_endpoint(&self, namespace: &str, service: &str) -> Result<IpAddr, SandboxError> {
        let all = self.endpoints(namespace, service).await?;
        let ready: Vec<IpAddr> = all
            .iter()
            .filter(|(_, ready)| **ready)
            .map(|(ip, _)| *ip)
            .collect();
        match ready.as_slice() {
            [one] => Ok(*one),
            _ => Err(SandboxError::Invariant(format!(
                "Service {namespace}/{service} has not exactly one ready endpoint: {all:?}"
            ))),
        }
    }

    /// The Pods of DRMySQL `namespace/name`.
    pub async fn instance_pods(&self, namespace: &str, name: &str) -> Result<Vec<Pod>, SandboxError> {
        let pods: Api<Pod> = Api::namespaced(self.host_client.clone(), namespace);
        let selector = format!("{}={name}", names::LABEL_CLUSTER);
        Ok(pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(SandboxError::kube(format!(
                "listing the Pods of {namespace}/{name}"
            )))?
            .items)
    }

    /// Deletes every DRMySQL applied through the sandbox in a real host API
    /// and waits until the controller has let them go.
    async fn remove_drmysqls(&self, external: &ExternalHost) -> Result<(), SandboxError> {
        let namespaces: Vec<String> = lock(&external.drmysql_namespaces).iter().cloned().collect();
        for namespace in &namespaces {
            let api: Api<DRMySQL> = Api::namespaced(self.host_client.clone(), namespace);
            api.delete_collection(&Default::default(), &ListParams::default())
                .await
                .map_err(SandboxError::kube(format!(
                    "deleting the DRMySQLs of {namespace}"
                )))?;
        }
        wait::until(
            "every DRMySQL of the sandbox deleted",
            Duration::from_secs(60),
            || async {
                let mut left = Vec::new();
                for namespace in &namespaces {
                    let api: Api<DRMySQL> = Api::namespaced(self.host_client.clone(), namespace);
                    let items = api
                        .list(&ListParams::default())
                        .await
                        .map_err(|error| error.to_string())?;
                    left.extend(
                        items
                            .items
                            .iter()
                            .map(|item| format!("{namespace}/{}", item.name_any())),
                    );
                }
                if left.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{left:?} remain"))
                }
            },
        )
        .await
    }

    /// Removes what the sandbox registered in a real host API: its Nodes and
    /// their Leases, the Kosmos Clusters, ClusterNodes and NodeConfigs of its
    /// clusters, and the namespaces it created.
    async fn remove_host_objects(&self, external: &ExternalHost) -> Result<(), SandboxError> {
        let client = &self.host_client;
        let params = DeleteParams::default();
        let gone = |result: Result<_, kube::Error>, what: String| match result {
            Ok(()) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(SandboxError::Kube {
                what,
                error: Box::new(error),
            }),
        };
        let nodes: Api<Node> = Api::all(client.clone());
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
        for name in &external.nodes {
            gone(
                nodes.delete(name, &params).await.map(|_| ()),
                format!("deleting Node {name}"),
            )?;
            gone(
                leases.delete(name, &params).await.map(|_| ()),
                format!("deleting Lease {name}"),
            )?;
        }
        let cluster_names: Vec<String> = std::iter::once(HOST_CLUSTER.to_owned())
            .chain(self.members.iter().map(|member| member.name.clone()))
            .collect();
        let clusters: Api<Cluster> = Api::all(client.clone());
        let cluster_nodes: Api<ClusterNode> = Api::all(client.clone());
        let configs: Api<NodeConfig> = Api::all(client.clone());
        for node in cluster_nodes
            .list(&ListParams::default())
            .await
            .map_err(SandboxError::kube("listing ClusterNodes"))?
            .items
            .into_iter()
            .filter(|node| cluster_names.contains(&node.spec.cluster_name))
        {
            let name = node.name_any();
            gone(
                cluster_nodes.delete(&name, &params).await.map(|_| ()),
                format!("deleting ClusterNode {name}"),
            )?;
            gone(
                configs.delete(&name, &params).await.map(|_| ()),
                format!("deleting NodeConfig {name}"),
            )?;
        }
        for name in &cluster_names {
            gone(
                clusters.delete(name, &params).await.map(|_| ()),
                format!("deleting Cluster {name}"),
            )?;
        }
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let created: Vec<String> = lock(&external.namespaces).iter().cloned().collect();
        for name in &created {
            gone(
                namespaces.delete(name, &params).await.map(|_| ()),
                format!("deleting Namespace {name}"),
            )?;
        }
        wait::until(
            "the sandbox's namespaces deleted",
            Duration::from_secs(120),
            || async {
                let mut left = Vec::new();
                for name in &created {
                    if namespaces
                        .get_opt(name)
                        .await
                        .map_err(|error| error.to_string())?
                        .is_some()
                    {
                        left.push(name.clone());
                    }
                }
                if left.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{left:?} remain"))
                }
            },
        )
        .await
    }

    /// Stops everything in order and checks that nothing is left: components,
    /// then every node's Pods (processes and namespaces), the APIs and the
    /// network.
    pub async fn shutdown(mut self) -> Result<(), SandboxError> {
        let mut problems = Vec::new();
        let external = self.external.take();
        if let Some(external) = &external
            && let Err(error) = self.remove_drmysqls(external).await
        {
            problems.push(error.to_string());
        }
        for mut component in std::mem::take(&mut self.components) {
            component.stop();
        }
        for node in std::mem::take(&mut self.nodes) {
            let name = node.name().to_owned();
            if let Err(error) = node.shutdown().await {
                problems.push(format!("node {name}: {error}"));
            }
        }
        let _ = self.scheduler_stop.send(true);
        if let Some(scheduler) = self.scheduler.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), scheduler).await;
        }
        for member in std::mem::take(&mut self.members) {
            member.server.shutdown();
            drop(member.client);
        }
        if let Some(server) = self.host_server.take() {
            server.shutdown();
        }
        if let Some(external) = &external
            && let Err(error) = self.remove_host_objects(external).await
        {
            problems.push(error.to_string());
        }
        drop(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SandboxError::Part(problems.join("; ")))
        }
    }
}
