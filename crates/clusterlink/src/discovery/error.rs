//! Why a discovery step failed. Every failure is logged and retried by the
//! loops in [`super::run`]; none stops the process.

/// A failed read or write, or an unusable configuration.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// A request to the member or the host API server failed.
    #[error("cannot {verb} {what}: {source}")]
    Api {
        /// What was attempted: `list`, `get`, `apply`, `patch` or `delete`.
        verb: &'static str,
        /// The object or collection, e.g. `ClusterNode a-n1` or `member Nodes`.
        what: String,
        /// The client's error (boxed: it is large, and errors are rare).
        #[source]
        source: Box<kube::Error>,
    },
    /// This cluster's Cluster object does not exist in the host cluster (yet).
    #[error("Cluster {0:?} does not exist in the host cluster")]
    ClusterMissing(String),
    /// The configuration cannot work; the message names the field.
    #[error("invalid discovery configuration: {0}")]
    Config(String),
    /// The Lease of the gateway election could not be set up.
    #[error("cannot take part in the gateway election: {0}")]
    Lease(#[source] Box<kube_lease_manager::LeaseManagerError>),
}

impl DiscoveryError {
    /// Wraps a client error with what was being done.
    pub(crate) fn api(verb: &'static str, what: impl Into<String>, source: kube::Error) -> Self {
        Self::Api {
            verb,
            what: what.into(),
            source: Box::new(source),
        }
    }
}

/// Whether a client error is the API server's 404: the object, or the whole
/// resource (a CRD that is not installed), does not exist.
pub(crate) fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}
