//! The network faults a scenario injects: a cluster (or one node) cut off
//! from the underlay, and one node's clusterlink tunnel cut while the rest of
//! its traffic flows.

use super::commands::port_state;
use super::error::TopologyError;
use super::namespaces::{NodeNet, Topology};
use super::tunnel::{block_plan, unblock_plan};

impl Topology {
    /// Cuts every node of `cluster` off the underlay: its bridge ports go
    /// down on the underlay side, so the nodes lose the API address, each
    /// other and the other clusters, but keep their addresses and routes (the
    /// links show NO-CARRIER). A node added later is connected.
    pub fn partition_cluster(&self, cluster: &str) -> Result<(), TopologyError> {
        self.set_ports(&self.cluster_nodes(cluster)?, false)
    }

    /// Reconnects every node of `cluster` to the underlay.
    pub fn heal_cluster(&self, cluster: &str) -> Result<(), TopologyError> {
        self.set_ports(&self.cluster_nodes(cluster)?, true)
    }

    /// Cuts one node off the underlay, as [`Self::partition_cluster`] does.
    pub fn partition_node(&self, cluster: &str, node: &str) -> Result<(), TopologyError> {
        self.set_ports(&[self.require_node(cluster, node)?], false)
    }

    /// Reconnects one node to the underlay.
    pub fn heal_node(&self, cluster: &str, node: &str) -> Result<(), TopologyError> {
        self.set_ports(&[self.require_node(cluster, node)?], true)
    }

    fn set_ports(&self, nodes: &[&NodeNet], up: bool) -> Result<(), TopologyError> {
        for node in nodes {
            self.tools
                .ip(&port_state(self.underlay_netns(), &node.port(), up))?;
        }
        Ok(())
    }

    /// Drops UDP to clusterlink's VXLAN ports (4876 `vx-bridge`, 4877
    /// `vx-local`) in and out of one node, in table filter of its namespace,
    /// while everything else, the API address included, still flows. The
    /// rules survive the clusterlink agent's applies and cleanups; blocking
    /// twice is blocking once.
    pub fn block_tunnel(&self, cluster: &str, node: &str) -> Result<(), TopologyError> {
        let netns = &self.require_node(cluster, node)?.netns;
        let saved = self.tools.iptables_rules(netns)?;
        for args in block_plan(&saved) {
            self.tools.iptables_in(netns, &args)?;
        }
        Ok(())
    }

    /// Removes what [`Self::block_tunnel`] added to the node, and nothing
    /// else; a node that is not blocked is left as it is.
    pub fn unblock_tunnel(&self, cluster: &str, node: &str) -> Result<(), TopologyError> {
        let netns = &self.require_node(cluster, node)?.netns;
        let saved = self.tools.iptables_rules(netns)?;
        for args in unblock_plan(&saved) {
            self.tools.iptables_in(netns, &args)?;
        }
        Ok(())
    }
}
