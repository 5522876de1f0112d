//! `drmysql controller`: reconciles DRMySQL objects. It reads `KUBECONFIG` (or
//! the in-cluster service account), so the e2e sandbox and a laptop can run it
//! as a plain process.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use drmysql_controller::reconcile::ControllerConfig;
use drmysql_controller::reconcile::observe::ObserveConfig;

/// Arguments of `drmysql controller`.
#[derive(clap::Args, Debug)]
pub struct ControllerArgs {
    /// Image of the sidecar container in every instance Pod (the drmysql image).
    #[arg(long, env = "DRMYSQL_SIDECAR_IMAGE")]
    sidecar_image: String,
    /// Address of the `/metrics` and `/healthz` server.
    #[arg(long, env = "DRMYSQL_METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    metrics_address: SocketAddr,
    /// Bound on each MySQL connect and statement, in milliseconds.
    #[arg(long, env = "DRMYSQL_MYSQL_TIMEOUT_MS", default_value_t = 3000)]
    mysql_timeout_ms: u64,
    /// Bound on each tunnel check, in milliseconds.
    #[arg(long, env = "DRMYSQL_TUNNEL_TIMEOUT_MS", default_value_t = 3000)]
    tunnel_timeout_ms: u64,
    /// Seconds between two observations of a settled DRMySQL.
    #[arg(long, env = "DRMYSQL_RESYNC_SECONDS", default_value_t = 10)]
    resync_seconds: u64,
}

/// Runs the controller until SIGTERM or Ctrl-C.
pub async fn run(args: &ControllerArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.sidecar_image.is_empty(),
        "--sidecar-image (DRMYSQL_SIDECAR_IMAGE) must not be empty"
    );
    let client = kube::Client::try_default()
        .await
        .context("cannot build a Kubernetes client from KUBECONFIG or the in-cluster service account")?;
    let config = ControllerConfig {
        sidecar_image: args.sidecar_image.clone(),
        observe: ObserveConfig {
            mysql_timeout: Duration::from_millis(args.mysql_timeout_ms),
            tunnel_timeout: Duration::from_millis(args.tunnel_timeout_ms),
        },
        resync: Duration::from_secs(args.resync_seconds.max(1)),
    };
    tracing::info!(?config, metrics = %args.metrics_address, "starting controller");
    drmysql_controller::runner::run(client, config, args.metrics_address, crate::shutdown_signal()).await?;
    tracing::info!("controller stopped");
    Ok(())
}
