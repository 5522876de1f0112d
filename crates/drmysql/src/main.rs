//! `drmysql`: the one server binary of drmysql.
//!
//! Every in-cluster component runs from the same image and binary, chosen by
//! subcommand, so that the controller, the sidecar and the clusterlink agent
//! can never disagree on the API types they were built with.

mod crd;
mod logging;

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
    /// Print every CustomResourceDefinition drmysql ships, as YAML.
    Crd(crd::CrdArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init(cli.log_format, &cli.log)?;
    match cli.command {
        Command::Crd(args) => crd::run(&args),
    }
}
