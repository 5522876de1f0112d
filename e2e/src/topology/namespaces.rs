//! The namespace layer: the underlay, the nodes, and their removal. Thin over
//! [`plan`](super::plan) and [`commands`](super::commands); tested for real in
//! `e2e/tests/topology.rs`.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};

use super::commands::{link_del, netns_del, node_setup, pod_route, reserve_root_link, underlay_setup};
use super::error::TopologyError;
use super::plan::{self, MAX_UNDERLAY_ID};
use super::stale::{pid_alive, stale_netns};
use super::tools::{Tools, enable_forwarding};
use crate::kubelet::netns::Ipv4Cidr;

/// Tells apart the topologies of one process.
static SERIAL: AtomicU32 = AtomicU32::new(0);

/// One simulated node's network: its namespace and addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeNet {
    /// The cluster the node belongs to.
    pub cluster: String,
    /// The node's name.
    pub node: String,
    /// The node's network namespace.
    pub netns: String,
    /// The node's address on the underlay (its `eth0`).
    pub underlay_ip: Ipv4Addr,
    /// The node's pod CIDR; its first address is the pods' gateway.
    pub pod_cidr: Ipv4Cidr,
}

impl NodeNet {
    /// A name for the namespace of a pod on this node, `<node netns>-<pod>`:
    /// it carries the node's prefix and pid, so
    /// [`Topology::remove_stale`] also removes pods a killed run left.
    pub fn pod_netns(&self, pod: &str) -> String {
        format!("{}-{pod}", self.netns)
    }

    /// The node's port on the underlay bridge.
    pub(super) fn port(&self) -> String {
        plan::port_name(self.underlay_ip)
    }
}

/// The sandbox's network: an underlay bridge joined to the root namespace,
/// and nodes on it. Dropping it removes every namespace and link it created
/// (and with them the iptables rules it added inside), also while a panic
/// unwinds.
#[derive(Debug)]
pub struct Topology {
    pub(super) tools: Tools,
    id: u8,
    base: String,
    underlay_netns: String,
    clusters: Vec<(String, Ipv4Cidr)>,
    nodes: Vec<NodeNet>,
}

impl Topology {
    /// Creates the underlay namespace with a bridge, and a veth from the
    /// current (root) namespace into it, the root side addressed
    /// [`Self::api_address`]`/24`: a server bound there is reachable from
    /// every node. Namespaces that a killed run with the same `prefix` left
    /// are removed first ([`Self::remove_stale`]). Runs `ip` a few times and
    /// blocks meanwhile (milliseconds).
    pub fn create(prefix: &str) -> Result<Self, TopologyError> {
        let tools = Tools::find()?;
        plan::validate("prefix", prefix)?;
        if let Err(error) = Self::remove_stale(prefix) {
            tracing::warn!(%error, prefix, "cannot remove namespaces of a killed earlier run");
        }
        let base = plan::netns_base(prefix, std::process::id(), SERIAL.fetch_add(1, Ordering::SeqCst));
        let underlay_netns = plan::underlay_netns(&base);
        tools.ip(&["netns".to_owned(), "add".to_owned(), underlay_netns.clone()])?;
        let id = match reserve_underlay(&tools, &underlay_netns) {
            Ok(id) => id,
            Err(error) => {
                let _ = tools.ip(&netns_del(&underlay_netns));
                return Err(error);
            }
        };
        let topology = Self {
            tools,
            id,
            base,
            underlay_netns,
            clusters: Vec::new(),
            nodes: Vec::new(),
        };
        for args in underlay_setup(
            &topology.root_link(),
            &topology.underlay_netns,
            topology.api_address(),
        ) {
            topology.tools.ip(&args)?;
        }
        Ok(topology)
    }

    /// Deletes the namespaces named `<prefix>-<pid>-…` whose process is gone
    /// (a killed earlier run), returning their names. A deleted underlay
    /// namespace takes its root-side veth along.
    pub fn remove_stale(prefix: &str) -> Result<Vec<String>, TopologyError> {
        let tools = Tools::find()?;
        let listing = tools.ip(&["netns".to_owned(), "list".to_owned()])?;
        let stale: Vec<String> = stale_netns(prefix, &listing, pid_alive)
            .into_iter()
            .map(str::to_owned)
            .collect();
        for name in &stale {
            tools.ip(&netns_del(name))?;
        }
        Ok(stale)
    }

    /// This topology's underlay id, unique on the machine while it lives.
    pub fn id(&self) -> u8 {
        self.id
    }

    /// The root namespace's address on the underlay, `198.18.<id>.1`: bind
    /// the API simulators here.
    pub fn api_address(&self) -> Ipv4Addr {
        plan::api_address(self.id)
    }

    /// The underlay subnet, `198.18.<id>.0/24`.
    pub fn underlay_cidr(&self) -> Ipv4Cidr {
        plan::underlay_cidr(self.id)
    }

    /// The root namespace's end of the underlay veth, `drm-ul<id>`.
    pub fn root_link(&self) -> String {
        plan::root_link(self.id)
    }

    /// The namespace holding the underlay bridge.
    pub fn underlay_netns(&self) -> &str {
        &self.underlay_netns
    }

    /// Declares `cluster` with pod network `pod_network` (a /23 or larger;
    /// node k gets its k-th /24). Clusters first named by
    /// [`Self::add_node`] get `10.10.0.0/16`, `10.20.0.0/16`, … instead.
    /// Declaring a cluster again with the same network does nothing.
    pub fn add_cluster(&mut self, cluster: &str, pod_network: Ipv4Cidr) -> Result<(), TopologyError> {
        plan::validate("cluster", cluster)?;
        if let Some(existing) = self.cluster_pod_network(cluster) {
            return if existing == pod_network {
                Ok(())
            } else {
                Err(TopologyError::Conflict(format!(
                    "cluster {cluster} already has pod network {existing}, not {pod_network}"
                )))
            };
        }
        if plan::node_pod_cidr(pod_network, 1).is_none() {
            return Err(TopologyError::Conflict(format!(
                "pod network {pod_network} of cluster {cluster} cannot hold node /24s: use a /23 or larger"
            )));
        }
        if let Some((other, network)) = self
            .clusters
            .iter()
            .find(|(_, network)| plan::overlaps(*network, pod_network))
        {
            return Err(TopologyError::Conflict(format!(
                "pod network {pod_network} of cluster {cluster} overlaps {network} of cluster {other}"
            )));
        }
        self.clusters.push((cluster.to_owned(), pod_network));
        Ok(())
    }

    /// The pod network of `cluster`, if it was declared or has nodes.
    pub fn cluster_pod_network(&self, cluster: &str) -> Option<Ipv4Cidr> {
        self.clusters
            .iter()
            .find(|(name, _)| name == cluster)
            .map(|(_, network)| *network)
    }

    /// Adds node `node` of `cluster` (declaring the cluster with the next
    /// free default pod network if needed): namespace
    /// `<prefix>-<pid>-<serial>-<cluster>-<node>` with `lo` up, `eth0` on the
    /// underlay bridge at the next free `198.18.<id>.10+`, `ip_forward=1`,
    /// and routes both ways between its pod CIDR and those of the cluster's
    /// other nodes via their underlay addresses (the CNI's part). On failure
    /// nothing of the node is left.
    pub fn add_node(&mut self, cluster: &str, node: &str) -> Result<NodeNet, TopologyError> {
        plan::validate("cluster", cluster)?;
        plan::validate("node", node)?;
        if self.node(cluster, node).is_some() {
            return Err(TopologyError::Conflict(format!(
                "node {node} of cluster {cluster} exists"
            )));
        }
        let netns = plan::node_netns(&self.base, cluster, node);
        if let Some(other) = self.nodes.iter().find(|other| other.netns == netns) {
            return Err(TopologyError::Conflict(format!(
                "node {node} of cluster {cluster} would share namespace {netns} with node {} of cluster {}",
                other.node, other.cluster
            )));
        }
        let pod_network = match self.cluster_pod_network(cluster) {
            Some(network) => network,
            None => {
                let network = self.free_default_network(cluster)?;
                self.add_cluster(cluster, network)?;
                network
            }
        };
        let in_use: Vec<Ipv4Addr> = self.nodes.iter().map(|node| node.underlay_ip).collect();
        let underlay_ip = plan::free_node_ip(self.id, &in_use).ok_or_else(|| {
            TopologyError::Exhausted(format!(
                "the underlay {} has no address left",
                self.underlay_cidr()
            ))
        })?;
        let number = self.nodes.iter().filter(|node| node.cluster == cluster).count() + 1;
        let pod_cidr = plan::node_pod_cidr(pod_network, number).ok_or_else(|| {
            TopologyError::Exhausted(format!(
                "pod network {pod_network} of cluster {cluster} has no /24 for node {number}"
            ))
        })?;
        let net = NodeNet {
            cluster: cluster.to_owned(),
            node: node.to_owned(),
            netns,
            underlay_ip,
            pod_cidr,
        };
        let mut undo = Vec::new();
        if let Err(error) = self.wire(&net, &mut undo) {
            for args in undo.iter().rev() {
                let _ = self.tools.ip(args);
            }
            return Err(error);
        }
        self.nodes.push(net.clone());
        Ok(net)
    }

    /// Builds `net`'s namespace and routes, recording in `undo` how to take
    /// back each step that worked.
    fn wire(&self, net: &NodeNet, undo: &mut Vec<Vec<String>>) -> Result<(), TopologyError> {
        let setup = node_setup(&net.netns, &self.underlay_netns, &net.port(), net.underlay_ip);
        for (step, args) in setup.iter().enumerate() {
            self.tools.ip(args)?;
            if step == 0 {
                undo.push(netns_del(&net.netns));
            }
        }
        enable_forwarding(&net.netns)?;
        for peer in self.nodes.iter().filter(|peer| peer.cluster == net.cluster) {
            self.tools
                .ip(&pod_route(&net.netns, "add", peer.pod_cidr, peer.underlay_ip))?;
            self.tools
                .ip(&pod_route(&peer.netns, "add", net.pod_cidr, net.underlay_ip))?;
            undo.push(pod_route(&peer.netns, "del", net.pod_cidr, net.underlay_ip));
        }
        Ok(())
    }

    fn free_default_network(&self, cluster: &str) -> Result<Ipv4Cidr, TopologyError> {
        (0..)
            .map_while(plan::default_pod_network)
            .find(|candidate| {
                self.clusters
                    .iter()
                    .all(|(_, network)| !plan::overlaps(*network, *candidate))
            })
            .ok_or_else(|| {
                TopologyError::Exhausted(format!(
                    "no default pod network left for cluster {cluster}: declare it with add_cluster"
                ))
            })
    }

    /// Every node, in the order added.
    pub fn nodes(&self) -> &[NodeNet] {
        &self.nodes
    }

    /// Node `node` of `cluster`.
    pub fn node(&self, cluster: &str, node: &str) -> Option<&NodeNet> {
        self.nodes
            .iter()
            .find(|net| net.cluster == cluster && net.node == node)
    }

    /// Node `node` of `cluster`, or an error naming it.
    pub(super) fn require_node(&self, cluster: &str, node: &str) -> Result<&NodeNet, TopologyError> {
        self.node(cluster, node)
            .ok_or_else(|| TopologyError::UnknownNode {
                cluster: cluster.to_owned(),
                node: node.to_owned(),
            })
    }

    /// The nodes of `cluster`, or an error when it has none.
    pub(super) fn cluster_nodes(&self, cluster: &str) -> Result<Vec<&NodeNet>, TopologyError> {
        let nodes: Vec<&NodeNet> = self.nodes.iter().filter(|net| net.cluster == cluster).collect();
        if nodes.is_empty() {
            return Err(TopologyError::UnknownCluster(cluster.to_owned()));
        }
        Ok(nodes)
    }
}

/// Creates the first free `drm-ul<id>` with its peer in `underlay_netns`.
fn reserve_underlay(tools: &Tools, underlay_netns: &str) -> Result<u8, TopologyError> {
    for id in 0..=MAX_UNDERLAY_ID {
        match tools.ip(&reserve_root_link(&plan::root_link(id), underlay_netns)) {
            Ok(_) => return Ok(id),
            Err(TopologyError::Command { message, .. }) if message.contains("File exists") => {}
            Err(error) => return Err(error),
        }
    }
    Err(TopologyError::NoFreeUnderlay {
        first: plan::root_link(0),
        last: plan::root_link(MAX_UNDERLAY_ID),
    })
}

impl Drop for Topology {
    fn drop(&mut self) {
        // The root side first: deleting a veth end removes both at once,
        // while a deleted namespace's links go only when the kernel gets to it.
        let mut removals = vec![link_del(&self.root_link())];
        removals.extend(self.nodes.iter().rev().map(|node| netns_del(&node.netns)));
        removals.push(netns_del(&self.underlay_netns));
        for args in removals {
            if let Err(error) = self.tools.ip(&args) {
                tracing::warn!(%error, "cannot remove part of the sandbox's network topology");
            }
        }
    }
}
