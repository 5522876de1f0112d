//! The API side of a request: writing the annotation, and watching the
//! DRMySQL until the follower has an outcome or the time is up.
//!
//! The write is a JSON merge patch of `metadata.annotations` that carries the
//! resourceVersion the request was validated against, so a DRMySQL that
//! changed in between (another request, a failover starting) is read and
//! checked again instead of being asked something that no longer makes sense.
//! The wait follows the object through a watch, so every step of a
//! transition is seen as the controller writes it.

use std::time::Duration;

use anyhow::{anyhow, bail};
use drmysql_api::drmysql::DRMySQL;
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};

use crate::client::{self, Target};
use crate::follow::{Follower, Outcome};
use crate::report;
use crate::request::Ask;
use crate::validate;

/// How often a write that lost a race (409 Conflict) is read, checked and tried again.
const ATTEMPTS: usize = 5;

/// The request as written, and the object it was checked against.
pub struct Written {
    /// The DRMySQL as read just before the successful write.
    pub before: DRMySQL,
    /// The request with instance names in full.
    pub ask: Ask,
}

/// Reads the DRMySQL, checks `ask` against it, lets `confirm` warn or veto
/// (once, before the first write), and writes the annotation.
pub async fn annotate(
    target: &Target,
    name: &str,
    ask: Ask,
    confirm: impl FnOnce(&DRMySQL, &Ask) -> anyhow::Result<()>,
) -> anyhow::Result<Written> {
    let api: Api<DRMySQL> = Api::namespaced(target.client.clone(), &target.namespace);
    let mut confirm = Some(confirm);
    for _ in 0..ATTEMPTS {
        let before = client::get(target, name).await?;
        let checked = validate::check(&before, ask.clone())?;
        if let Some(confirm) = confirm.take() {
            confirm(&before, &checked)?;
        }
        let patch = checked.patch(before.resource_version().as_deref());
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                return Ok(Written { before, ask: checked });
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {
                bail!(
                    "DRMySQL \"{name}\" was deleted from namespace \"{}\" before the request was written",
                    target.namespace
                )
            }
            Err(kube::Error::Api(status)) if status.code == 403 => bail!(
                "forbidden to annotate DRMySQL \"{name}\" in namespace \"{}\" ({}): asking the controller to act \
                 needs `patch` on drmysqls.drmysql.io there; {}",
                target.namespace,
                target.origin,
                status.message
            ),
            Err(error) => {
                return Err(client::explain(
                    target,
                    &error,
                    &format!("annotate DRMySQL \"{name}\""),
                ));
            }
        }
    }
    Err(anyhow!(
        "DRMySQL \"{name}\" changed under every one of {ATTEMPTS} attempts to write the request; try again"
    ))
}

/// Watches the DRMySQL, printing the follower's progress lines on stderr,
/// until it reports an outcome; fails with what is still pending once
/// `timeout` has passed.
pub async fn follow(
    target: &Target,
    written: &Written,
    follower: &mut Follower,
    timeout: Duration,
) -> anyhow::Result<Outcome> {
    let name = written.before.name_any();
    let api: Api<DRMySQL> = Api::namespaced(target.client.clone(), &target.namespace);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut updates = watcher::watch_object(api, &name).default_backoff().boxed();
    let mut latest: Option<DRMySQL> = None;
    let mut failing: Option<String> = None;
    loop {
        let update = match tokio::time::timeout_at(deadline, updates.next()).await {
            Ok(Some(update)) => update,
            Ok(None) => bail!("the watch of DRMySQL \"{name}\" ended"),
            Err(_) => {
                let pending = follower.pending(latest.as_ref().unwrap_or(&written.before));
                let watch = failing.map_or_else(String::new, |error| {
                    format!(" (the watch of DRMySQL \"{name}\" was failing: {error})")
                });
                bail!(
                    "timed out after {} waiting for the controller{watch}: {pending}",
                    report::seconds(timeout.as_secs_f64())
                );
            }
        };
        match update {
            Ok(Some(drmysql)) => {
                if failing.take().is_some() {
                    eprintln!("watch resumed");
                }
                let (notes, outcome) = follower.observe(&drmysql);
                for note in notes {
                    eprintln!("{note}");
                }
                if let Some(outcome) = outcome {
                    return Ok(outcome);
                }
                latest = Some(drmysql);
            }
            Ok(None) => bail!(
                "DRMySQL \"{name}\" was deleted from namespace \"{}\" while waiting for the controller",
                target.namespace
            ),
            Err(error) => {
                if failing.is_none() {
                    let cause = client::root_cause(&error);
                    eprintln!("warning: the watch of DRMySQL \"{name}\" failed ({cause}); retrying");
                    failing = Some(cause);
                }
            }
        }
    }
}
