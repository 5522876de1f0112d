//! InitNodes: an empty NodeConfig for every valid ClusterNode.
//!
//! A node that needs nothing yet (a lone cluster, a gateway-mode cluster
//! without its gateway) still gets a NodeConfig, so that its agent converges to
//! "nothing" and removes what an earlier NodeConfig had it install.

use super::Output;
use crate::manager::topology::Topology;

pub(super) fn run(topology: &Topology<'_>, out: &mut Output) {
    for node in &topology.nodes {
        out.spec(&node.name);
    }
}
