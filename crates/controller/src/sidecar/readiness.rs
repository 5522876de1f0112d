//! What the sidecar knows about its instance, and whether the instance should
//! receive traffic.
//!
//! The primary is ready when it is writable: a freshly started instance boots
//! read-only and stays out of the writer Service until the controller has made
//! it the primary. A replica is ready while both replication threads run and
//! its heartbeat lag is within the limit, so a lagging or disconnected replica
//! leaves the reader Service by itself (seed 002's health-checked reader pool,
//! done natively).

use std::time::Duration;

use drmysql_mysql::Lag;

use super::podinfo::Role;

/// The latest observation of the local instance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Role from the Pod labels.
    pub role: Option<Role>,
    /// Whether the local server answered.
    pub server_up: bool,
    /// Whether it accepts writes.
    pub writable: Option<bool>,
    /// Replication IO thread running.
    pub io_running: Option<bool>,
    /// Replication SQL thread running.
    pub sql_running: Option<bool>,
    /// Heartbeat lag (replicas).
    pub lag: Option<Lag>,
    /// `Seconds_Behind_Master`, reported beside the heartbeat lag.
    pub seconds_behind: Option<u64>,
    /// The last error of the monitoring loop.
    pub last_error: Option<String>,
}

/// `Ok` when the instance should receive traffic, otherwise why not.
pub fn readiness(snapshot: &Snapshot, max_lag: Duration) -> Result<(), String> {
    if !snapshot.server_up {
        return Err(format!(
            "the local server does not answer: {}",
            snapshot.last_error.as_deref().unwrap_or("not checked yet")
        ));
    }
    match snapshot.role {
        None => Err("the Pod has no drmysql.io/role label yet".to_owned()),
        Some(Role::Primary) => match snapshot.writable {
            Some(true) => Ok(()),
            _ => Err("primary is read-only (not promoted, or fenced)".to_owned()),
        },
        Some(Role::Fenced) => {
            Err("fenced: a former primary, out of service until it rejoins as a replica".to_owned())
        }
        Some(Role::Quarantined) => Err(
            "quarantined: it has transactions the primary lacks; rebuild it with `kubectl drmysql rebuild`"
                .to_owned(),
        ),
        Some(Role::Replica) => {
            if snapshot.io_running != Some(true) || snapshot.sql_running != Some(true) {
                return Err(format!(
                    "replication is not running (IO thread {}, SQL thread {})",
                    running(snapshot.io_running),
                    running(snapshot.sql_running)
                ));
            }
            match snapshot.lag {
                Some(Lag::Measured { lag, .. }) if lag <= max_lag => Ok(()),
                Some(Lag::Measured { lag, .. }) => Err(format!(
                    "lag {:.3}s exceeds {:.3}s",
                    lag.as_secs_f64(),
                    max_lag.as_secs_f64()
                )),
                Some(Lag::Stale { since, .. }) => {
                    Err(format!("the primary's heartbeat is stale since {since}"))
                }
                Some(Lag::NoHeartbeat) | None => Err("no heartbeat measured yet".to_owned()),
            }
        }
    }
}

fn running(state: Option<bool>) -> &'static str {
    match state {
        Some(true) => "running",
        Some(false) => "stopped",
        None => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(lag: Option<Lag>) -> Snapshot {
        Snapshot {
            role: Some(Role::Replica),
            server_up: true,
            writable: Some(false),
            io_running: Some(true),
            sql_running: Some(true),
            lag,
            ..Snapshot::default()
        }
    }

    #[test]
    fn readiness_by_role() {
        let max = Duration::from_secs(5);
        let measured = |seconds: u64| {
            Some(Lag::Measured {
                lag: Duration::from_secs(seconds),
                uncertainty: Duration::ZERO,
            })
        };
        assert_eq!(readiness(&replica(measured(1)), max), Ok(()));
        assert!(
            readiness(&replica(measured(6)), max)
                .expect_err("lagging")
                .contains("exceeds")
        );
        assert!(readiness(&replica(None), max).is_err());
        let stopped = Snapshot {
            io_running: Some(false),
            ..replica(measured(0))
        };
        assert!(
            readiness(&stopped, max)
                .expect_err("stopped")
                .contains("IO thread stopped")
        );
        let primary = Snapshot {
            role: Some(Role::Primary),
            writable: Some(true),
            ..replica(None)
        };
        assert_eq!(readiness(&primary, max), Ok(()));
        let fenced = Snapshot {
            writable: Some(false),
            ..primary.clone()
        };
        assert!(
            readiness(&fenced, max)
                .expect_err("read-only")
                .contains("read-only")
        );
        let down = Snapshot {
            server_up: false,
            last_error: Some("refused".into()),
            ..primary
        };
        assert!(readiness(&down, max).expect_err("down").contains("refused"));
        let unlabelled = Snapshot {
            role: None,
            ..replica(measured(0))
        };
        assert!(readiness(&unlabelled, max).is_err());
        for (role, word) in [(Role::Fenced, "fenced"), (Role::Quarantined, "rebuild")] {
            let healthy_replica = Snapshot {
                role: Some(role),
                ..replica(measured(0))
            };
            let why = readiness(&healthy_replica, max).expect_err("never ready");
            assert!(why.contains(word), "{why}");
        }
    }
}
