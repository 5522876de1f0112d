//! `drmysql agent`: the clusterlink agent on every node (a hostNetwork,
//! privileged DaemonSet). It watches its own NodeConfig in the host cluster and
//! keeps the node's kernel matching it: VXLAN devices, table-200 routes,
//! FDB and ARP entries, its iptables chains and ipset, and IPsec policies and
//! states whose keys it derives from the PSK.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use drmysql_api::clusterlink::Cluster;
use drmysql_clusterlink::agent::{Agent, PreSharedKey};
use drmysql_clusterlink::node_agent::kernel::NodeKernel;
use drmysql_clusterlink::node_agent::metrics::AgentMetrics;
use drmysql_clusterlink::node_agent::psk;
use drmysql_clusterlink::node_agent::sync::{AgentSync, NodeIdentity};
use drmysql_clusterlink::trigger::LoopTiming;
use kube::runtime::events::{Recorder, Reporter};
use prometheus_client::registry::Registry;

/// Arguments of `drmysql agent`.
#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// Name of this node's Cluster object in the host cluster.
    #[arg(long, env = "CLUSTER_NAME")]
    cluster: String,
    /// This node's name in its cluster.
    #[arg(long, env = "NODE_NAME")]
    node: String,
    /// Kubeconfig of the host cluster; omitted when this is the host cluster.
    #[arg(long, env = "DRMYSQL_HOST_KUBECONFIG")]
    host_kubeconfig: Option<PathBuf>,
    /// IPsec pre-shared key in a host-cluster Secret: `namespace/name` or
    /// `namespace/name:key` (key `psk` by default). Without it (or the file), the
    /// Cluster's `spec.clusterLinkOptions.ipsecPSKSecretRef` is used.
    #[arg(long, env = "DRMYSQL_IPSEC_PSK_SECRET", conflicts_with = "ipsec_psk_file")]
    ipsec_psk_secret: Option<String>,
    /// IPsec pre-shared key in a file (a mounted Secret).
    #[arg(long, env = "DRMYSQL_IPSEC_PSK_FILE")]
    ipsec_psk_file: Option<PathBuf>,
    /// Address of the `/metrics` and `/healthz` server.
    #[arg(long, env = "DRMYSQL_METRICS_ADDRESS", default_value = "0.0.0.0:9105")]
    metrics_address: SocketAddr,
    /// Seconds between two passes without changes (drift repair).
    #[arg(long, env = "DRMYSQL_RESYNC_SECONDS", default_value_t = 30)]
    resync_seconds: u64,
    /// Remove everything the agent owns on this node, then exit.
    #[arg(long)]
    cleanup: bool,
}

/// Runs the agent until SIGTERM or Ctrl-C (or, with `--cleanup`, cleans up).
pub async fn run(args: &AgentArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.cluster.is_empty(),
        "--cluster (CLUSTER_NAME) must not be empty"
    );
    anyhow::ensure!(!args.node.is_empty(), "--node (NODE_NAME) must not be empty");
    let identity = NodeIdentity {
        cluster: args.cluster.clone(),
        node: args.node.clone(),
    };
    if args.cleanup {
        let mut agent = Agent::new(identity.object_name(), None)?;
        let removed = agent.cleanup().await?;
        tracing::info!(removed, "removed everything the agent owned");
        return Ok(());
    }
    let host = crate::clients::host(args.host_kubeconfig.as_deref()).await?;
    let psk = load_psk(&host, args).await?;
    let agent = Agent::new(identity.object_name(), psk)?;
    let kernel = NodeKernel::new(agent).context("cannot open a netlink connection")?;
    let recorder = Recorder::new(
        host.clone(),
        Reporter {
            controller: "drmysql-agent".to_owned(),
            instance: Some(args.node.clone()),
        },
    );
    let sync = AgentSync::new(
        host.clone(),
        identity.clone(),
        kernel,
        recorder,
        Duration::from_secs(300),
    );
    let metrics = Arc::new(AgentMetrics::default());
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    crate::metrics_server::spawn(args.metrics_address, registry).await?;
    let timing = LoopTiming {
        debounce: Duration::from_millis(500),
        max_delay: Duration::from_secs(5),
        resync: Duration::from_secs(args.resync_seconds.max(1)),
        retry: Duration::from_secs(5),
    };
    tracing::info!(nodeconfig = %identity.object_name(), "starting agent");
    drmysql_clusterlink::node_agent::run::run(
        host,
        &identity,
        sync,
        metrics,
        timing,
        crate::shutdown_signal(),
    )
    .await;
    // The datapath stays up across restarts of the agent; only a deleted
    // NodeConfig or `--cleanup` removes it.
    tracing::info!("agent stopped; kernel state left in place");
    Ok(())
}

async fn load_psk(host: &kube::Client, args: &AgentArgs) -> anyhow::Result<Option<PreSharedKey>> {
    let cluster = if args.ipsec_psk_secret.is_none() && args.ipsec_psk_file.is_none() {
        let clusters: kube::Api<Cluster> = kube::Api::all(host.clone());
        clusters
            .get_opt(&args.cluster)
            .await
            .with_context(|| format!("cannot read Cluster {}", args.cluster))?
    } else {
        None
    };
    let source = psk::choose_source(
        args.ipsec_psk_secret.as_deref(),
        args.ipsec_psk_file.as_deref(),
        cluster.as_ref(),
    )?;
    let Some(source) = source else {
        tracing::info!("no IPsec PSK configured; xfrm states in the NodeConfig will be reported as errors");
        return Ok(None);
    };
    Ok(Some(psk::load(host, &source).await?))
}
