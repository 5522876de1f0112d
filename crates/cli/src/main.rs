//! `kubectl drmysql`: the kubectl plugin for DRMySQL objects.
//!
//! kubectl runs any `kubectl-<name>` on `PATH` as `kubectl <name>`, so this
//! binary, `kubectl-drmysql`, adds `kubectl drmysql ...`. It exists because the
//! printer columns of `kubectl get drm` can show one line per DRMySQL, while a
//! person deciding whether a failover is safe needs every instance's role,
//! lag and threads, the tunnel's round trips in both directions, the
//! conditions and the recent failovers at once.
//!
//! Subcommands: `status NAME` and `lag NAME [--watch]` read; `switchover`,
//! `failover`, `check-tunnel` and `rebuild` ask the controller to act. A
//! request is an annotation on the DRMySQL (`drmysql.io/switchover-to` and
//! the others of `drmysql_api::names::request`), which the controller removes
//! once it has answered in `status.lastRequest`; the plugin checks the request
//! first, writes the annotation, then waits for the answer and, for a
//! switchover or failover, for the record in `status.history`.
//!
//! Flags follow kubectl: `-n/--namespace`, `--context`, `--kubeconfig`. Exit
//! status 0 on success, 1 on any error, with a message naming what to fix.

mod act;
mod args;
mod client;
mod commands;
mod follow;
mod lag;
mod matrix;
mod render;
mod report;
mod request;
mod table;
mod validate;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, Output};

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
        Command::Switchover(args) => commands::switchover(&target, &args).await,
        Command::Failover(args) => commands::failover(&target, &args).await,
        Command::CheckTunnel(args) => commands::check_tunnel(&target, &args).await,
        Command::Rebuild(args) => commands::rebuild(&target, &args).await,
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
