//! The sidecar's loop: each heartbeat interval it reads its role, writes the
//! heartbeat when it is the primary, observes the local server, and as a
//! replica measures its lag against its source's clock over the cluster link.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use drmysql_mysql::{HeartbeatConfig, Server, Target, measure_lag};

use super::SidecarConfig;
use super::metrics::{InstanceLabels, SidecarMetrics};
use super::podinfo::{self, Role};
use super::readiness::{Snapshot, readiness};

/// What the loop last saw, shared with the HTTP server.
#[derive(Debug, Default)]
pub struct SharedState {
    /// The latest snapshot.
    pub snapshot: Snapshot,
    /// When the loop last completed a tick.
    pub last_tick: Option<Instant>,
}

/// The monitoring loop and its connections.
pub struct Monitor {
    config: SidecarConfig,
    state: Arc<RwLock<SharedState>>,
    metrics: Arc<SidecarMetrics>,
    local: Option<Server>,
    source: Option<(String, Server)>,
}

impl Monitor {
    /// A monitor publishing into `state` and `metrics`.
    pub fn new(config: SidecarConfig, state: Arc<RwLock<SharedState>>, metrics: Arc<SidecarMetrics>) -> Self {
        Self {
            config,
            state,
            metrics,
            local: None,
            source: None,
        }
    }

    /// Ticks every heartbeat interval, forever.
    pub async fn run(mut self) {
        let mut ticker = tokio::time::interval(self.config.heartbeat_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.tick().await;
        }
    }

    /// One observation, published to the shared state and the metrics.
    pub async fn tick(&mut self) {
        let role = podinfo::read_role(&self.config.podinfo_dir);
        let snapshot = self.observe(role).await;
        let ready = readiness(&snapshot, self.config.ready_max_lag).is_ok();
        let labels = InstanceLabels {
            namespace: self.config.namespace.clone(),
            name: self.config.cluster.clone(),
            instance: self.config.instance.clone(),
        };
        self.metrics.record(&labels, &snapshot, ready);
        if let Ok(mut state) = self.state.write() {
            state.snapshot = snapshot;
            state.last_tick = Some(Instant::now());
        }
    }

    fn account(&self, host: &str, port: u16) -> Target {
        Target::new(
            host,
            port,
            self.config.heartbeat_user.clone(),
            self.config.heartbeat_password.clone(),
        )
    }

    /// The local connection, opened if needed.
    async fn local(&mut self) -> Result<&mut Server, drmysql_mysql::Error> {
        let server = match self.local.take() {
            Some(server) => server,
            None => {
                let target = self.account(&self.config.mysql_host, self.config.mysql_port);
                Server::connect(&target, self.config.timeout).await?
            }
        };
        Ok(self.local.insert(server))
    }

    async fn write_heartbeat(&mut self) {
        let written = match self.local().await {
            Ok(server) => server.write_heartbeat().await,
            Err(error) => Err(error),
        };
        match written {
            Ok(()) => {
                self.metrics.heartbeats.inc();
            }
            Err(error) => {
                self.metrics.heartbeat_errors.inc();
                tracing::debug!(%error, "heartbeat write failed");
                self.local = None;
            }
        }
    }

    /// Observes the local server; a connection that was ended (a fence kills
    /// client connections) is replaced once before the server counts as down.
    async fn local_status(&mut self) -> Result<drmysql_mysql::InstanceStatus, drmysql_mysql::Error> {
        if let Ok(status) = self.local().await?.observe().await {
            return Ok(status);
        }
        self.local = None;
        let result = self.local().await?.observe().await;
        if result.is_err() {
            self.local = None;
        }
        result
    }

    async fn observe(&mut self, role: Option<Role>) -> Snapshot {
        let mut snapshot = Snapshot {
            role,
            ..Snapshot::default()
        };
        if role == Some(Role::Primary) {
            self.write_heartbeat().await;
        }
        let status = match self.local_status().await {
            Ok(status) => status,
            Err(error) => {
                snapshot.last_error = Some(error.to_string());
                return snapshot;
            }
        };
        snapshot.server_up = true;
        snapshot.writable = Some(status.writable());
        let Some(replica) = status.replica else {
            return snapshot;
        };
        snapshot.io_running = Some(replica.io_thread == drmysql_mysql::ThreadState::Running);
        snapshot.sql_running = Some(replica.sql_thread == drmysql_mysql::ThreadState::Running);
        snapshot.seconds_behind = replica.seconds_behind;
        let endpoint = format!("{}:{}", replica.source_host, replica.source_port);
        if self.source.as_ref().is_none_or(|(cached, _)| *cached != endpoint) {
            let target = self.account(&replica.source_host, replica.source_port);
            self.source = match Server::connect(&target, self.config.timeout).await {
                Ok(server) => Some((endpoint, server)),
                Err(error) => {
                    snapshot.last_error = Some(format!("cannot reach the source: {error}"));
                    None
                }
            };
        }
        let config = HeartbeatConfig::new(self.config.heartbeat_interval);
        let Some(local) = self.local.as_mut() else {
            return snapshot;
        };
        let primary = self.source.as_mut().map(|(_, server)| server);
        let had_source = primary.is_some();
        match measure_lag(primary, local, config).await {
            Ok(lag) => snapshot.lag = Some(lag),
            Err(error) => {
                snapshot.last_error = Some(error.to_string());
                // Which side failed is unknown: reconnect both next time.
                if had_source {
                    self.source = None;
                }
                match measure_lag(None, local, config).await {
                    Ok(lag) => snapshot.lag = Some(lag),
                    Err(_) => self.local = None,
                }
            }
        }
        snapshot
    }
}

/// How long without a completed tick before `/healthz` fails.
pub fn health_deadline(interval: Duration) -> Duration {
    (interval * 5).max(Duration::from_secs(15))
}
