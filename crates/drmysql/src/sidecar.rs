//! `drmysql sidecar`: the process beside mysqld in every instance Pod. Its
//! settings come from the environment the controller's Pod template sets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use drmysql_controller::sidecar::{Sidecar, SidecarConfig};

/// Arguments of `drmysql sidecar`.
#[derive(clap::Args, Debug)]
pub struct SidecarArgs {
    /// Namespace of the DRMySQL.
    #[arg(long, env = "POD_NAMESPACE")]
    namespace: String,
    /// Name of the DRMySQL.
    #[arg(long, env = "DRMYSQL_CLUSTER")]
    cluster: String,
    /// Name of this instance.
    #[arg(long, env = "DRMYSQL_INSTANCE")]
    instance: String,
    /// Directory holding the downward-API `labels` file.
    #[arg(long, env = "DRMYSQL_PODINFO", default_value = "/etc/drmysql/podinfo")]
    podinfo: PathBuf,
    /// Address of the local server.
    #[arg(long, env = "DRMYSQL_MYSQL_HOST", default_value = "127.0.0.1")]
    mysql_host: String,
    /// Port of the local server.
    #[arg(long, env = "DRMYSQL_MYSQL_PORT", default_value_t = 3306)]
    mysql_port: u16,
    /// Address of the HTTP server.
    #[arg(long, env = "DRMYSQL_LISTEN", default_value = "0.0.0.0:9104")]
    listen: SocketAddr,
    /// Heartbeat and monitoring interval, in milliseconds.
    #[arg(long, env = "DRMYSQL_HEARTBEAT_INTERVAL_MS", default_value_t = 1000)]
    heartbeat_interval_ms: u64,
    /// Lag above which a replica is not ready, in seconds.
    #[arg(long, env = "DRMYSQL_READY_MAX_LAG_SECONDS", default_value_t = 30.0)]
    ready_max_lag_seconds: f64,
    /// Heartbeat account.
    #[arg(long, env = "DRMYSQL_HEARTBEAT_USER", default_value = "drmysql_heartbeat")]
    heartbeat_user: String,
    /// Heartbeat account password (from the credentials Secret; never a flag in production).
    #[arg(long, env = "DRMYSQL_HEARTBEAT_PASSWORD", hide_env_values = true)]
    heartbeat_password: String,
    /// Bearer token the probe endpoint requires.
    #[arg(long, env = "DRMYSQL_SIDECAR_TOKEN", hide_env_values = true)]
    token: String,
    /// Bound on each connect and statement, in milliseconds.
    #[arg(long, env = "DRMYSQL_TIMEOUT_MS", default_value_t = 3000)]
    timeout_ms: u64,
}

impl SidecarArgs {
    fn config(&self) -> anyhow::Result<SidecarConfig> {
        anyhow::ensure!(
            (100..=10_000).contains(&self.heartbeat_interval_ms),
            "DRMYSQL_HEARTBEAT_INTERVAL_MS must be between 100 and 10000, not {}",
            self.heartbeat_interval_ms
        );
        let max_lag = Duration::try_from_secs_f64(self.ready_max_lag_seconds)
            .ok()
            .filter(|lag| !lag.is_zero())
            .with_context(|| {
                format!(
                    "DRMYSQL_READY_MAX_LAG_SECONDS must be a positive number, not {}",
                    self.ready_max_lag_seconds
                )
            })?;
        anyhow::ensure!(!self.token.is_empty(), "DRMYSQL_SIDECAR_TOKEN must not be empty");
        Ok(SidecarConfig {
            namespace: self.namespace.clone(),
            cluster: self.cluster.clone(),
            instance: self.instance.clone(),
            podinfo_dir: self.podinfo.clone(),
            mysql_host: self.mysql_host.clone(),
            mysql_port: self.mysql_port,
            listen: self.listen,
            heartbeat_interval: Duration::from_millis(self.heartbeat_interval_ms),
            ready_max_lag: max_lag,
            heartbeat_user: self.heartbeat_user.clone(),
            heartbeat_password: self.heartbeat_password.clone(),
            token: self.token.clone(),
            timeout: Duration::from_millis(self.timeout_ms),
        })
    }
}

/// Runs the sidecar until SIGTERM or Ctrl-C.
pub async fn run(args: &SidecarArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    tracing::info!(?config, "starting sidecar");
    let sidecar = Sidecar::start(config).await?;
    tracing::info!(address = %sidecar.local_addr, "sidecar listening");
    sidecar.run_until(crate::shutdown_signal()).await;
    tracing::info!("sidecar stopped");
    Ok(())
}
