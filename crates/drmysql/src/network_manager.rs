//! `drmysql network-manager`: turns every Cluster and ClusterNode of the host
//! cluster into one NodeConfig per node. It reads `KUBECONFIG` or the in-cluster
//! service account, so it runs as a plain process too.

use std::time::Duration;

use drmysql_clusterlink::network_manager;
use drmysql_clusterlink::trigger::LoopTiming;

/// Arguments of `drmysql network-manager`.
#[derive(clap::Args, Debug)]
pub struct NetworkManagerArgs {
    /// Quiet time after the last change before NodeConfigs are recomputed, in milliseconds.
    #[arg(long, env = "DRMYSQL_DEBOUNCE_MS", default_value_t = 1000)]
    debounce_ms: u64,
    /// Longest a burst of changes may delay a recomputation, in milliseconds.
    #[arg(long, env = "DRMYSQL_MAX_DELAY_MS", default_value_t = 10_000)]
    max_delay_ms: u64,
    /// Seconds between two recomputations without changes.
    #[arg(long, env = "DRMYSQL_RESYNC_SECONDS", default_value_t = 300)]
    resync_seconds: u64,
}

/// Runs the network manager until SIGTERM or Ctrl-C.
pub async fn run(args: &NetworkManagerArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.debounce_ms <= args.max_delay_ms,
        "--debounce-ms ({}) must not exceed --max-delay-ms ({})",
        args.debounce_ms,
        args.max_delay_ms
    );
    let client = crate::clients::local().await?;
    let config = LoopTiming {
        debounce: Duration::from_millis(args.debounce_ms),
        max_delay: Duration::from_millis(args.max_delay_ms),
        resync: Duration::from_secs(args.resync_seconds.max(1)),
        retry: Duration::from_secs(10),
    };
    tracing::info!(?config, "starting network manager");
    network_manager::run(client, config, crate::shutdown_signal()).await;
    tracing::info!("network manager stopped");
    Ok(())
}
