//! What can go wrong while the sandbox starts, runs a scenario or stops,
//! each error saying what to fix or what was observed.

/// A sandbox failure.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The machine lacks something the sandbox needs.
    #[error("the drmysql sandbox needs {}; run scripts/install-deps as root", .0.join(", "))]
    Missing(Vec<String>),
    /// A file or process operation failed.
    #[error("{what}: {error}")]
    Io {
        /// What was attempted.
        what: String,
        /// The cause.
        error: std::io::Error,
    },
    /// A component exited while the sandbox needed it.
    #[error("{name} exited ({status}); it ran `{command}`; its log ends:\n{log_tail}")]
    ComponentExited {
        /// The component.
        name: String,
        /// Its command line.
        command: String,
        /// How it ended.
        status: String,
        /// The end of its log.
        log_tail: String,
    },
    /// A Kubernetes API call failed.
    #[error("{what}: {error}")]
    Kube {
        /// What was attempted.
        what: String,
        /// The cause (boxed: it is large).
        error: Box<kube::Error>,
    },
    /// Waiting for something timed out.
    #[error("{what} did not happen within {limit:?}; last seen: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The bound.
        limit: std::time::Duration,
        /// The last observation, to tell why.
        last: String,
    },
    /// A MySQL statement failed.
    #[error("{what}: {error}")]
    Mysql {
        /// What was attempted.
        what: String,
        /// The cause.
        error: String,
    },
    /// A part of the sandbox (topology, nodes, API simulator) failed.
    #[error("{0}")]
    Part(String),
    /// Something the sandbox relies on did not hold.
    #[error("{0}")]
    Invariant(String),
}

impl SandboxError {
    /// A `map_err` adapter for kube calls.
    pub fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |error| Self::Kube {
            what,
            error: Box::new(error),
        }
    }

    /// A `map_err` adapter for the other parts' errors.
    pub fn part<E: std::fmt::Display>(what: impl Into<String>) -> impl FnOnce(E) -> Self {
        let what = what.into();
        move |error| Self::Part(format!("{what}: {error}"))
    }
}
