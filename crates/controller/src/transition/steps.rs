//! The server side of each transition step, on fresh connections.
//!
//! Every function here is idempotent and reads back what it did, through the
//! engine's own steps (`drmysql_mysql::Server::fence`, `promote`,
//! `replicate_from`): repeating one after a controller restart is harmless.
//! Errors are text naming the instance, for the Event and the history.

use std::collections::BTreeMap;
use std::time::Duration;

use drmysql_mysql::{Account, Durability, FenceReport, Promotion, Server, SourceConfig, Target};

use crate::wiring::Endpoint;

/// How to reach the instances.
#[derive(Clone, Copy, Debug)]
pub struct Servers<'a> {
    /// Address of every instance whose Pod has an IP.
    pub endpoints: &'a BTreeMap<String, Endpoint>,
    /// `root`'s password.
    pub root_password: &'a str,
    /// The replication account replicas connect with.
    pub replication: &'a Account,
    /// Bound on each connect and statement.
    pub timeout: Duration,
}

impl Servers<'_> {
    /// A connection to `instance`.
    pub async fn connect(&self, instance: &str) -> Result<Server, String> {
        let endpoint = self
            .endpoints
            .get(instance)
            .ok_or_else(|| format!("{instance} has no Pod IP"))?;
        let target = Target::new(endpoint.host.clone(), endpoint.port, "root", self.root_password);
        Server::connect(&target, self.timeout)
            .await
            .map_err(|error| format!("cannot connect to {instance}: {error}"))
    }

    /// Fences `instance`: read-only read back, client connections ended. `Err`
    /// when it cannot be reached at all.
    pub async fn fence(&self, instance: &str) -> Result<FenceReport, String> {
        let mut server = self.connect(instance).await?;
        let report = server.fence().await;
        server.close().await;
        Ok(report)
    }

    /// Stops the IO (receiver) thread of `instance`, so that it acknowledges
    /// nothing more to the old primary.
    pub async fn stop_io_thread(&self, instance: &str) -> Result<(), String> {
        let mut server = self.connect(instance).await?;
        let statement = server.dialect().stop_io_thread();
        let result = server
            .run(&statement)
            .await
            .map_err(|error| format!("{instance}: {error}"));
        server.close().await;
        result
    }

    /// Waits, at most `wait`, until `instance` has applied everything it
    /// received (its IO thread is stopped, so that set no longer grows).
    pub async fn wait_relay_applied(&self, instance: &str, wait: Duration) -> Result<(), String> {
        let mut server = self.connect(instance).await?;
        let received = server
            .replica_status()
            .await
            .map_err(|error| format!("{instance}: {error}"))?
            .map(|status| status.retrieved_gtids)
            .unwrap_or_default();
        let result = server
            .wait_for_position(&received, wait)
            .await
            .map_err(|error| format!("{instance} did not apply its relay log: {error}"));
        server.close().await;
        result
    }

    /// Waits, at most `wait`, until `target` has executed every transaction
    /// `source` executed (read from `source` now, so call it once `source` is
    /// read-only).
    pub async fn wait_caught_up(&self, source: &str, target: &str, wait: Duration) -> Result<(), String> {
        let mut primary = self.connect(source).await?;
        let position = primary
            .observe()
            .await
            .map_err(|error| format!("{source}: {error}"))?
            .gtid_executed;
        primary.close().await;
        let mut candidate = self.connect(target).await?;
        let result = candidate
            .wait_for_position(&position, wait)
            .await
            .map_err(|error| format!("{target} did not catch up with {source}: {error}"));
        candidate.close().await;
        result
    }

    /// Promotes `instance`: sets its source side of semi-sync for
    /// `durability` first (so that in Lossless mode no write is acknowledged
    /// before a replica holds it, and replicas that attach afterwards
    /// acknowledge), stops replication after its relay log is applied (at
    /// most `apply_wait`), forgets its source, and makes it writable, reading
    /// every effect back.
    pub async fn promote(
        &self,
        instance: &str,
        apply_wait: Duration,
        durability: Durability,
    ) -> Result<Promotion, String> {
        let mut server = self.connect(instance).await?;
        let configured = server
            .configure_source_durability(durability)
            .await
            .map_err(|error| format!("setting {instance}'s semi-sync source side failed: {error}"));
        let result = match configured {
            Ok(_) => server
                .promote(apply_wait)
                .await
                .map_err(|error| format!("promoting {instance} failed: {error}")),
            Err(error) => Err(error),
        };
        server.close().await;
        result
    }

    /// Makes `instance` writable again (a switchover's restore).
    pub async fn make_writable(&self, instance: &str) -> Result<(), String> {
        let mut server = self.connect(instance).await?;
        let result = server
            .make_writable()
            .await
            .map_err(|error| format!("{instance}: {error}"));
        server.close().await;
        result
    }

    /// Points `instance` at `source` and starts replication.
    pub async fn replicate_from(&self, instance: &str, source: &str) -> Result<(), String> {
        let endpoint = self
            .endpoints
            .get(source)
            .ok_or_else(|| format!("{source} has no Pod IP"))?;
        let config = SourceConfig::new(
            endpoint.host.clone(),
            endpoint.port,
            self.replication.user.clone(),
            self.replication.password.clone(),
        );
        let mut server = self.connect(instance).await?;
        let result = server
            .replicate_from(&config)
            .await
            .map_err(|error| format!("pointing {instance} at {source} failed: {error}"));
        server.close().await;
        result
    }
}
