//! `lag NAME [--watch [--interval SECONDS]]`: the lag table once, or again on
//! every change until Ctrl-C.
//!
//! By default `--watch` follows the one object through a kube watcher
//! (a watch on `fieldSelector=metadata.name=NAME`, resumed and relisted by
//! kube-runtime, with its back-off after errors), so an update appears as soon
//! as the controller writes the status. `--interval` reads it by polling
//! instead, for users who may `get` but not `watch`. Either way the table is
//! printed only when its text changes: the controller rewrites the status for
//! tunnel checks too, and reprinting identical lags would bury the changes.

use std::time::Duration;

use drmysql_api::drmysql::DRMySQL;
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};

use crate::args::LagArgs;
use crate::client::{self, Target};
use crate::{emit, render};

/// Prints the lag table, and with `--watch` every changed one after it.
pub async fn run(target: &Target, args: &LagArgs) -> anyhow::Result<()> {
    let first = client::get(target, &args.name).await?;
    let mut last = render::lag(&first);
    emit(&last)?;
    if !args.watch {
        return Ok(());
    }
    let follow = async {
        match args.interval {
            Some(seconds) => poll(target, &args.name, Duration::from_secs_f64(seconds), &mut last).await,
            None => watch(target, &args.name, &mut last).await,
        }
    };
    tokio::select! {
        result = follow => result,
        () = stopped() => Ok(()),
    }
}

/// Follows the object through a watch.
async fn watch(target: &Target, name: &str, last: &mut String) -> anyhow::Result<()> {
    let api: Api<DRMySQL> = Api::namespaced(target.client.clone(), &target.namespace);
    let mut updates = watcher::watch_object(api, name).default_backoff().boxed();
    let mut failing = false;
    while let Some(update) = updates.next().await {
        match update {
            Ok(Some(drmysql)) => {
                if failing {
                    eprintln!("watch resumed");
                    failing = false;
                }
                show(&drmysql, last)?;
            }
            Ok(None) => return Err(deleted(target, name)),
            Err(error) => {
                if !failing {
                    eprintln!(
                        "warning: the watch of DRMySQL \"{name}\" failed ({}); retrying",
                        client::root_cause(&error)
                    );
                    failing = true;
                }
            }
        }
    }
    Ok(())
}

/// Reads the object every `interval`.
async fn poll(target: &Target, name: &str, interval: Duration, last: &mut String) -> anyhow::Result<()> {
    let api: Api<DRMySQL> = Api::namespaced(target.client.clone(), &target.namespace);
    let mut failing = false;
    loop {
        tokio::time::sleep(interval).await;
        match api.get_opt(name).await {
            Ok(Some(drmysql)) => {
                if failing {
                    eprintln!("reads resumed");
                    failing = false;
                }
                show(&drmysql, last)?;
            }
            Ok(None) => return Err(deleted(target, name)),
            Err(error) => {
                if !failing {
                    let advice = client::explain(target, &error, &format!("get DRMySQL \"{name}\""));
                    eprintln!("warning: {advice:#}; retrying every {}s", interval.as_secs_f64());
                    failing = true;
                }
            }
        }
    }
}

/// Prints the table when it differs from the last one, separated by a blank line.
fn show(drmysql: &DRMySQL, last: &mut String) -> anyhow::Result<()> {
    let text = render::lag(drmysql);
    if text != *last {
        emit(&format!("\n{text}"))?;
        *last = text;
    }
    Ok(())
}

fn deleted(target: &Target, name: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "DRMySQL \"{name}\" was deleted from namespace \"{}\"",
        target.namespace
    )
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
async fn stopped() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
