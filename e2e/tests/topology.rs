//! The sandbox's network topology for real: namespaces, the underlay, the
//! API address in the root namespace, intra-cluster pod routes, partitions,
//! tunnel blocks (also while the real clusterlink agent applies and cleans
//! up beside them), removal on drop and on panic, and removal of what a
//! killed run left. Root, `ip` and `iptables` are required: without them
//! every test fails, naming what is missing.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use drmysql_api::clusterlink::{Cluster, NodeConfig};
use drmysql_e2e::apiserver::{ApiServer, Config};
use drmysql_e2e::kubelet::binary::drmysql_binary_rebuilt;
use drmysql_e2e::kubelet::netns::{Ipv4Cidr, PodNetwork, within};
use drmysql_e2e::topology::{NodeNet, TUNNEL_CHAIN, Topology};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

/// A topology, or a failure naming what is missing.
fn create(prefix: &str) -> Topology {
    Topology::create(prefix).unwrap_or_else(|error| panic!("{error}"))
}

fn add(topology: &mut Topology, cluster: &str, node: &str) -> NodeNet {
    topology
        .add_node(cluster, node)
        .unwrap_or_else(|error| panic!("node {cluster}/{node}: {error}"))
}

/// `program args`, which must succeed; its stdout.
fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{program} runs: {error}"));
    assert!(
        output.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn routes(netns: &str) -> String {
    run("ip", &["-n", netns, "route", "show"])
}

fn filter_rules(netns: &str) -> String {
    run("ip", &["netns", "exec", netns, "iptables", "-w", "-S"])
}

/// A TCP listener on `address` (any free port) in `netns`, or in the root
/// namespace for `None`. Connections complete in the kernel's backlog.
fn listen(netns: Option<&str>, address: Ipv4Addr) -> TcpListener {
    listen_on(netns, SocketAddr::from((address, 0)))
}

fn listen_on(netns: Option<&str>, address: SocketAddr) -> TcpListener {
    let bind = move || TcpListener::bind(address);
    let listener = match netns {
        Some(netns) => within(netns, bind).expect("entered the namespace"),
        None => bind(),
    };
    listener.unwrap_or_else(|error| panic!("listening on {address}: {error}"))
}

/// Whether a TCP connection from `netns` to `listener` completes within
/// 700 ms.
fn connects(netns: &str, listener: &TcpListener) -> bool {
    let target = listener.local_addr().expect("listener address");
    within(netns, || {
        TcpStream::connect_timeout(&target, Duration::from_millis(700)).is_ok()
    })
    .expect("entered the namespace")
}

/// Waits up to 10 s for `check`.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether UDP datagrams from `from` reach `to` at its underlay address on
/// `port` (a receiver bound there meanwhile).
fn udp_delivered(from: &NodeNet, to: &NodeNet, port: u16) -> bool {
    let target = SocketAddr::from((to.underlay_ip, port));
    let receiver = within(&to.netns, || UdpSocket::bind(target))
        .expect("entered the namespace")
        .unwrap_or_else(|error| panic!("binding {target} in {}: {error}", to.netns));
    receiver
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("read timeout");
    within(&from.netns, || {
        let sender = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("a UDP socket");
        for _ in 0..3 {
            // A dropped datagram is EPERM for the sender: not delivered.
            let _ = sender.send_to(b"vxlan?", target);
        }
    })
    .expect("entered the namespace");
    let mut buffer = [0_u8; 16];
    receiver.recv_from(&mut buffer).is_ok()
}

fn cidr(text: &str) -> Ipv4Cidr {
    text.parse().expect("cidr")
}

#[test]
fn nodes_reach_the_api_address_each_other_and_their_own_clusters_pods() {
    let mut topology = create("drm-topo-reach");
    let host = add(&mut topology, "host", "h1");
    let m1 = add(&mut topology, "member", "m1");
    let m2 = add(&mut topology, "member", "m2");
    let id = topology.id();
    assert_eq!(topology.api_address(), Ipv4Addr::new(198, 18, id, 1));
    assert_eq!(host.underlay_ip, Ipv4Addr::new(198, 18, id, 10));
    assert_eq!(m2.underlay_ip, Ipv4Addr::new(198, 18, id, 12));
    assert_eq!(host.pod_cidr, cidr("10.10.1.0/24"));
    assert_eq!(m1.pod_cidr, cidr("10.20.1.0/24"));
    assert_eq!(m2.pod_cidr, cidr("10.20.2.0/24"));
    assert_eq!(topology.node("member", "m2"), Some(&m2));
    assert_eq!(topology.nodes().len(), 3);
    assert!(topology.add_node("member", "m2").is_err(), "a node is added once");

    let api = listen(None, topology.api_address());
    for node in [&host, &m1, &m2] {
        assert!(
            connects(&node.netns, &api),
            "{} reaches the API address in the root namespace",
            node.node
        );
    }
    let on_m1 = listen(Some(&m1.netns), m1.underlay_ip);
    assert!(connects(&host.netns, &on_m1), "host node to member node");
    assert!(connects(&m2.netns, &on_m1), "member node to member node");

    // A pod on m2 is reached from m1 through the cluster's routes, and from
    // the other cluster not at all.
    assert!(
        routes(&m1.netns).contains(&format!("10.20.2.0/24 via {} dev eth0", m2.underlay_ip)),
        "{}",
        routes(&m1.netns)
    );
    assert!(
        routes(&m2.netns).contains(&format!("10.20.1.0/24 via {} dev eth0", m1.underlay_ip)),
        "{}",
        routes(&m2.netns)
    );
    assert!(
        !routes(&host.netns).contains("10.20."),
        "no route into another cluster"
    );
    let pod_ip = Ipv4Addr::new(10, 20, 2, 2);
    let pod = PodNetwork::create(&m2.netns, &m2.pod_netns("web"), pod_ip, m2.pod_cidr.gateway())
        .expect("a pod on m2");
    let in_pod = listen(Some(pod.pod_netns()), pod_ip);
    assert!(connects(&m1.netns, &in_pod), "m1 reaches a pod on m2");
    assert!(
        !connects(&host.netns, &in_pod),
        "the host cluster has no route to it"
    );
}

#[test]
fn a_partitioned_cluster_is_cut_off_and_heals_with_its_routes() {
    let mut topology = create("drm-topo-part");
    let host = add(&mut topology, "host", "h1");
    let m1 = add(&mut topology, "member", "m1");
    let m2 = add(&mut topology, "member", "m2");
    let api = listen(None, topology.api_address());
    let on_host = listen(Some(&host.netns), host.underlay_ip);
    let on_m1 = listen(Some(&m1.netns), m1.underlay_ip);
    let on_m2 = listen(Some(&m2.netns), m2.underlay_ip);
    let routes_before = routes(&m1.netns);
    assert!(connects(&m1.netns, &api) && connects(&host.netns, &on_m1));

    topology.partition_cluster("member").expect("partitioned");
    assert!(
        !connects(&m1.netns, &api),
        "a partitioned node loses the API address"
    );
    assert!(!connects(&m1.netns, &on_host), "and the other cluster");
    assert!(!connects(&host.netns, &on_m1), "in both directions");
    assert!(!connects(&m1.netns, &on_m2), "and its own cluster's nodes");
    assert!(
        connects(&host.netns, &api),
        "the other cluster keeps the API address"
    );
    assert!(
        routes(&m1.netns).contains(&format!("10.20.2.0/24 via {}", m2.underlay_ip)),
        "routes survive a partition: {}",
        routes(&m1.netns)
    );

    topology.heal_cluster("member").expect("healed");
    eventually("m1 reaches the API address again", || connects(&m1.netns, &api));
    eventually("the host node reaches m1 again", || connects(&host.netns, &on_m1));
    eventually("m1 reaches m2 again", || connects(&m1.netns, &on_m2));
    assert_eq!(
        routes(&m1.netns),
        routes_before,
        "routes are as before the partition"
    );

    topology
        .partition_node("member", "m2")
        .expect("one node partitioned");
    assert!(!connects(&m1.netns, &on_m2), "m2 alone is cut off");
    assert!(connects(&m1.netns, &api), "m1 is not");
    topology.heal_node("member", "m2").expect("one node healed");
    eventually("m1 reaches m2 again", || connects(&m1.netns, &on_m2));
    assert!(
        topology.partition_cluster("nowhere").is_err(),
        "an unknown cluster"
    );
}

#[test]
fn a_blocked_tunnel_drops_vxlan_udp_both_ways_while_tcp_flows() {
    let mut topology = create("drm-topo-tunnel");
    let host = add(&mut topology, "host", "h1");
    let m1 = add(&mut topology, "member", "m1");
    let fresh_rules = filter_rules(&m1.netns);
    for port in [4876, 4877] {
        assert!(
            udp_delivered(&host, &m1, port),
            "UDP {port} flows before the block"
        );
        assert!(
            udp_delivered(&m1, &host, port),
            "UDP {port} flows before the block"
        );
    }

    topology.block_tunnel("member", "m1").expect("blocked");
    topology.block_tunnel("member", "m1").expect("blocked twice");
    let rules = filter_rules(&m1.netns);
    for hook in ["INPUT", "OUTPUT"] {
        let jumps: Vec<&str> = rules
            .lines()
            .filter(|line| line.starts_with(&format!("-A {hook} ")))
            .collect();
        assert_eq!(jumps, [format!("-A {hook} -j {TUNNEL_CHAIN}")], "{rules}");
    }
    for port in [4876, 4877] {
        assert!(
            !udp_delivered(&host, &m1, port),
            "UDP {port} into the blocked node"
        );
        assert!(
            !udp_delivered(&m1, &host, port),
            "UDP {port} out of the blocked node"
        );
    }
    let api = listen(None, topology.api_address());
    assert!(
        connects(&m1.netns, &api),
        "the blocked node still reaches the API"
    );
    let tcp_4876 = listen_on(Some(&m1.netns), SocketAddr::from((m1.underlay_ip, 4876)));
    assert!(
        connects(&host.netns, &tcp_4876),
        "TCP on the same port still flows"
    );
    let host_node = listen(Some(&host.netns), host.underlay_ip);
    assert!(connects(&m1.netns, &host_node), "and TCP out of the blocked node");

    topology.unblock_tunnel("member", "m1").expect("unblocked");
    for port in [4876, 4877] {
        assert!(udp_delivered(&host, &m1, port), "UDP {port} flows again");
        assert!(udp_delivered(&m1, &host, port), "UDP {port} flows again");
    }
    assert_eq!(filter_rules(&m1.netns), fresh_rules, "unblocking leaves nothing");
    topology
        .unblock_tunnel("member", "m1")
        .expect("unblocking twice is harmless");
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn has_link(netns: &str, link: &str) -> bool {
    Command::new("ip")
        .args(["-n", netns, "link", "show", link])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether the node's tunnel block is whole: both jumps first, both drops.
fn block_intact(netns: &str) -> bool {
    let rules = filter_rules(netns);
    let first = |hook: &str| {
        rules
            .lines()
            .find(|line| line.starts_with(&format!("-A {hook} ")))
            .map(str::to_owned)
    };
    ["INPUT", "OUTPUT"]
        .iter()
        .all(|hook| first(hook) == Some(format!("-A {hook} -j {TUNNEL_CHAIN}")))
        && [4876, 4877]
            .iter()
            .all(|port| rules.contains(&format!("-A {TUNNEL_CHAIN} -p udp -m udp --dport {port} -j DROP")))
}

#[test]
fn a_blocked_tunnel_survives_the_clusterlink_agent_applying_and_cleaning_up() {
    let mut topology = create("drm-topo-agent");
    let host = add(&mut topology, "host", "h1");
    let m1 = add(&mut topology, "member", "m1");
    let binary = drmysql_binary_rebuilt().expect("the drmysql binary");
    topology.block_tunnel("member", "m1").expect("blocked");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let api_address = SocketAddr::from((topology.api_address(), 0));
    let (server, client) = runtime.block_on(async {
        let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
        let server = ApiServer::start_with(Config::new(api_address).with_crd_dir(crds))
            .await
            .expect("the simulator starts on the API address");
        let client = server.client().await.expect("a client");
        (server, client)
    });
    let dir = tempfile::tempdir().expect("temporary directory");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig written");
    let configs: Api<NodeConfig> = Api::all(client.clone());
    runtime.block_on(async {
        let cluster: Cluster = serde_json::from_value(json!({
            "apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "member"},
            "spec": {"clusterLinkOptions": {"networkType": "p2p", "ipFamily": "ipv4", "defaultNICName": "eth0"}},
            "status": {"clusterLinkStatus": {"podCIDRs": ["10.20.0.0/16"], "serviceCIDRs": []}}
        }))
        .expect("Cluster");
        Api::<Cluster>::all(client.clone())
            .create(&PostParams::default(), &cluster)
            .await
            .expect("Cluster created");
        let config: NodeConfig = serde_json::from_value(json!({
            "apiVersion": "kosmos.io/v1alpha1", "kind": "NodeConfig", "metadata": {"name": "member-m1"},
            "spec": {
                "devices": [{"type": "vxlan", "name": "vx-bridge", "addr": "220.20.1.1/8", "mac": "0a:00:00:00:20:01",
                             "bindDev": "eth0", "id": 54, "port": 4876}],
                "routes": [{"cidr": "10.10.0.0/16", "gw": "220.10.1.1", "dev": "vx-bridge"}],
                "fdbs": [{"ip": host.underlay_ip.to_string(), "mac": "0a:00:00:00:10:01", "dev": "vx-bridge"}],
                "arps": [{"ip": "220.10.1.1", "mac": "0a:00:00:00:10:01", "dev": "vx-bridge"}],
                "iptables": [{"table": "nat", "chain": "POSTROUTING", "rule": "-s 10.20.0.0/16 -j MASQUERADE"}]
            }
        }))
        .expect("NodeConfig");
        configs
            .create(&PostParams::default(), &config)
            .await
            .expect("NodeConfig created");
    });

    // The agent in the node's namespace reaches the simulator over the
    // underlay, as the sandbox's agents do.
    let _agent = Process(
        Command::new("ip")
            .args(["netns", "exec", &m1.netns])
            .arg(&binary)
            .args(["agent", "--cluster", "member", "--node", "m1"])
            .args(["--metrics-address", "127.0.0.1:0", "--resync-seconds", "1"])
            .env("KUBECONFIG", &kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("drmysql agent starts"),
    );
    let status = |configs: &Api<NodeConfig>| {
        runtime.block_on(async { configs.get_opt("member-m1").await.ok().flatten()?.status })
    };
    eventually("the agent applied NodeConfig member-m1", || {
        status(&configs).is_some_and(|status| status.applied == Some(5))
    });
    assert_eq!(status(&configs).and_then(|status| status.failed), Some(0));
    let rules = filter_rules(&m1.netns);
    assert!(
        rules.contains("-A FORWARD -j DRMYSQL-FORWARD"),
        "the agent wrote: {rules}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        block_intact(&m1.netns),
        "after the agent's resyncs: {}",
        filter_rules(&m1.netns)
    );
    for port in [4876, 4877] {
        assert!(
            !udp_delivered(&m1, &host, port),
            "UDP {port} out of the blocked node"
        );
    }
    assert!(!udp_delivered(&host, &m1, 4877), "UDP 4877 into the blocked node");

    runtime.block_on(async {
        configs
            .delete("member-m1", &DeleteParams::default())
            .await
            .expect("NodeConfig deleted");
    });
    eventually("the agent cleaned up", || {
        !has_link(&m1.netns, "vx-bridge") && !filter_rules(&m1.netns).contains("DRMYSQL-FORWARD")
    });
    assert!(
        block_intact(&m1.netns),
        "after the agent's cleanup: {}",
        filter_rules(&m1.netns)
    );
    assert!(!udp_delivered(&m1, &host, 4876), "still blocked");

    topology.unblock_tunnel("member", "m1").expect("unblocked");
    assert!(udp_delivered(&m1, &host, 4876), "UDP 4876 flows again");
}

/// The namespaces and root-namespace links (by their alias) still named
/// after the topology whose names start with `base`.
fn leftovers(base: &str) -> Vec<String> {
    let namespaces = run("ip", &["netns", "list"]);
    let links = run("ip", &["-o", "link", "show"]);
    let named = format!("{base}-");
    namespaces
        .lines()
        .chain(links.lines())
        .filter(|line| line.contains(&named))
        .map(str::to_owned)
        .collect()
}

#[test]
fn dropping_removes_every_namespace_and_link_also_when_a_panic_unwinds() {
    let mut topology = create("drm-topo-drop");
    add(&mut topology, "host", "h1");
    add(&mut topology, "member", "m1");
    topology.block_tunnel("member", "m1").expect("blocked");
    let underlay = topology.underlay_netns().to_owned();
    let base = underlay.trim_end_matches("-ul").to_owned();
    assert_eq!(
        leftovers(&base).len(),
        4,
        "three namespaces and the root link (its alias)"
    );
    drop(topology);
    assert_eq!(leftovers(&base), Vec::<String>::new());

    let seen = Mutex::new(String::new());
    let unwound = std::panic::catch_unwind(|| {
        let mut topology = create("drm-topo-drop");
        add(&mut topology, "member", "m1");
        topology.partition_cluster("member").expect("partitioned");
        *seen.lock().expect("lock") = topology.underlay_netns().trim_end_matches("-ul").to_owned();
        panic!("a scenario fails with its topology in scope");
    });
    assert!(unwound.is_err());
    let base = seen.into_inner().expect("lock");
    assert!(!base.is_empty());
    assert_eq!(leftovers(&base), Vec::<String>::new(), "nothing leaks on panic");
}

const LEAK_PREFIX_VAR: &str = "DRMYSQL_TOPOLOGY_TEST_LEAK_PREFIX";

/// Not a test of its own: run by the stale test as a child process, it builds
/// a topology and aborts, as a killed run would, without dropping it.
#[test]
fn child_that_leaks_a_topology_when_run_by_the_stale_test() {
    let Ok(prefix) = std::env::var(LEAK_PREFIX_VAR) else {
        return;
    };
    let mut topology = create(&prefix);
    add(&mut topology, "member", "m1");
    println!("LEAKED {}", topology.underlay_netns());
    std::process::abort();
}

#[test]
fn what_a_killed_run_left_is_removed_and_does_not_break_a_new_run() {
    let prefix = "drm-topo-stale";
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "child_that_leaks_a_topology_when_run_by_the_stale_test",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(LEAK_PREFIX_VAR, prefix)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the leaking child starts");
    let mut child = Process(child);
    let stdout = child.0.stdout.take().expect("stdout");
    let leaked = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // libtest prints `test <name> ... ` before the child's own output.
        .find_map(|line| {
            line.split_once("LEAKED ")
                .map(|(_, netns)| netns.trim().to_owned())
        })
        .expect("the child reports its underlay namespace");
    let status = child.0.wait().expect("the child ends");
    assert!(!status.success(), "the child aborted");
    let base = leaked.trim_end_matches("-ul").to_owned();
    let left = leftovers(&base);
    assert!(
        left.iter().any(|line| line.contains("alias")),
        "the killed run left its root link: {left:?}"
    );
    assert_eq!(left.len(), 3, "two namespaces and the root link: {left:?}");

    let mut topology = create(prefix);
    let node = add(&mut topology, "member", "m1");
    assert_ne!(topology.underlay_netns(), leaked);
    eventually("the killed run's namespaces and link are gone", || {
        leftovers(&base).is_empty()
    });
    let api = listen(None, topology.api_address());
    assert!(connects(&node.netns, &api), "the new run works");
    assert!(
        Topology::remove_stale(prefix).expect("nothing stale").is_empty(),
        "a live run is not stale"
    );
}
