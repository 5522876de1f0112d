//! `drmysql-e2e`: the sandbox's command line. `demo` is the README's main
//! job: it shows drmysql joining two simulated clusters and replicating a
//! MariaDB pair across them, on one machine, as root. `apiserver` runs the
//! Kubernetes API simulator on its own, for kubectl experiments and for
//! running the scenarios against an API server the sandbox did not start
//! (`DRMYSQL_E2E_KUBECONFIG`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use drmysql_e2e::apiserver::{ApiServer, Config};
use drmysql_e2e::demo::{DemoOptions, run};

/// drmysql's end-to-end sandbox.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Bring up two simulated clusters, apply the example DRMySQL, show it
    /// replicating across the tunnel, and tear everything down (also on Ctrl-C).
    Demo {
        /// Seconds the live status table keeps running once the DRMySQL is Ready.
        #[arg(long, default_value_t = 20)]
        watch_seconds: u64,
        /// Rows written through the writer endpoint and read on the replica.
        #[arg(long, default_value_t = 3)]
        rows: u32,
        /// Skip the failover drill (kill -9 of the primary's mysqld, timed to
        /// the first write accepted on the new primary).
        #[arg(long)]
        no_failover_drill: bool,
    },
    /// Run the Kubernetes API simulator until SIGTERM or Ctrl-C.
    Apiserver {
        /// Address to listen on (a specific address: it goes into the kubeconfig).
        #[arg(long)]
        listen: SocketAddr,
        /// Where to write a kubeconfig for it.
        #[arg(long)]
        kubeconfig: PathBuf,
        /// A directory of CRDs to create at start (for example `crds`).
        #[arg(long)]
        crds: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("drmysql-e2e: cannot start a runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        Command::Demo {
            watch_seconds,
            rows,
            no_failover_drill,
        } => {
            let options = DemoOptions {
                watch: Duration::from_secs(watch_seconds),
                rows,
                failover_drill: !no_failover_drill,
            };
            runtime
                .block_on(run(options))
                .map_err(|error| format!("demo: {error}"))
        }
        Command::Apiserver {
            listen,
            kubeconfig,
            crds,
        } => runtime.block_on(serve(listen, kubeconfig, crds)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("drmysql-e2e {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(listen: SocketAddr, kubeconfig: PathBuf, crds: Option<PathBuf>) -> Result<(), String> {
    if listen.ip().is_unspecified() {
        return Err(format!(
            "apiserver: --listen {listen} is unspecified; give the address clients will use, it goes into the kubeconfig"
        ));
    }
    let mut config = Config::new(listen);
    if let Some(crds) = crds {
        config = config.with_crd_dir(crds);
    }
    let server = ApiServer::start_with(config)
        .await
        .map_err(|error| format!("apiserver: {error}"))?;
    server
        .write_kubeconfig(&kubeconfig)
        .map_err(|error| format!("apiserver: cannot write {}: {error}", kubeconfig.display()))?;
    println!(
        "the Kubernetes API simulator serves {}; kubeconfig {}",
        server.url(),
        kubeconfig.display()
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|error| format!("apiserver: cannot watch SIGTERM: {error}"))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    server.shutdown();
    Ok(())
}
