//! `drmysql-e2e`: the sandbox's command line. `demo` is the README's main
//! job: it shows drmysql joining two simulated clusters and replicating a
//! MariaDB pair across them, on one machine, as root. `apiserver` runs the
//! Kubernetes API simulator on its own, for kubectl experiments and for
//! running the scenarios against an API server the sandbox did not start
//! (`DRMYSQL_E2E_KUBECONFIG`). `drill` runs DR drills (see
//! [`drmysql_e2e::drill`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use drmysql_api::drmysql::ReplicationMode;
use drmysql_e2e::apiserver::{ApiServer, Config};
use drmysql_e2e::demo::{DemoOptions, run};
use drmysql_e2e::drill::{DrillConfig, Fault, MEMBERS};
use drmysql_e2e::sandbox::{Sandbox, SandboxConfig};

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
    /// Run a DR drill: a sandbox with two member clusters, a three-instance
    /// DRMySQL under write load, and the fault injected into its primary
    /// again and again; prints each trial and the summary, writes the JSON
    /// report, and exits non-zero when a write was lost, a split brain
    /// seen, or a trial had other than one failover.
    Drill {
        /// The fault.
        #[arg(long, value_enum, default_value = "kill")]
        fault: Fault,
        /// The replication mode.
        #[arg(long, value_enum, default_value = "lossless")]
        mode: Mode,
        /// How many trials.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
        trials: u16,
        /// Writer connections.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
        writers: u16,
        /// Milliseconds between two inserts of one writer.
        #[arg(long, default_value_t = 20)]
        write_pause_ms: u64,
        /// `spec.failover.detectionSeconds` of the drill's DRMySQL.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=600))]
        detection_seconds: u32,
        /// Where to write the JSON report.
        #[arg(long)]
        json: Option<PathBuf>,
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
        Command::Drill {
            fault,
            mode,
            trials,
            writers,
            write_pause_ms,
            detection_seconds,
            json,
        } => {
            let config = DrillConfig {
                fault,
                mode: match mode {
                    Mode::Async => ReplicationMode::Async,
                    Mode::Lossless => ReplicationMode::Lossless,
                },
                trials: usize::from(trials),
                writers: usize::from(writers),
                write_pause: Duration::from_millis(write_pause_ms),
                detection_seconds,
            };
            runtime.block_on(drill(config, json))
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

/// The replication mode of a drill.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Mode {
    Async,
    Lossless,
}

async fn drill(config: DrillConfig, json: Option<PathBuf>) -> Result<(), String> {
    let sandbox = Sandbox::start(SandboxConfig {
        members: MEMBERS.iter().map(|member| (*member).to_owned()).collect(),
        ..SandboxConfig::from_env()
    })
    .await
    .map_err(|error| format!("drill: the sandbox: {error}"))?;
    let outcome = drmysql_e2e::drill::run(&sandbox, &config).await;
    let stopped = sandbox.shutdown().await;
    let report = outcome.map_err(|error| format!("drill: {error}"))?;
    stopped.map_err(|error| format!("drill: stopping the sandbox: {error}"))?;
    println!("{}", report.human());
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report).map_err(|error| format!("drill: {error}"))?;
        std::fs::write(&path, text)
            .map_err(|error| format!("drill: cannot write {}: {error}", path.display()))?;
    }
    if report.is_correct() {
        Ok(())
    } else {
        Err(
            "drill: a write was lost, a split brain seen, a trial failed or had other than one failover"
                .to_owned(),
        )
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
