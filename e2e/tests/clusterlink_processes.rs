//! The clusterlink processes as they run in a cluster, against the API
//! simulator through a kubeconfig: `drmysql network-manager` turns Clusters and
//! ClusterNodes into NodeConfigs (and deletes them when nodes leave), and
//! `drmysql agent`, in a network namespace of its own, reports its underlay on
//! its ClusterNode, applies its NodeConfig to the kernel, reports what it
//! could not apply, and removes everything when the NodeConfig goes; and
//! `drmysql discovery` mirrors a member cluster's Nodes (its own simulator) into
//! the host's ClusterNodes and elects one gateway.

#[path = "apiserver_support/mod.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use drmysql_api::clusterlink::{Cluster, ClusterNode, NodeConfig};
use drmysql_e2e::kubelet::binary::drmysql_binary_rebuilt;
use drmysql_e2e::kubelet::netns::within;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cluster(name: &str, pod_cidr: &str, nic: &str) -> Cluster {
    serde_json::from_value(json!({
        "apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {"clusterLinkOptions": {"networkType": "p2p", "ipFamily": "ipv4", "defaultNICName": nic}},
        "status": {"clusterLinkStatus": {"podCIDRs": [pod_cidr], "serviceCIDRs": []}}
    }))
    .expect("Cluster")
}

fn cluster_node(cluster: &str, node: &str, ip: &str, pod_cidr: &str) -> ClusterNode {
    serde_json::from_value(json!({
        "apiVersion": "kosmos.io/v1alpha1", "kind": "ClusterNode",
        "metadata": {"name": format!("{cluster}-{node}"), "labels": {"kosmos.io/cluster": cluster}},
        "spec": {"clusterName": cluster, "nodeName": node, "ip": ip, "interfaceName": "eth0", "podCIDRs": [pod_cidr]}
    }))
    .expect("ClusterNode")
}

fn has_route(config: &NodeConfig, cidr: &str) -> bool {
    config.spec.routes.iter().any(|route| route.cidr == cidr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_manager_process_writes_and_deletes_node_configs() {
    let binary = drmysql_binary_rebuilt().expect("the drmysql binary");
    let (server, client) = support::start().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig written");

    let clusters: Api<Cluster> = Api::all(client.clone());
    let nodes: Api<ClusterNode> = Api::all(client.clone());
    let configs: Api<NodeConfig> = Api::all(client.clone());
    for (name, cidr) in [("a", "10.1.0.0/16"), ("b", "10.2.0.0/16")] {
        clusters
            .create(&PostParams::default(), &cluster(name, cidr, "eth0"))
            .await
            .expect("Cluster created");
    }
    nodes
        .create(
            &PostParams::default(),
            &cluster_node("a", "n1", "192.168.7.1", "10.1.1.0/24"),
        )
        .await
        .expect("ClusterNode created");
    nodes
        .create(
            &PostParams::default(),
            &cluster_node("b", "n1", "192.168.7.2", "10.2.1.0/24"),
        )
        .await
        .expect("ClusterNode created");

    let _manager = Process(
        Command::new(&binary)
            .args([
                "network-manager",
                "--debounce-ms",
                "100",
                "--max-delay-ms",
                "1000",
            ])
            .env("KUBECONFIG", &kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("drmysql network-manager starts"),
    );

    let a = support::eventually(
        "NodeConfig a-n1 with a route to cluster b",
        Duration::from_secs(30),
        || {
            let configs = configs.clone();
            async move {
                configs
                    .get_opt("a-n1")
                    .await
                    .ok()
                    .flatten()
                    .filter(|c| has_route(c, "10.2.1.0/24"))
            }
        },
    )
    .await;
    assert!(
        a.spec.devices.iter().any(|device| device.name == "vx-bridge"),
        "{:?}",
        a.spec
    );
    let labels = a.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("app.kubernetes.io/managed-by").map(String::as_str),
        Some("drmysql")
    );
    support::eventually("NodeConfig b-n1", Duration::from_secs(10), || {
        let configs = configs.clone();
        async move { configs.get_opt("b-n1").await.ok().flatten() }
    })
    .await;

    nodes
        .delete("b-n1", &DeleteParams::default())
        .await
        .expect("ClusterNode deleted");
    support::eventually(
        "NodeConfig b-n1 deleted and a-n1 without its route",
        Duration::from_secs(30),
        || {
            let configs = configs.clone();
            async move {
                let gone = configs.get_opt("b-n1").await.ok()?.is_none();
                let a = configs.get_opt("a-n1").await.ok()??;
                (gone && !has_route(&a, "10.2.1.0/24")).then_some(())
            }
        },
    )
    .await;
}

/// A network namespace with `lo` and a veth `eth0` (10.77.0.1/24) for the
/// agent to detect; removed on drop.
struct NodeNetns(String);

impl NodeNetns {
    fn create() -> Self {
        let name = format!("drmysql-e2e-agent-{}", std::process::id());
        let ip = |args: &[&str]| {
            let status = Command::new("ip")
                .args(args)
                .status()
                .expect("`ip` runs (package iproute2)");
            assert!(status.success(), "ip {} failed", args.join(" "));
        };
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        ip(&["netns", "add", &name]);
        let netns = Self(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &name,
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0-peer",
        ]);
        ip(&["-n", &name, "addr", "add", "10.77.0.1/24", "dev", "eth0"]);
        ip(&["-n", &name, "link", "set", "eth0", "up"]);
        ip(&["-n", &name, "link", "set", "eth0-peer", "up"]);
        netns
    }

    fn has_link(&self, link: &str) -> bool {
        Command::new("ip")
            .args(["-n", &self.0, "link", "show", link])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

impl Drop for NodeNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn the_agent_process_applies_reports_and_cleans_up() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| {
                    line.strip_prefix("Uid:")
                        .map(|ids| ids.split_whitespace().next().map(str::to_owned))
                })
                .flatten()
        });
    assert_eq!(
        uid.as_deref(),
        Some("0"),
        "the agent test needs root: it creates a network namespace"
    );
    let binary = drmysql_binary_rebuilt().expect("the drmysql binary");
    let netns = NodeNetns::create();
    let netns_name = netns.0.clone();
    // The simulator, its client and the agent all live in the node's namespace,
    // as a hostNetwork agent and its API server would see each other.
    within(&netns_name.clone(), move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(agent_scenario(&binary, &netns))
    })
    .expect("entered the node namespace");
}

async fn agent_scenario(binary: &std::path::Path, netns: &NodeNetns) {
    let (server, client) = support::start().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig written");
    Api::<Cluster>::all(client.clone())
        .create(&PostParams::default(), &cluster("a", "10.1.0.0/16", "eth0"))
        .await
        .expect("Cluster created");
    let configs: Api<NodeConfig> = Api::all(client.clone());
    let config: NodeConfig = serde_json::from_value(json!({
        "apiVersion": "kosmos.io/v1alpha1", "kind": "NodeConfig",
        "metadata": {"name": "a-n1"},
        "spec": {
            "devices": [{"type": "vxlan", "name": "vx-bridge", "addr": "220.77.0.1/8", "mac": "0a:00:00:00:77:01",
                         "bindDev": "eth0", "id": 54, "port": 4876}],
            "routes": [{"cidr": "10.2.0.0/16", "gw": "220.77.0.2", "dev": "vx-bridge"}],
            "fdbs": [{"ip": "10.77.0.2", "mac": "0a:00:00:00:77:02", "dev": "vx-bridge"}],
            "arps": [{"ip": "220.77.0.2", "mac": "0a:00:00:00:77:02", "dev": "vx-bridge"}],
            "iptables": [{"table": "nat", "chain": "POSTROUTING", "rule": "-s 10.1.0.0/16 -j DROP"}]
        }
    }))
    .expect("NodeConfig");
    configs
        .create(&PostParams::default(), &config)
        .await
        .expect("NodeConfig created");

    let _agent = Process(
        Command::new("ip")
            .args(["netns", "exec", &netns.0])
            .arg(binary)
            .args([
                "agent",
                "--cluster",
                "a",
                "--node",
                "n1",
                "--metrics-address",
                "127.0.0.1:0",
            ])
            .args(["--resync-seconds", "2"])
            .env("KUBECONFIG", &kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("drmysql agent starts"),
    );

    let status = support::eventually(
        "the agent's status on NodeConfig a-n1",
        Duration::from_secs(30),
        || {
            let configs = configs.clone();
            async move {
                let status = configs.get_opt("a-n1").await.ok()??.status?;
                (status.applied == Some(4)).then_some(status)
            }
        },
    )
    .await;
    assert_eq!(status.failed, Some(1), "{status:?}");
    assert_eq!(status.errors.len(), 1, "{status:?}");
    assert!(status.errors[0].message.contains("DROP"), "{status:?}");
    assert!(
        netns.has_link("vx-bridge"),
        "the agent created vx-bridge in its namespace"
    );

    let node = support::eventually(
        "the underlay on ClusterNode a-n1",
        Duration::from_secs(10),
        || {
            let nodes: Api<ClusterNode> = Api::all(client.clone());
            async move { nodes.get_opt("a-n1").await.ok().flatten() }
        },
    )
    .await;
    assert_eq!(node.spec.interface_name, "eth0");
    assert_eq!(node.spec.ip, "10.77.0.1");

    // Drift: a route deleted by hand comes back within a resync.
    let deleted = Command::new("ip")
        .args(["-n", &netns.0, "route", "del", "10.2.0.0/16", "table", "200"])
        .status()
        .expect("ip runs");
    assert!(deleted.success());
    support::eventually("the deleted route restored", Duration::from_secs(15), || {
        let name = netns.0.clone();
        async move {
            let output = Command::new("ip")
                .args(["-n", &name, "route", "show", "table", "200"])
                .output()
                .ok()?;
            String::from_utf8_lossy(&output.stdout)
                .contains("10.2.0.0/16")
                .then_some(())
        }
    })
    .await;

    configs
        .delete("a-n1", &DeleteParams::default())
        .await
        .expect("NodeConfig deleted");
    support::eventually(
        "vx-bridge removed after the NodeConfig went",
        Duration::from_secs(15),
        || {
            let present = netns.has_link("vx-bridge");
            async move { (!present).then_some(()) }
        },
    )
    .await;
}

fn member_node(name: &str, pod_cidr: &str, virtual_node: bool) -> k8s_openapi::api::core::v1::Node {
    let mut labels = json!({"kubernetes.io/hostname": name});
    if virtual_node {
        labels["kosmos.io/node"] = json!("true");
    }
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "InternalIP", "address": "192.168.9.1"}]}
    }))
    .expect("Node")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_discovery_process_mirrors_member_nodes_and_elects_one_gateway() {
    use k8s_openapi::api::core::v1::{Namespace, Node};
    let binary = drmysql_binary_rebuilt().expect("the drmysql binary");
    let (host, host_client) = support::start().await;
    let (member, member_client) = support::start().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let host_kubeconfig = dir.path().join("host.kubeconfig");
    let member_kubeconfig = dir.path().join("member.kubeconfig");
    host.write_kubeconfig(&host_kubeconfig)
        .expect("kubeconfig written");
    member
        .write_kubeconfig(&member_kubeconfig)
        .expect("kubeconfig written");

    let mut gateway_cluster = cluster("a", "10.1.0.0/16", "eth0");
    if let Some(options) = gateway_cluster.spec.cluster_link_options.as_mut() {
        options.network_type = drmysql_api::clusterlink::NetworkType::Gateway;
        options.cni = "other".to_owned();
    }
    gateway_cluster.status = None;
    Api::<Cluster>::all(host_client.clone())
        .create(&PostParams::default(), &gateway_cluster)
        .await
        .expect("Cluster created");
    let namespace: Namespace = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kosmos-system"}}),
    )
    .expect("Namespace");
    Api::<Namespace>::all(member_client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("Namespace created");
    let member_nodes: Api<Node> = Api::all(member_client.clone());
    for (name, cidr, virtual_node) in [
        ("n1", "10.1.1.0/24", false),
        ("n2", "10.1.2.0/24", false),
        ("kosmos-leaf", "10.1.9.0/24", true),
    ] {
        member_nodes
            .create(&PostParams::default(), &member_node(name, cidr, virtual_node))
            .await
            .expect("Node created");
    }

    let _discovery = Process(
        Command::new(&binary)
            .args([
                "discovery",
                "--cluster",
                "a",
                "--lease-namespace",
                "kosmos-system",
                "--identity",
                "d1",
            ])
            .arg("--host-kubeconfig")
            .arg(&host_kubeconfig)
            .env("KUBECONFIG", &member_kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("drmysql discovery starts"),
    );

    let nodes: Api<ClusterNode> = Api::all(host_client.clone());
    let mirrored = support::eventually(
        "ClusterNodes a-n1 and a-n2 with one gateway",
        Duration::from_secs(40),
        || {
            let nodes = nodes.clone();
            async move {
                let list = nodes.list(&Default::default()).await.ok()?.items;
                let gateways = list.iter().filter(|node| node.is_gateway()).count();
                (list.len() == 2 && gateways == 1).then_some(list)
            }
        },
    )
    .await;
    let mut names: Vec<String> = mirrored
        .iter()
        .filter_map(|node| node.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["a-n1", "a-n2"], "the virtual node is not mirrored");
    let n1 = mirrored
        .iter()
        .find(|node| node.metadata.name.as_deref() == Some("a-n1"))
        .expect("a-n1");
    assert_eq!(n1.spec.pod_cidrs, ["10.1.1.0/24"]);

    let clusters: Api<Cluster> = Api::all(host_client.clone());
    support::eventually(
        "the member's pod CIDRs on Cluster a",
        Duration::from_secs(20),
        || {
            let clusters = clusters.clone();
            async move {
                let status = clusters.get("a").await.ok()?.status?;
                let cidrs = status.cluster_link_status.pod_cidrs;
                (cidrs.contains(&"10.1.1.0/24".to_owned()) && cidrs.contains(&"10.1.2.0/24".to_owned()))
                    .then_some(())
            }
        },
    )
    .await;

    member_nodes
        .delete("n2", &DeleteParams::default())
        .await
        .expect("Node deleted");
    support::eventually(
        "ClusterNode a-n2 deleted with its Node",
        Duration::from_secs(40),
        || {
            let nodes = nodes.clone();
            async move { nodes.get_opt("a-n2").await.ok()?.is_none().then_some(()) }
        },
    )
    .await;
}
