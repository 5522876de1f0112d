//! The heartbeat writer that runs beside the primary, and the two reads a lag
//! measurement takes (see [`crate::lag`] for the arithmetic).

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use mysql_async::Row;
use tokio::task::JoinHandle;

use crate::dialect::Dialect;
use crate::error::Error;
use crate::lag::{self, HeartbeatConfig, Lag, PrimarySample, ReplicaSample};
use crate::server::{Server, Target};

impl Server {
    /// Upserts the heartbeat row with this server's clock.
    pub async fn write_heartbeat(&mut self) -> Result<(), Error> {
        let statement = self.dialect().write_heartbeat();
        self.run(&statement).await
    }

    /// The primary's half of a lag measurement: its clock and newest heartbeat.
    pub async fn primary_heartbeat_sample(&mut self) -> Result<PrimarySample, Error> {
        let (rows, round_trip, taken_at) = self.timed_rows(&Dialect::heartbeat_sample()).await?;
        let (now, heartbeat) = self.parse_sample(rows)?;
        Ok(PrimarySample {
            now,
            heartbeat,
            round_trip,
            taken_at,
        })
    }

    /// The replica's half of a lag measurement: its newest applied heartbeat.
    pub async fn replica_heartbeat_sample(&mut self) -> Result<ReplicaSample, Error> {
        let (rows, round_trip, taken_at) = self.timed_rows(&Dialect::heartbeat_sample()).await?;
        let (_, heartbeat) = self.parse_sample(rows)?;
        Ok(ReplicaSample {
            heartbeat,
            round_trip,
            taken_at,
        })
    }

    fn parse_sample(&self, rows: Vec<Row>) -> Result<(DateTime<Utc>, Option<DateTime<Utc>>), Error> {
        let unexpected = |detail: &str| Error::UnexpectedResult {
            endpoint: self.endpoint().to_owned(),
            operation: "read heartbeat".to_owned(),
            detail: detail.to_owned(),
        };
        let mut row = rows.into_iter().next().ok_or_else(|| unexpected("no row"))?;
        let now: NaiveDateTime = row
            .take_opt::<Option<NaiveDateTime>, _>("now")
            .and_then(Result::ok)
            .flatten()
            .ok_or_else(|| unexpected("UTC_TIMESTAMP(6) is not a datetime"))?;
        let heartbeat: Option<NaiveDateTime> = row
            .take_opt::<Option<NaiveDateTime>, _>("ts")
            .and_then(Result::ok)
            .flatten();
        Ok((now.and_utc(), heartbeat.map(|ts| ts.and_utc())))
    }
}

/// Measures a replica's lag. `primary` is `None` when the primary cannot be
/// reached, which makes the result [`Lag::Stale`]. The primary is read first.
pub async fn measure_lag(
    primary: Option<&mut Server>,
    replica: &mut Server,
    config: HeartbeatConfig,
) -> Result<Lag, Error> {
    let primary_sample = match primary {
        Some(primary) => Some(primary.primary_heartbeat_sample().await?),
        None => None,
    };
    let replica_sample = replica.replica_heartbeat_sample().await?;
    Ok(lag::compute(primary_sample.as_ref(), &replica_sample, config))
}

/// A background task that writes a heartbeat on a server every interval,
/// reconnecting after errors, until it is dropped or stopped.
#[derive(Debug)]
pub struct HeartbeatWriter {
    task: JoinHandle<()>,
}

impl HeartbeatWriter {
    /// Starts writing heartbeats on `target` every `interval`, each connect and
    /// write bounded by `timeout`. Failures are logged and retried at the next
    /// tick; a read-only (fenced) server simply gets no heartbeats.
    pub fn spawn(target: Target, interval: Duration, timeout: Duration) -> Self {
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut connection: Option<Server> = None;
            loop {
                ticker.tick().await;
                if connection.is_none() {
                    match Server::connect(&target, timeout).await {
                        Ok(server) => connection = Some(server),
                        Err(error) => {
                            tracing::debug!(%error, "heartbeat writer cannot connect");
                            continue;
                        }
                    }
                }
                if let Some(server) = connection.as_mut()
                    && let Err(error) = server.write_heartbeat().await
                {
                    tracing::debug!(%error, "heartbeat write failed");
                    connection = None;
                }
            }
        });
        Self { task }
    }

    /// Stops writing.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for HeartbeatWriter {
    fn drop(&mut self) {
        self.task.abort();
    }
}
