//! The sidecar (`drmysql sidecar`): runs beside mysqld in every instance Pod.
//!
//! It writes the heartbeat while its instance is the primary, decides the
//! Pod's readiness (a lagging replica leaves the reader Service), measures a
//! replica's lag against its source's clock, probes peers over the cluster
//! link for the controller, and serves per-instance metrics.

pub mod handshake;
pub mod http;
pub mod metrics;
pub mod monitor;
pub mod podinfo;
pub mod readiness;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// Configuration of one sidecar.
#[derive(Clone)]
pub struct SidecarConfig {
    /// Namespace of the DRMySQL.
    pub namespace: String,
    /// Name of the DRMySQL.
    pub cluster: String,
    /// Instance name.
    pub instance: String,
    /// Directory of the downward-API `labels` file.
    pub podinfo_dir: PathBuf,
    /// Address of the local server.
    pub mysql_host: String,
    /// Port of the local server.
    pub mysql_port: u16,
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
    /// Heartbeat and monitoring interval.
    pub heartbeat_interval: Duration,
    /// Lag above which a replica is not ready.
    pub ready_max_lag: Duration,
    /// Heartbeat account.
    pub heartbeat_user: String,
    /// Its password.
    pub heartbeat_password: String,
    /// Bearer token `/probe` requires.
    pub token: String,
    /// Bound on each connect and statement.
    pub timeout: Duration,
}

impl fmt::Debug for SidecarConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SidecarConfig")
            .field("namespace", &self.namespace)
            .field("cluster", &self.cluster)
            .field("instance", &self.instance)
            .field("podinfo_dir", &self.podinfo_dir)
            .field("mysql", &format!("{}:{}", self.mysql_host, self.mysql_port))
            .field("listen", &self.listen)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("ready_max_lag", &self.ready_max_lag)
            .field("heartbeat_user", &self.heartbeat_user)
            .field("heartbeat_password", &"<redacted>")
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Why the sidecar could not run.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// The HTTP listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A running sidecar: its monitor loop and HTTP server.
pub struct Sidecar {
    /// The address the HTTP server listens on.
    pub local_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Sidecar {
    /// Starts the monitor loop and the HTTP server.
    pub async fn start(config: SidecarConfig) -> Result<Self, SidecarError> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| SidecarError::Listen {
                address: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| SidecarError::Listen {
            address: config.listen,
            source,
        })?;
        let state = Arc::new(RwLock::new(monitor::SharedState::default()));
        let metrics = Arc::new(metrics::SidecarMetrics::default());
        let mut registry = prometheus_client::registry::Registry::default();
        metrics.register(&mut registry);
        let endpoints = Arc::new(http::Endpoints {
            state: Arc::clone(&state),
            registry,
            metrics: Arc::clone(&metrics),
            token: config.token.clone(),
            interval: config.heartbeat_interval,
            ready_max_lag: config.ready_max_lag,
        });
        let monitor_task = tokio::spawn(monitor::Monitor::new(config, state, metrics).run());
        let server_task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let endpoints = Arc::clone(&endpoints);
                tokio::spawn(async move {
                    let service = service_fn(move |request| http::handle(Arc::clone(&endpoints), request));
                    if let Err(error) = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                    {
                        tracing::debug!(%error, "sidecar HTTP connection ended with an error");
                    }
                });
            }
        });
        Ok(Self {
            local_addr,
            tasks: vec![monitor_task, server_task],
        })
    }

    /// Runs until `shutdown` completes, then stops.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        shutdown.await;
        drop(self);
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
