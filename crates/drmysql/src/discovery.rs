//! `drmysql discovery`: runs in every member cluster. It mirrors the member's
//! Nodes as ClusterNodes in the host cluster, records the member's pod and
//! Service CIDRs on its Cluster, keeps Calico from masquerading traffic to the
//! other clusters' pods, and elects the member's gateway node through a Lease.

use std::path::PathBuf;
use std::time::Duration;

use drmysql_clusterlink::discovery::{self, DiscoveryConfig};

/// Arguments of `drmysql discovery`.
#[derive(clap::Args, Debug)]
pub struct DiscoveryArgs {
    /// Name of this member's Cluster object in the host cluster.
    #[arg(long, env = "CLUSTER_NAME")]
    cluster: String,
    /// Kubeconfig of the host cluster; omitted when this is the host cluster.
    #[arg(long, env = "DRMYSQL_HOST_KUBECONFIG")]
    host_kubeconfig: Option<PathBuf>,
    /// Namespace of the gateway-election Lease in this member cluster.
    #[arg(long, env = "POD_NAMESPACE", default_value = "kosmos-system")]
    lease_namespace: String,
    /// This replica's identity in the election; the Pod name in a cluster.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds between two discovery passes without changes.
    #[arg(long, env = "DRMYSQL_RESYNC_SECONDS", default_value_t = 30)]
    resync_seconds: u64,
}

/// Runs discovery until SIGTERM or Ctrl-C.
pub async fn run(args: &DiscoveryArgs) -> anyhow::Result<()> {
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(crate::clients::default_identity);
    let mut config = DiscoveryConfig::new(&args.cluster, identity, &args.lease_namespace);
    config.resync = Duration::from_secs(args.resync_seconds.max(1));
    config.validate()?;
    let member = crate::clients::local().await?;
    let host = crate::clients::host(args.host_kubeconfig.as_deref()).await?;
    tracing::info!(cluster = %args.cluster, "starting discovery");
    discovery::run(member, host, config, crate::shutdown_signal()).await?;
    tracing::info!("discovery stopped");
    Ok(())
}
