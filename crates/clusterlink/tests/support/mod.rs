//! Real network namespaces for the agent's tests, in netavark's manner.
//!
//! Each test builds its own namespaces (`drmysql-t-<pid>-<n>-<tag>`), removed
//! by a guard when the test ends however it ends, so tests run in parallel
//! without seeing each other. Agent code runs on a dedicated thread that has
//! entered a node namespace with `setns` and drives a current-thread tokio
//! runtime; the tools the agent spawns from that thread inherit its namespace.
//! Root and the tools are required: a test fails, naming what is missing,
//! rather than skipping.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support code"
)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use drmysql_api::clusterlink::{
    Cluster, ClusterLinkOptions, ClusterLinkStatus, ClusterNode, ClusterNodeSpec, ClusterSpec, ClusterStatus,
    IpFamily, NetworkType, NodeConfigSpec,
};
use drmysql_clusterlink::agent::{Agent, ApplyReport, PreSharedKey, Tools};
use drmysql_clusterlink::manager;
use nix::sched::{CloneFlags, setns};

/// Fails the test unless it runs as root with every tool the agent and the
/// tests use.
pub fn require_root_and_tools() {
    let mut missing = Vec::new();
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.ok().as_deref() != Some("0") {
        missing.push("root (the tests create network namespaces)".to_string());
    }
    for tool in [
        "ip",
        "bridge",
        "iptables",
        "ip6tables",
        "iptables-restore",
        "iptables-save",
        "ip6tables-restore",
        "ip6tables-save",
        "ipset",
    ] {
        if which(tool).is_none() {
            missing.push(format!("`{tool}` in PATH"));
        }
    }
    assert!(
        missing.is_empty(),
        "the agent's kernel tests need {}; run scripts/install-deps as root (packages iproute2, iptables, ipset)",
        missing.join(", ")
    );
}

/// The full path of `tool` in `PATH`.
pub fn which(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A network namespace, deleted when dropped.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates a fresh namespace with loopback up.
    pub fn new(tag: &str) -> Self {
        let name = format!(
            "drmysql-t-{}-{}-{tag}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        run("ip", &["netns", "add", &name]);
        let netns = Self { name };
        netns.ip(&["link", "set", "lo", "up"]);
        netns
    }

    /// `ip -n <ns> <args>`, which must succeed.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Runs a command inside the namespace, which must succeed.
    pub fn exec(&self, program: &str, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", self.name.as_str(), program];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Runs a command inside the namespace and returns (success, stdout, stderr).
    pub fn try_exec(&self, program: &str, args: &[&str]) -> (bool, String, String) {
        let mut full = vec!["netns", "exec", self.name.as_str(), program];
        full.extend_from_slice(args);
        let output = Command::new("ip").args(&full).output().expect("ip runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs `work` on a new thread that has entered this namespace.
    pub fn within<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        let path = format!("{}{}", rtnetlink::NETNS_PATH, self.name);
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let file = File::open(&path).expect("namespace file opens");
                    setns(&file, CloneFlags::CLONE_NEWNET).expect("setns into the test namespace");
                    work()
                })
                .join()
                .expect("namespace thread finished")
        })
    }

    /// Runs `work` with a current-thread runtime inside this namespace.
    pub fn block_on<T: Send, F: Future<Output = T>>(&self, work: impl FnOnce() -> F + Send) -> T {
        self.within(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(work())
        })
    }

    /// A snapshot of everything the agent could touch, for comparing before
    /// and after. Volatile parts (counters, timestamps) are removed.
    pub fn dump(&self) -> BTreeMap<&'static str, String> {
        let mut dump = BTreeMap::new();
        // The kernel keeps a routing table once created, even empty, so a
        // table that does not exist yet reads as an empty one.
        let (_, table_200, _) = self.try_exec("ip", &["route", "show", "table", "200"]);
        dump.insert("link", self.ip(&["-d", "link", "show"]));
        dump.insert("addr", self.ip(&["addr", "show"]));
        dump.insert("route main", self.ip(&["route", "show", "table", "main"]));
        dump.insert("route 200", table_200);
        dump.insert("route all v6", self.ip(&["-6", "route", "show", "table", "all"]));
        dump.insert("rule", self.ip(&["rule", "show"]));
        dump.insert("rule v6", self.ip(&["-6", "rule", "show"]));
        dump.insert("fdb", self.exec("bridge", &["fdb", "show"]));
        dump.insert("neigh", self.ip(&["neigh", "show", "nud", "permanent"]));
        dump.insert("xfrm policy", self.ip(&["xfrm", "policy", "list"]));
        dump.insert("ipset", self.exec("ipset", &["list", "-n"]));
        dump.insert(
            "iptables nat",
            stable_iptables(&self.exec("iptables-save", &["-t", "nat"])),
        );
        dump.insert(
            "iptables filter",
            stable_iptables(&self.exec("iptables-save", &["-t", "filter"])),
        );
        dump.insert(
            "ip6tables nat",
            stable_iptables(&self.exec("ip6tables-save", &["-t", "nat"])),
        );
        dump.insert(
            "ip6tables filter",
            stable_iptables(&self.exec("ip6tables-save", &["-t", "filter"])),
        );
        dump
    }
}

fn stable_iptables(saved: &str) -> String {
    saved
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| match line.find(" [") {
            Some(at) if line.starts_with(':') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts two dumps are equal, naming each part that differs.
pub fn assert_same_dump(
    before: &BTreeMap<&'static str, String>,
    after: &BTreeMap<&'static str, String>,
    what: &str,
) {
    let differing: Vec<String> = before
        .iter()
        .filter(|(key, value)| after.get(*key) != Some(value))
        .map(|(key, value)| {
            format!(
                "--- {key} before:\n{value}\n--- {key} after:\n{}",
                after.get(key).cloned().unwrap_or_default()
            )
        })
        .collect();
    assert!(differing.is_empty(), "{what}:\n{}", differing.join("\n"));
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Runs a command that must succeed, returning its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        output.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Applies `spec` with a fresh agent for `node` inside `netns`.
pub fn apply(
    netns: &Netns,
    node: &str,
    spec: &NodeConfigSpec,
    psk: Option<&[u8]>,
    tools: Option<&Tools>,
) -> ApplyReport {
    let node = node.to_string();
    let psk = psk.map(<[u8]>::to_vec);
    let tools = tools.cloned();
    netns.block_on(move || async move {
        let mut agent = Agent::new(node, psk.map(PreSharedKey::new)).expect("agent starts");
        if let Some(tools) = tools {
            agent = agent.with_tools(tools);
        }
        agent.apply(spec).await
    })
}

/// Removes everything the agent owns inside `netns`.
pub fn cleanup(netns: &Netns, node: &str) -> Result<usize, String> {
    let node = node.to_string();
    netns.block_on(move || async move {
        let mut agent = Agent::new(node, None).expect("agent starts");
        agent.cleanup().await.map_err(|e| e.to_string())
    })
}

/// Asserts a report has no errors.
pub fn assert_clean(report: &ApplyReport, what: &str) {
    assert!(
        report.errors.is_empty() && report.failed == 0,
        "{what}: {report:#?}"
    );
}

/// One node of the test world: its namespace, underlay address and pod.
pub struct Node {
    pub cluster: String,
    pub node: String,
    pub gateway: bool,
    pub underlay: Ipv4Addr,
    pub pod_cidr: String,
    pub pod_ip: Ipv4Addr,
    pub netns: Netns,
    pub pod: Netns,
}

impl Node {
    /// The ClusterNode (and NodeConfig) name.
    pub fn object_name(&self) -> String {
        ClusterNode::name_for(&self.cluster, &self.node)
    }
}

/// Clusters of nodes on one underlay bridge, each node with a pod behind it.
pub struct World {
    pub underlay: Netns,
    pub nodes: Vec<Node>,
    pub clusters: BTreeMap<String, NetworkType>,
}

/// The second octet of a cluster's pod network: cluster `a` has 10.10.0.0/16,
/// `b` 10.20.0.0/16.
fn cluster_octet(cluster: &str) -> u8 {
    match cluster {
        "a" => 10,
        "b" => 20,
        "c" => 30,
        other => panic!("test clusters are a, b or c, not {other}"),
    }
}

/// The pod network of a test cluster.
pub fn cluster_pod_cidr(cluster: &str) -> String {
    format!("10.{}.0.0/16", cluster_octet(cluster))
}

impl World {
    /// Builds the namespaces: an underlay bridge, and per `(cluster, node,
    /// gateway)` a node attached to it and a pod attached to the node, with
    /// plain routes between a cluster's nodes standing in for the CNI.
    pub fn build(clusters: &[(&str, NetworkType)], layout: &[(&str, &str, bool)]) -> Self {
        let underlay = Netns::new("u");
        underlay.ip(&["link", "add", "br0", "type", "bridge"]);
        underlay.ip(&["link", "set", "br0", "up"]);
        let mut nodes = Vec::new();
        for (position, (cluster, node, gateway)) in layout.iter().enumerate() {
            let number = u8::try_from(position + 1).expect("a handful of nodes");
            let netns = Netns::new(&format!("{cluster}{node}"));
            let port = format!("p{number}");
            netns.ip(&[
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &underlay.name,
            ]);
            underlay.ip(&["link", "set", &port, "master", "br0", "up"]);
            let underlay_ip = Ipv4Addr::new(10, 0, 0, 10 + number);
            netns.ip(&["addr", "add", &format!("{underlay_ip}/24"), "dev", "eth0"]);
            netns.ip(&["link", "set", "eth0", "up"]);
            netns.exec("sysctl", &["-qw", "net.ipv4.ip_forward=1"]);

            let octet = cluster_octet(cluster);
            let pod_cidr = format!("10.{octet}.{number}.0/24");
            let pod_gateway = format!("10.{octet}.{number}.1");
            let pod_ip = Ipv4Addr::new(10, octet, number, 2);
            let pod = Netns::new(&format!("{cluster}{node}pod"));
            netns.ip(&[
                "link", "add", "vp0", "type", "veth", "peer", "name", "eth0", "netns", &pod.name,
            ]);
            netns.ip(&["addr", "add", &format!("{pod_gateway}/24"), "dev", "vp0"]);
            netns.ip(&["link", "set", "vp0", "up"]);
            pod.ip(&["addr", "add", &format!("{pod_ip}/24"), "dev", "eth0"]);
            pod.ip(&["link", "set", "eth0", "up"]);
            pod.ip(&["route", "add", "default", "via", &pod_gateway]);
            nodes.push(Node {
                cluster: cluster.to_string(),
                node: node.to_string(),
                gateway: *gateway,
                underlay: underlay_ip,
                pod_cidr,
                pod_ip,
                netns,
                pod,
            });
        }
        for node in &nodes {
            for other in nodes
                .iter()
                .filter(|other| other.cluster == node.cluster && other.node != node.node)
            {
                node.netns.ip(&[
                    "route",
                    "add",
                    &other.pod_cidr,
                    "via",
                    &other.underlay.to_string(),
                ]);
            }
        }
        let clusters = clusters
            .iter()
            .map(|(name, kind)| (name.to_string(), *kind))
            .collect();
        Self {
            underlay,
            nodes,
            clusters,
        }
    }

    /// The node named `node` of `cluster`.
    pub fn node(&self, cluster: &str, node: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.cluster == cluster && n.node == node)
            .unwrap_or_else(|| panic!("no node {cluster}/{node}"))
    }

    /// The Cluster and ClusterNode objects describing this world.
    pub fn objects(&self) -> (Vec<Cluster>, Vec<ClusterNode>) {
        let clusters = self
            .clusters
            .iter()
            .map(|(name, network_type)| {
                let mut cluster = Cluster::new(
                    name,
                    ClusterSpec {
                        cluster_link_options: Some(ClusterLinkOptions {
                            network_type: *network_type,
                            ip_family: IpFamily::Ipv4,
                            ..ClusterLinkOptions::default()
                        }),
                        ..ClusterSpec::default()
                    },
                );
                cluster.status = Some(ClusterStatus {
                    cluster_link_status: ClusterLinkStatus {
                        pod_cidrs: vec![cluster_pod_cidr(name)],
                        service_cidrs: Vec::new(),
                    },
                    ..ClusterStatus::default()
                });
                cluster
            })
            .collect();
        let nodes = self
            .nodes
            .iter()
            .map(|node| {
                ClusterNode::new(
                    &node.object_name(),
                    ClusterNodeSpec {
                        cluster_name: node.cluster.clone(),
                        node_name: node.node.clone(),
                        pod_cidrs: vec![node.pod_cidr.clone()],
                        ip: node.underlay.to_string(),
                        roles: if node.gateway {
                            vec!["gateway".to_string()]
                        } else {
                            Vec::new()
                        },
                        interface_name: "eth0".to_string(),
                        ..ClusterNodeSpec::default()
                    },
                )
            })
            .collect();
        (clusters, nodes)
    }

    /// Every node's NodeConfig, computed by the network manager.
    pub fn configs(&self) -> BTreeMap<String, NodeConfigSpec> {
        let (clusters, nodes) = self.objects();
        let desired = manager::compute(&clusters, &nodes, &[]);
        for node in &self.nodes {
            assert!(
                desired.configs.contains_key(&node.object_name()),
                "the manager computed no NodeConfig for {}: {desired:#?}",
                node.object_name()
            );
        }
        desired.configs
    }

    /// Applies every node's NodeConfig in its namespace; every report must be
    /// clean.
    pub fn apply_all(&self, configs: &BTreeMap<String, NodeConfigSpec>) {
        for node in &self.nodes {
            let name = node.object_name();
            let report = apply(&node.netns, &name, &configs[&name], None, None);
            assert_clean(&report, &format!("applying {name}"));
        }
    }
}

/// Sends ICMP echo requests from inside `from` to `to` until one is answered
/// or `deadline` passes. A raw socket stands in for `ping`, which the test
/// machines lack.
pub fn ping(from: &Netns, to: Ipv4Addr, deadline: Duration) -> Result<Duration, String> {
    from.within(move || {
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::ICMPV4),
        )
        .map_err(|e| format!("raw ICMP socket: {e}"))?;
        socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .map_err(|e| e.to_string())?;
        let identifier = u16::try_from(std::process::id() & 0xffff).unwrap_or(1);
        let started = Instant::now();
        let mut sequence: u16 = 0;
        while started.elapsed() < deadline {
            sequence = sequence.wrapping_add(1);
            let request = echo_request(identifier, sequence);
            let target: SocketAddr = (IpAddr::V4(to), 0).into();
            socket
                .send_to(&request, &target.into())
                .map_err(|e| format!("send: {e}"))?;
            let sent = Instant::now();
            while sent.elapsed() < Duration::from_millis(300) {
                let mut buffer = [0_u8; 1500];
                let Ok(length) = (&socket).read(&mut buffer) else {
                    break;
                };
                if is_echo_reply(&buffer[..length], to, identifier, sequence) {
                    return Ok(sent.elapsed());
                }
            }
        }
        Err(format!("no echo reply from {to} within {deadline:?}"))
    })
}

fn echo_request(identifier: u16, sequence: u16) -> Vec<u8> {
    let mut packet = vec![8, 0, 0, 0];
    packet.extend_from_slice(&identifier.to_be_bytes());
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(b"drmysql-clusterlink-ping");
    let checksum = internet_checksum(&packet);
    packet[2..4].copy_from_slice(&checksum.to_be_bytes());
    packet
}

fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(0)
}

fn is_echo_reply(packet: &[u8], from: Ipv4Addr, identifier: u16, sequence: u16) -> bool {
    let Some(first) = packet.first() else { return false };
    let header = usize::from(first & 0x0f) * 4;
    if packet.len() < header + 8 || packet[12..16] != from.octets() {
        return false;
    }
    let icmp = &packet[header..];
    icmp[0] == 0 && icmp[4..6] == identifier.to_be_bytes() && icmp[6..8] == sequence.to_be_bytes()
}

/// Opens a TCP connection from a thread in `from` to a listener on a thread
/// in `to`, and exchanges a line both ways.
pub fn tcp_exchange(from: &Netns, to: &Netns, to_ip: Ipv4Addr, port: u16) -> Result<(), String> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    std::thread::scope(|scope| {
        let server = scope.spawn(move || {
            to.within(move || -> Result<String, String> {
                let listener =
                    TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).map_err(|e| format!("bind: {e}"))?;
                listener.set_nonblocking(true).map_err(|e| e.to_string())?;
                let _ = ready_tx.send(Ok(()));
                let started = Instant::now();
                loop {
                    match listener.accept() {
                        Ok((mut stream, peer)) => {
                            stream.set_nonblocking(false).map_err(|e| e.to_string())?;
                            stream
                                .set_read_timeout(Some(Duration::from_secs(5)))
                                .map_err(|e| e.to_string())?;
                            let mut line = [0_u8; 5];
                            stream
                                .read_exact(&mut line)
                                .map_err(|e| format!("server read: {e}"))?;
                            stream
                                .write_all(b"world")
                                .map_err(|e| format!("server write: {e}"))?;
                            return Ok(format!("{peer} said {}", String::from_utf8_lossy(&line)));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            if started.elapsed() > Duration::from_secs(8) {
                                return Err("no connection accepted within 8 s".into());
                            }
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Err(e) => return Err(format!("accept: {e}")),
                    }
                }
            })
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|e| format!("listener not ready: {e}"))??;
        let client = from.within(move || -> Result<(), String> {
            let mut stream =
                TcpStream::connect_timeout(&(IpAddr::V4(to_ip), port).into(), Duration::from_secs(5))
                    .map_err(|e| format!("connect to {to_ip}:{port}: {e}"))?;
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .map_err(|e| e.to_string())?;
            stream
                .write_all(b"hello")
                .map_err(|e| format!("client write: {e}"))?;
            let mut reply = [0_u8; 5];
            stream
                .read_exact(&mut reply)
                .map_err(|e| format!("client read: {e}"))?;
            if &reply == b"world" {
                Ok(())
            } else {
                Err(format!("unexpected reply {reply:?}"))
            }
        });
        let served = server.join().map_err(|_| "server thread panicked".to_string())?;
        client?;
        let said = served?;
        if said.ends_with("said hello") {
            Ok(())
        } else {
            Err(format!("server saw {said}"))
        }
    })
}
