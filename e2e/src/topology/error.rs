//! What can go wrong while the sandbox's namespaces are built or changed.

use crate::kubelet::KubeletError;

/// A failure of [`super::Topology`].
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// A privilege or program the topology needs is missing; each entry
    /// names one (`root`, `ip` from iproute2, `iptables`).
    #[error("the sandbox's network topology needs {}", .0.join(", "))]
    Missing(Vec<String>),
    /// A command failed or timed out.
    #[error("`{command}` failed: {message}")]
    Command {
        /// Program and arguments.
        command: String,
        /// Status and output.
        message: String,
    },
    /// Every underlay of the address plan is taken on this machine.
    #[error(
        "no free underlay: links {first}..{last} all exist in the root namespace \
         (namespaces of killed runs are removed by Topology::remove_stale)"
    )]
    NoFreeUnderlay {
        /// The first root-side link name tried.
        first: String,
        /// The last one tried.
        last: String,
    },
    /// A name that cannot be part of a namespace name.
    #[error("{what} {name:?} is not usable in a namespace name: {why}")]
    InvalidName {
        /// What the name names (prefix, cluster, node).
        what: &'static str,
        /// The name.
        name: String,
        /// Why not.
        why: &'static str,
    },
    /// The address plan has no room left.
    #[error("the address plan is exhausted: {0}")]
    Exhausted(String),
    /// The cluster was never added.
    #[error("no cluster {0} in this topology")]
    UnknownCluster(String),
    /// The node was never added.
    #[error("no node {node} of cluster {cluster} in this topology")]
    UnknownNode {
        /// The cluster.
        cluster: String,
        /// The node.
        node: String,
    },
    /// A cluster or node that exists already, or a pod network that overlaps
    /// another cluster's.
    #[error("{0}")]
    Conflict(String),
    /// A namespace could not be entered.
    #[error("{0}")]
    Netns(String),
}

impl From<KubeletError> for TopologyError {
    fn from(error: KubeletError) -> Self {
        match error {
            KubeletError::Command { command, message } => Self::Command { command, message },
            KubeletError::Missing(what) => Self::Missing(vec![what]),
            other => Self::Netns(other.to_string()),
        }
    }
}
