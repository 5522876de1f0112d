//! Holding the gateway election's Lease in the member cluster.
//!
//! kube-lease-manager keeps one holder per Lease by server-side apply
//! conflicts between per-identity field managers, so its default (a field
//! manager derived from a random identity of its own) is kept: a shared field
//! manager would let every replica "own" the holder field and the lock would
//! hold nothing. Its failures (the Lease API unreachable, RBAC) are logged and
//! the election is joined again; while it is down this process is not leader.

use std::time::Duration;

use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

use super::error::DiscoveryError;

/// Where and how long the Lease is held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeaseSettings {
    /// Lease name.
    pub name: String,
    /// Lease namespace in the member cluster.
    pub namespace: String,
    /// This process's identity (its Pod name).
    pub identity: String,
    /// Lock validity after the last renewal, in whole seconds.
    pub duration_secs: u64,
    /// How long before expiry the holder renews, in whole seconds.
    pub grace_secs: u64,
    /// Wait before joining again after a failure.
    pub retry: Duration,
}

/// How long a release of the Lease may take at shutdown.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Takes part in the election until `stop` completes, publishing on `leader`
/// whether this process holds the Lease; releases it on the way out.
pub(crate) async fn hold_lease(
    member: kube::Client,
    settings: LeaseSettings,
    leader: watch::Sender<bool>,
    stop: impl Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    loop {
        let built = LeaseManagerBuilder::new(member.clone(), &settings.name)
            .with_namespace(&settings.namespace)
            .with_identity(&settings.identity)
            .with_duration(settings.duration_secs)
            .with_grace(settings.grace_secs)
            .build()
            .await
            .map_err(|error| DiscoveryError::Lease(Box::new(error)));
        match built {
            Err(error) => {
                leader.send_replace(false);
                tracing::warn!(%error, "cannot join the gateway election; retrying");
            }
            Ok(manager) => {
                let (mut holding, task) = manager.watch().await;
                loop {
                    tokio::select! {
                        () = &mut stop => {
                            leader.send_replace(false);
                            drop(holding);
                            match tokio::time::timeout(RELEASE_TIMEOUT, task).await {
                                Ok(Ok(Ok(_))) => tracing::info!("left the gateway election"),
                                Ok(Ok(Err(error))) => tracing::warn!(%error, "cannot release the gateway Lease"),
                                Ok(Err(error)) => tracing::warn!(%error, "the gateway Lease task failed"),
                                Err(_) => tracing::warn!("releasing the gateway Lease timed out"),
                            }
                            return;
                        }
                        changed = holding.changed() => {
                            if changed.is_err() {
                                break;
                            }
                            let holds = *holding.borrow_and_update();
                            tracing::info!(identity = %settings.identity, leader = holds, "gateway election changed");
                            leader.send_replace(holds);
                        }
                    }
                }
                leader.send_replace(false);
                match task.await {
                    Ok(Ok(_)) => tracing::warn!("the gateway Lease manager stopped; joining again"),
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "the gateway Lease manager failed; joining again")
                    }
                    Err(error) => tracing::warn!(%error, "the gateway Lease task failed; joining again"),
                }
            }
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(settings.retry) => {}
        }
    }
}

#[cfg(test)]
mod tests;
