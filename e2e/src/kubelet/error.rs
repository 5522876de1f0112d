//! What can go wrong while the simulated kubelet runs a Pod, sorted by how a
//! real kubelet would report it: a container it cannot configure
//! (`CreateContainerConfigError`), one it cannot create
//! (`CreateContainerError`), a volume it cannot mount (the Pod stays
//! `ContainerCreating`), or a failure of the machinery itself.

use std::path::PathBuf;

/// A failure of the simulated kubelet.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// The container's configuration cannot be resolved (a missing Secret,
    /// ConfigMap or key); a kubelet reports `CreateContainerConfigError` and
    /// retries.
    #[error("container {container}: {message}")]
    ContainerConfig {
        /// The container.
        container: String,
        /// Kubelet-style message, e.g. `couldn't find key k in Secret ns/name`.
        message: String,
    },
    /// The container cannot be created here (an image the sandbox cannot run,
    /// a path that is not mounted); a kubelet reports `CreateContainerError`.
    #[error("container {container}: {message}")]
    ContainerCreate {
        /// The container.
        container: String,
        /// Why.
        message: String,
    },
    /// A volume cannot be set up; the Pod stays `ContainerCreating`.
    #[error("MountVolume.SetUp failed for volume \"{volume}\": {message}")]
    Volume {
        /// The volume.
        volume: String,
        /// Why.
        message: String,
    },
    /// A file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A program the sandbox runs failed or timed out.
    #[error("`{command}` failed: {message}")]
    Command {
        /// Program and arguments.
        command: String,
        /// Status and output.
        message: String,
    },
    /// A program or privilege the sandbox needs is missing.
    #[error("{0}")]
    Missing(String),
    /// A network namespace could not be entered or set up.
    #[error("network namespace {netns}: {message}")]
    Netns {
        /// The namespace.
        netns: String,
        /// Why.
        message: String,
    },
    /// The Pod has no container of that name.
    #[error("the Pod has no container {0}")]
    NoSuchContainer(String),
    /// The Pod itself cannot be run (no spec, no name).
    #[error("cannot run the Pod: {0}")]
    Pod(String),
    /// Initialising or starting the database server failed.
    #[error("mysqld: {0}")]
    Mysqld(String),
    /// A wait for a Pod state timed out; the message summarises the status.
    #[error("{0}")]
    Timeout(String),
    /// The drmysql binary could not be found or built.
    #[error("drmysql binary: {0}")]
    Binary(String),
}

impl KubeletError {
    /// An [`KubeletError::Io`] for `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { action, path, source }
    }
}
