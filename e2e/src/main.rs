//! `drmysql-e2e`: the sandbox's command line. `demo` is the README's main
//! job: it shows drmysql joining two simulated clusters and replicating a
//! MariaDB pair across them, on one machine, as root.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
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
    let Command::Demo { watch_seconds, rows } = cli.command;
    let options = DemoOptions {
        watch: Duration::from_secs(watch_seconds),
        rows,
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("drmysql-e2e demo: {error}");
            ExitCode::FAILURE
        }
    }
}
