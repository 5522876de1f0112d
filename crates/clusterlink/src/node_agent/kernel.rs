//! The real [`Kernel`]: the agent's kernel layer for applying, and a netlink
//! connection of its own for finding the underlay, both in the network
//! namespace of the thread that built it (the host's, for a hostNetwork Pod).

use drmysql_api::clusterlink::NodeConfigSpec;

use super::detect::{self, DetectError, InterfaceChoice, Underlay};
use super::status::SyncOutcome;
use super::sync::Kernel;
use crate::agent::{Agent, AgentError};

/// The node's kernel.
pub struct NodeKernel {
    agent: Agent,
    handle: rtnetlink::Handle,
    connection: tokio::task::JoinHandle<()>,
}

impl NodeKernel {
    /// Wraps `agent`; must run inside a tokio runtime.
    pub fn new(agent: Agent) -> Result<Self, AgentError> {
        let (connection, handle, _messages) = rtnetlink::new_connection().map_err(AgentError::Connection)?;
        let connection = tokio::spawn(connection);
        Ok(Self {
            agent,
            handle,
            connection,
        })
    }
}

impl Drop for NodeKernel {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl Kernel for NodeKernel {
    async fn detect(&mut self, choice: &InterfaceChoice) -> Result<Underlay, DetectError> {
        detect::detect(&self.handle, choice).await
    }

    async fn apply(&mut self, spec: &NodeConfigSpec) -> SyncOutcome {
        let report = self.agent.apply(spec).await;
        SyncOutcome {
            applied: report.applied,
            changes: report.created + report.deleted,
            errors: report.errors,
        }
    }

    async fn cleanup(&mut self) -> Result<usize, String> {
        self.agent.cleanup().await.map_err(|error| error.to_string())
    }
}
