//! Leader election through a `coordination.k8s.io/v1` Lease, so that two
//! controller replicas never reconcile at the same time.
//!
//! Two replicas acting on one DRMySQL at once could both move the role label or,
//! once failover lands, both promote; so only the Lease holder reconciles. The
//! Lease is held with `kube-lease-manager` (kube has no leader election of its
//! own). A replica that loses the Lease stops reconciling at once and the process
//! exits with an error, so that Kubernetes restarts it as a clean follower rather
//! than one carrying a leader's in-memory state.

use std::time::Duration;

use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where the Lease lives and who this replica is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// Name of the Lease.
    pub lease_name: String,
    /// Namespace of the Lease (the controller's own).
    pub namespace: String,
    /// This replica's identity (its Pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How long before expiry the holder renews it.
    pub renew_grace: Duration,
}

/// Why leader election failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The Lease could not be read or created.
    #[error("cannot use Lease {namespace}/{name}: {source}")]
    Lease {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// The error.
        #[source]
        source: LeaseManagerError,
    },
    /// The durations cannot work: renewal must start before expiry.
    #[error(
        "the lease duration ({lease_duration:?}) must be at least one second longer than the renew grace ({renew_grace:?})"
    )]
    Durations {
        /// The lease duration.
        lease_duration: Duration,
        /// The renew grace.
        renew_grace: Duration,
    },
}

/// This replica's claim on the Lease.
pub struct Leadership {
    is_leader: watch::Receiver<bool>,
    keeper: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

impl Leadership {
    /// Starts contending for the Lease; [`Leadership::acquired`] tells when it is held.
    pub async fn contend(client: kube::Client, config: &LeaderElectionConfig) -> Result<Self, LeaderError> {
        if config.lease_duration.as_secs() <= config.renew_grace.as_secs() {
            return Err(LeaderError::Durations {
                lease_duration: config.lease_duration,
                renew_grace: config.renew_grace,
            });
        }
        let manager = LeaseManagerBuilder::new(client, &config.lease_name)
            .with_namespace(&config.namespace)
            .with_identity(&config.identity)
            .with_duration(config.lease_duration.as_secs())
            .with_grace(config.renew_grace.as_secs())
            // The lock is a server-side-apply conflict on `holderIdentity`, which
            // exists only between different field managers: each replica keeps the
            // crate's per-identity manager, never the shared `drmysql`.
            .build()
            .await
            .map_err(|source| LeaderError::Lease {
                namespace: config.namespace.clone(),
                name: config.lease_name.clone(),
                source,
            })?;
        let (is_leader, keeper) = manager.watch().await;
        Ok(Self { is_leader, keeper })
    }

    /// Completes once this replica holds the Lease; `false` when the keeper ended
    /// before that (it logs why).
    pub async fn acquired(&mut self) -> bool {
        self.is_leader.wait_for(|leader| *leader).await.is_ok()
    }

    /// A future that completes when this replica no longer holds the Lease (or can
    /// no longer tell), to stop reconciling on.
    pub fn lost(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        until_not_leader(self.is_leader.clone())
    }

    /// Gives the Lease up, so that another replica takes over without waiting for
    /// it to expire.
    pub async fn release(self) {
        drop(self.is_leader);
        match self.keeper.await {
            Ok(Ok(_)) => tracing::info!("released the leader Lease"),
            Ok(Err(error)) => tracing::warn!(%error, "could not release the leader Lease; it will expire"),
            Err(error) => tracing::warn!(%error, "the Lease keeper task failed; the Lease will expire"),
        }
    }
}

/// Completes when `is_leader` reads `false` or its sender is gone.
async fn until_not_leader(mut is_leader: watch::Receiver<bool>) {
    // An error means the keeper stopped: leadership can no longer be vouched for.
    let _ = is_leader.wait_for(|leader| !*leader).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn losing_the_lease_completes_the_lost_future() {
        let (sender, receiver) = watch::channel(true);
        let lost = tokio::spawn(until_not_leader(receiver));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!lost.is_finished(), "still the leader");
        sender.send(false).expect("receiver alive");
        tokio::time::timeout(Duration::from_secs(1), lost)
            .await
            .expect("lost completes")
            .expect("task ran");
    }

    #[tokio::test]
    async fn a_stopped_keeper_counts_as_lost() {
        let (sender, receiver) = watch::channel(true);
        let lost = tokio::spawn(until_not_leader(receiver));
        drop(sender);
        tokio::time::timeout(Duration::from_secs(1), lost)
            .await
            .expect("lost completes")
            .expect("task ran");
    }

    #[tokio::test]
    async fn durations_that_leave_no_time_to_renew_are_refused() {
        let config = LeaderElectionConfig {
            lease_name: "drmysql-controller".to_owned(),
            namespace: "drmysql-system".to_owned(),
            identity: "a".to_owned(),
            lease_duration: Duration::from_secs(5),
            renew_grace: Duration::from_secs(5),
        };
        let (service, _handle) =
            tower_test::mock::pair::<http::Request<kube::client::Body>, http::Response<kube::client::Body>>();
        let client = kube::Client::new(service, "default");
        let error = Leadership::contend(client, &config).await.err().expect("refused");
        assert!(matches!(error, LeaderError::Durations { .. }), "{error}");
        assert!(error.to_string().contains("renew grace"));
    }
}
