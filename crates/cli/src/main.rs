//! `kubectl drmysql`: the kubectl plugin for DRMySQL objects.
//!
//! kubectl runs any `kubectl-<name>` on `PATH` as `kubectl <name>`, so this
//! binary, `kubectl-drmysql`, adds `kubectl drmysql ...`. It exists because the
//! printer columns of `kubectl get drm` can show one line per DRMySQL, while a
//! person deciding whether a failover is safe needs every instance's role,
//! lag and threads, the tunnel's round trips in both directions, the
//! conditions and the recent failovers at once.
//!
//! Subcommands today: `status NAME` and `lag NAME [--watch]`, both read-only.
//! `switchover`, `failover`, `check-tunnel` and `rebuild` arrive together with
//! the controller's failover executor, which they ask to act; until it exists
//! they are not offered at all.
//!
//! Flags follow kubectl: `-n/--namespace`, `--context`, `--kubeconfig`. Exit
//! status 0 on success, 1 on any error, with a message naming what to fix.

mod client;
mod lag;
mod render;
mod table;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Shows DRMySQL objects: instances, replication lag, tunnel checks,
/// conditions and failovers.
#[derive(Parser, Debug)]
#[command(name = "kubectl drmysql", bin_name = "kubectl drmysql", version, about)]
struct Cli {
    /// Namespace of the DRMySQL [default: the context's namespace, else `default`].
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    namespace: Option<String>,

    /// kubeconfig context to use [default: the kubeconfig's current-context].
    #[arg(long, global = true, value_name = "CONTEXT")]
    context: Option<String>,

    /// kubeconfig file [default: the files in KUBECONFIG, else ~/.kube/config].
    #[arg(long, global = true, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Instances (role, node, pod IP, readiness, lag, replication threads), tunnel
    /// checks with round-trip times, conditions, the failover in progress and the
    /// last failovers.
    Status(StatusArgs),
    /// Each replica's lag against spec.lag.alertThresholdSeconds, those above it marked.
    Lag(LagArgs),
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// Name of the DRMySQL.
    name: String,

    /// Output format: a table, or the DRMySQL's status as JSON or YAML.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    /// Aligned text for people.
    Table,
    /// `.status` as JSON, with the API's field names.
    Json,
    /// `.status` as YAML, with the API's field names.
    Yaml,
}

/// Arguments of `lag`.
#[derive(Args, Debug)]
pub struct LagArgs {
    /// Name of the DRMySQL.
    pub name: String,

    /// Keep running and print the table again whenever it changes; Ctrl-C stops.
    #[arg(short = 'w', long)]
    pub watch: bool,

    /// With --watch: read the DRMySQL every SECONDS instead of watching it
    /// (for users allowed `get` but not `watch`).
    #[arg(long, value_name = "SECONDS", requires = "watch", value_parser = positive_seconds)]
    pub interval: Option<f64>,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => Ok(seconds),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version are not errors; everything else exits 1, as kubectl does.
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if let Some(filter) = std::env::var_os("DRMYSQL_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter.to_string_lossy().as_ref())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`| head`) is not an error.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let selection = client::Selection {
        kubeconfig: cli.kubeconfig,
        context: cli.context,
        namespace: cli.namespace,
    };
    let target = client::connect(&selection).await?;
    match cli.command {
        Command::Status(args) => {
            let drmysql = client::get(&target, &args.name).await?;
            let text = match args.output {
                Output::Table => render::status(&drmysql, chrono::Utc::now()),
                Output::Json => render::status_json(&drmysql)?,
                Output::Yaml => render::status_yaml(&drmysql)?,
            };
            emit(&text)
        }
        Command::Lag(args) => lag::run(&target, &args).await,
    }
}

/// Writes `text` to stdout at once (a watch prints while it runs).
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
