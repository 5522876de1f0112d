//! The agent's error type.
//!
//! The agent does not stop at the first failure: [`super::Agent::apply`] turns
//! each of these into an `EntryError` on the entry it hit and carries on with
//! the rest, and [`super::Agent::cleanup`] collects them into
//! [`AgentError::Incomplete`]. So every variant says what was being done and,
//! for a tool, its stderr, which is what an operator reads in the NodeConfig's
//! status. None of them ever holds key material: xfrm keys only travel on a
//! child's stdin, and stdin is never part of an error.

use std::time::Duration;

/// What went wrong in the agent's kernel layer.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The agent was created outside a tokio runtime, which its netlink
    /// connection needs.
    #[error("the agent needs a tokio runtime: {0}")]
    NoRuntime(String),
    /// The rtnetlink socket could not be opened.
    #[error("could not open the rtnetlink socket: {0}")]
    Connection(#[source] std::io::Error),
    /// A netlink request failed.
    #[error("{operation}: {source}")]
    Netlink {
        /// What was asked, e.g. `add route 10.1.0.0/16 via ...`.
        operation: String,
        /// The kernel's or the library's answer.
        #[source]
        source: rtnetlink::Error,
    },
    /// A netlink request or a tool did not finish in time.
    #[error("{operation} did not finish within {timeout:?}")]
    Timeout {
        /// What was being done.
        operation: String,
        /// The bound it exceeded.
        timeout: Duration,
    },
    /// A tool could not be started (missing binary, no permission) or its
    /// pipes failed.
    #[error("could not run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A tool exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        /// The command line (never containing secrets).
        command: String,
        /// The exit status.
        status: String,
        /// The tool's stderr, trimmed.
        stderr: String,
    },
    /// A sysctl under `/proc/sys` could not be read or written.
    #[error("sysctl {path}: {source}")]
    Sysctl {
        /// The file under `/proc/sys`.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The kernel state does not allow the entry, e.g. its bind device is
    /// missing or has no address of the family.
    #[error("{0}")]
    Precondition(String),
    /// A tool's output could not be understood.
    #[error("could not parse the output of {tool}: {detail}")]
    Parse {
        /// The tool.
        tool: String,
        /// What was wrong.
        detail: String,
    },
    /// Cleanup removed what it could; these parts failed.
    #[error("cleanup incomplete: {}", join(.0))]
    Incomplete(Vec<AgentError>),
}

fn join(errors: &[AgentError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
