//! `drmysql controller`: reconciles DRMySQL objects. It reads `KUBECONFIG` (or
//! the in-cluster service account), so the e2e sandbox and a laptop can run it
//! as a plain process.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use drmysql_controller::leader::LeaderElectionConfig;
use drmysql_controller::metrics::ControllerMetrics;
use drmysql_controller::reconcile::ControllerConfig;
use drmysql_controller::reconcile::observe::ObserveConfig;
use prometheus_client::registry::Registry;

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
    /// How many DRMySQLs are reconciled at once; the rest wait their turn.
    /// Bounds memory and API connections whatever the number of DRMySQLs.
    #[arg(long, env = "DRMYSQL_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Reconcile only while holding the leader Lease, so that several replicas are
    /// safe. `--leader-election=false` for a single replica.
    #[arg(long, env = "DRMYSQL_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Name of the leader Lease.
    #[arg(long, env = "DRMYSQL_LEASE_NAME", default_value = "drmysql-controller")]
    lease_name: String,
    /// Namespace of the leader Lease; the controller's own namespace in a cluster.
    #[arg(long, env = "POD_NAMESPACE", default_value = "drmysql-system")]
    lease_namespace: String,
    /// This replica's identity in the Lease; the Pod name in a cluster, otherwise
    /// the host name and process id.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds a Lease stays valid without renewal.
    #[arg(long, env = "DRMYSQL_LEASE_SECONDS", default_value_t = 15)]
    lease_seconds: u64,
    /// Seconds before expiry at which the holder renews the Lease.
    #[arg(long, env = "DRMYSQL_LEASE_RENEW_GRACE_SECONDS", default_value_t = 5)]
    lease_renew_grace_seconds: u64,
}

impl ControllerArgs {
    fn leader_election(&self) -> Option<LeaderElectionConfig> {
        self.leader_election.then(|| LeaderElectionConfig {
            lease_name: self.lease_name.clone(),
            namespace: self.lease_namespace.clone(),
            identity: self
                .identity
                .clone()
                .unwrap_or_else(crate::clients::default_identity),
            lease_duration: Duration::from_secs(self.lease_seconds),
            renew_grace: Duration::from_secs(self.lease_renew_grace_seconds),
        })
    }
}

/// Runs the controller until SIGTERM or Ctrl-C.
pub async fn run(args: &ControllerArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.sidecar_image.is_empty(),
        "--sidecar-image (DRMYSQL_SIDECAR_IMAGE) must not be empty"
    );
    let client = crate::clients::local().await?;
    let config = ControllerConfig {
        sidecar_image: args.sidecar_image.clone(),
        observe: ObserveConfig {
            mysql_timeout: Duration::from_millis(args.mysql_timeout_ms),
            tunnel_timeout: Duration::from_millis(args.tunnel_timeout_ms),
        },
        resync: Duration::from_secs(args.resync_seconds.max(1)),
        concurrency: args.concurrency,
    };
    let leader_election = args.leader_election();
    tracing::info!(?config, ?leader_election, metrics = %args.metrics_address, "starting controller");
    let metrics = Arc::new(ControllerMetrics::default());
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    crate::metrics_server::spawn(args.metrics_address, registry).await?;
    drmysql_controller::runner::run(client, config, leader_election, metrics, crate::shutdown_signal())
        .await?;
    tracing::info!("controller stopped");
    Ok(())
}
