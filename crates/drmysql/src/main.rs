//! `drmysql`: the one server binary of drmysql.
//!
//! Every in-cluster component runs from the same image and binary, chosen by
//! subcommand, so that the controller, the sidecar and the clusterlink agent
//! can never disagree on the API types they were built with.

mod agent;
mod clients;
mod controller;
mod crd;
mod discovery;
mod logging;
mod metrics_server;
mod network_manager;
mod sidecar;

use clap::{Parser, Subcommand};

/// drmysql: cross-cluster MySQL disaster recovery for Kubernetes.
#[derive(Parser, Debug)]
#[command(name = "drmysql", version, about)]
struct Cli {
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text, env = "DRMYSQL_LOG_FORMAT")]
    log_format: logging::LogFormat,

    /// Log filter in `RUST_LOG` syntax, e.g. `info,drmysql=debug`.
    #[arg(long, global = true, default_value = "info", env = "DRMYSQL_LOG")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Keep this node's kernel matching its clusterlink NodeConfig (DaemonSet, hostNetwork).
    Agent(Box<agent::AgentArgs>),
    /// Reconcile DRMySQL objects (against KUBECONFIG or in-cluster).
    Controller(controller::ControllerArgs),
    /// Mirror this member cluster's nodes and CIDRs into the host cluster and elect its gateway.
    Discovery(discovery::DiscoveryArgs),
    /// Print every CustomResourceDefinition drmysql ships, as YAML.
    Crd(crd::CrdArgs),
    /// Turn Clusters and ClusterNodes into one NodeConfig per node (host cluster).
    NetworkManager(network_manager::NetworkManagerArgs),
    /// Run beside mysqld in an instance Pod: heartbeat, readiness, probes, metrics.
    Sidecar(Box<sidecar::SidecarArgs>),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init(cli.log_format, &cli.log)?;
    match cli.command {
        Command::Agent(args) => runtime()?.block_on(agent::run(&args)),
        Command::Controller(args) => runtime()?.block_on(controller::run(&args)),
        Command::Crd(args) => crd::run(&args),
        Command::Discovery(args) => runtime()?.block_on(discovery::run(&args)),
        Command::NetworkManager(args) => runtime()?.block_on(network_manager::run(&args)),
        Command::Sidecar(args) => runtime()?.block_on(sidecar::run(&args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Completes on SIGTERM (how Kubernetes stops a container) or Ctrl-C.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops this process");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use drmysql_controller::build::{BuildContext, build};

    /// Every variable the controller's Pod template gives the sidecar container
    /// is one `drmysql sidecar` reads, and every one it requires is given.
    #[test]
    fn the_pod_template_and_the_sidecar_agree_on_the_environment() {
        let drmysql: drmysql_api::drmysql::DRMySQL = serde_json::from_value(serde_json::json!({
            "apiVersion": "drmysql.io/v1alpha1", "kind": "DRMySQL",
            "metadata": {"name": "orders", "namespace": "shop"},
            "spec": {"engine": {"image": "mariadb:11.4"}, "primary": {"node": "a"}, "replicas": [{"node": "b"}]}
        }))
        .expect("DRMySQL");
        let context = BuildContext {
            sidecar_image: "drmysql".into(),
            current_primary: "orders-0".into(),
            roles: Default::default(),
        };
        let pod = &build(&drmysql, &context).pods[0];
        let sidecar = &pod.spec.as_ref().expect("spec").containers[1];
        let given: Vec<String> = sidecar
            .env
            .as_ref()
            .expect("env")
            .iter()
            .map(|var| var.name.clone())
            .collect();

        let command = Cli::command();
        let subcommand = command.find_subcommand("sidecar").expect("sidecar subcommand");
        let read: Vec<(String, bool)> = subcommand
            .get_arguments()
            .filter_map(|arg| {
                let env = arg.get_env()?.to_string_lossy().into_owned();
                Some((env, arg.is_required_set() && arg.get_default_values().is_empty()))
            })
            .collect();
        for name in &given {
            assert!(
                read.iter().any(|(env, _)| env == name),
                "the Pod sets {name}, which the sidecar ignores"
            );
        }
        for (env, required) in &read {
            if *required {
                assert!(
                    given.contains(env),
                    "the sidecar requires {env}, which the Pod does not set"
                );
            }
        }
    }
}
