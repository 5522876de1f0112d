//! What can go wrong while a simulated node registers, runs its Pods or
//! schedules. Most failures inside the loops are logged and retried, as a
//! kubelet retries; these are the ones a caller sees: a node that cannot
//! start at all, an unknown Pod or container, a shutdown that left
//! something behind.

use crate::kubelet::KubeletError;

/// A failure of a simulated node or of the sandbox scheduler.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A request to the Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Api(#[from] kube::Error),
    /// The pod runtime failed.
    #[error(transparent)]
    Kubelet(#[from] KubeletError),
    /// The node cannot be started as specified (a missing network namespace,
    /// an invalid name).
    #[error("node {node}: {message}")]
    Invalid {
        /// The node.
        node: String,
        /// Why.
        message: String,
    },
    /// No Pod of that name runs on the node.
    #[error("no Pod {namespace}/{name} runs on node {node}")]
    NoSuchPod {
        /// The node.
        node: String,
        /// The Pod's namespace.
        namespace: String,
        /// The Pod's name.
        name: String,
    },
    /// Stopping left something behind (a process, a namespace) or a loop
    /// ended abnormally.
    #[error("node {node} did not stop cleanly: {message}")]
    Shutdown {
        /// The node.
        node: String,
        /// What was left or failed.
        message: String,
    },
}
