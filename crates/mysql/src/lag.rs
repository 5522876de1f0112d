//! Replication lag from heartbeats, independent of the two sites' clocks.
//!
//! The primary upserts one heartbeat row every interval with its own clock
//! (`UTC_TIMESTAMP(6)`). A measurement reads the primary's clock and newest
//! heartbeat, and the replica's newest heartbeat, each with the local monotonic
//! instant of the middle of its round trip. The primary's clock is projected to
//! the instant of the replica read, so only one clock (the primary's) is ever
//! compared with itself. The lag is the age, on that clock, of the oldest
//! transaction the replica has not applied. Heartbeats bracket it: it came after
//! the replica's newest heartbeat and no later than the next one, written one
//! interval later (or the primary's newest, if sooner). The estimate takes the
//! middle of that bracket, so its error is at most half an interval plus half
//! of each round trip, and it reports that bound.
//!
//! When the primary's own heartbeat stops advancing (the writer stopped, or the
//! primary is gone) the lag cannot be known: the result says *stale since T*
//! rather than reporting a lag that grows with the outage.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// The primary's side of a measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrimarySample {
    /// The primary's clock.
    pub now: DateTime<Utc>,
    /// The primary's newest heartbeat, if it has written one.
    pub heartbeat: Option<DateTime<Utc>>,
    /// Round trip of the reading query.
    pub round_trip: Duration,
    /// Local monotonic instant of the middle of the round trip.
    pub taken_at: Instant,
}

/// The replica's side of a measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaSample {
    /// The newest heartbeat the replica has applied, if any.
    pub heartbeat: Option<DateTime<Utc>>,
    /// Round trip of the reading query.
    pub round_trip: Duration,
    /// Local monotonic instant of the middle of the round trip.
    pub taken_at: Instant,
}

/// How heartbeats are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// Interval between two heartbeats.
    pub interval: Duration,
    /// Age of the primary's newest heartbeat past which the writer is
    /// considered stopped.
    pub stale_after: Duration,
}

impl HeartbeatConfig {
    /// `interval`, with the writer considered stopped after three missed
    /// heartbeats plus a second of slack.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            stale_after: interval * 3 + Duration::from_secs(1),
        }
    }
}

/// Outcome of a lag measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lag {
    /// The replica is `lag` behind the primary, give or take `uncertainty`
    /// (half an interval, plus half of each round trip).
    Measured {
        /// Age of the oldest transaction the replica has not applied.
        lag: Duration,
        /// Bound on the error of the clock projection.
        uncertainty: Duration,
    },
    /// The primary's heartbeat stopped at `since` (or the primary could not be
    /// read); lag is unknown. `replica_has_it` says whether the replica has
    /// applied that newest heartbeat.
    Stale {
        /// The newest heartbeat known.
        since: DateTime<Utc>,
        /// Whether the replica has applied it.
        replica_has_it: bool,
    },
    /// No heartbeat has reached the replica (or none was written) yet.
    NoHeartbeat,
}

/// Computes the lag from the two samples (`primary` is `None` when the primary
/// could not be read).
pub fn compute(primary: Option<&PrimarySample>, replica: &ReplicaSample, config: HeartbeatConfig) -> Lag {
    let Some(replica_heartbeat) = replica.heartbeat else {
        return Lag::NoHeartbeat;
    };
    let Some(primary) = primary else {
        return Lag::Stale {
            since: replica_heartbeat,
            replica_has_it: true,
        };
    };
    let Some(primary_heartbeat) = primary.heartbeat else {
        return Lag::NoHeartbeat;
    };
    let writer_age = (primary.now - primary_heartbeat).to_std().unwrap_or_default();
    if writer_age > config.stale_after {
        return Lag::Stale {
            since: primary_heartbeat,
            replica_has_it: replica_heartbeat >= primary_heartbeat,
        };
    }
    let round_trips = (primary.round_trip + replica.round_trip) / 2;
    if replica_heartbeat >= primary_heartbeat {
        return Lag::Measured {
            lag: Duration::ZERO,
            uncertainty: round_trips,
        };
    }
    let primary_now_at_replica_read = project(primary.now, primary.taken_at, replica.taken_at);
    let half_interval = chrono::Duration::from_std(config.interval / 2).unwrap_or(chrono::Duration::MAX);
    let oldest_missing = (replica_heartbeat + half_interval).min(primary_heartbeat);
    let uncertainty = round_trips + config.interval / 2;
    let lag = (primary_now_at_replica_read - oldest_missing)
        .to_std()
        .unwrap_or_default();
    Lag::Measured { lag, uncertainty }
}

/// The primary's clock at local instant `at`, given it read `now` at `read_at`.
fn project(now: DateTime<Utc>, read_at: Instant, at: Instant) -> DateTime<Utc> {
    let shift =
        |instant_delta: Duration| chrono::Duration::from_std(instant_delta).unwrap_or(chrono::Duration::MAX);
    if at >= read_at {
        now + shift(at - read_at)
    } else {
        now - shift(read_at - at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(millis: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_700_000_000_000 + millis)
            .single()
            .expect("valid")
    }

    struct Clocks {
        base: Instant,
    }

    impl Clocks {
        fn at(&self, millis: u64) -> Instant {
            self.base + Duration::from_millis(millis)
        }
    }

    fn config() -> HeartbeatConfig {
        HeartbeatConfig::new(Duration::from_millis(100))
    }

    #[test]
    fn caught_up_replica_has_zero_lag() {
        let clocks = Clocks { base: Instant::now() };
        let primary = PrimarySample {
            now: t(1050),
            heartbeat: Some(t(1000)),
            round_trip: Duration::from_millis(2),
            taken_at: clocks.at(50),
        };
        let replica = ReplicaSample {
            heartbeat: Some(t(1000)),
            round_trip: Duration::from_millis(4),
            taken_at: clocks.at(55),
        };
        assert_eq!(
            compute(Some(&primary), &replica, config()),
            Lag::Measured {
                lag: Duration::ZERO,
                uncertainty: Duration::from_millis(3)
            }
        );
    }

    #[test]
    fn a_blocked_replica_lags_by_the_age_of_its_first_missing_heartbeat() {
        // The replica stopped applying after the heartbeat of t=1000; the next one
        // was written at t=1100. The replica is read 1.5 s of local time after the
        // primary read t=2000 on its clock: the primary's clock then says 3500.
        let clocks = Clocks { base: Instant::now() };
        let primary = PrimarySample {
            now: t(2000),
            heartbeat: Some(t(1990)),
            round_trip: Duration::ZERO,
            taken_at: clocks.at(0),
        };
        let replica = ReplicaSample {
            heartbeat: Some(t(1000)),
            round_trip: Duration::ZERO,
            taken_at: clocks.at(1500),
        };
        // Primary clock at the replica read: 3500; the first missing transaction
        // came between 1000 and 1100, estimated at 1050.
        assert_eq!(
            compute(Some(&primary), &replica, config()),
            Lag::Measured {
                lag: Duration::from_millis(2450),
                uncertainty: Duration::from_millis(50)
            }
        );
    }

    #[test]
    fn the_replica_clock_never_enters_the_computation() {
        // Same samples, with the replica read taken *before* the primary read.
        let clocks = Clocks { base: Instant::now() };
        let primary = PrimarySample {
            now: t(5000),
            heartbeat: Some(t(4950)),
            round_trip: Duration::ZERO,
            taken_at: clocks.at(300),
        };
        let replica = ReplicaSample {
            heartbeat: Some(t(4000)),
            round_trip: Duration::ZERO,
            taken_at: clocks.at(100),
        };
        // Primary clock at the replica read: 4800; first missing transaction ~4050.
        assert_eq!(
            compute(Some(&primary), &replica, config()),
            Lag::Measured {
                lag: Duration::from_millis(750),
                uncertainty: Duration::from_millis(50)
            }
        );
    }

    #[test]
    fn one_missing_heartbeat_counts_from_the_primarys_newest() {
        let clocks = Clocks { base: Instant::now() };
        let primary = PrimarySample {
            now: t(1030),
            heartbeat: Some(t(1020)),
            round_trip: Duration::ZERO,
            taken_at: clocks.at(0),
        };
        let replica = ReplicaSample {
            heartbeat: Some(t(990)),
            round_trip: Duration::ZERO,
            taken_at: clocks.at(0),
        };
        // Missing only the primary's newest heartbeat, written 10 ms ago.
        assert_eq!(
            compute(Some(&primary), &replica, config()),
            Lag::Measured {
                lag: Duration::from_millis(10),
                uncertainty: Duration::from_millis(50)
            }
        );
    }

    #[test]
    fn a_stopped_writer_is_stale_not_lagging() {
        let clocks = Clocks { base: Instant::now() };
        let primary = PrimarySample {
            now: t(60_000),
            heartbeat: Some(t(1000)),
            round_trip: Duration::ZERO,
            taken_at: clocks.at(0),
        };
        let replica = ReplicaSample {
            heartbeat: Some(t(1000)),
            round_trip: Duration::ZERO,
            taken_at: clocks.at(0),
        };
        assert_eq!(
            compute(Some(&primary), &replica, config()),
            Lag::Stale {
                since: t(1000),
                replica_has_it: true
            }
        );
    }

    #[test]
    fn an_unreadable_primary_is_stale_since_the_replicas_newest_heartbeat() {
        let replica = ReplicaSample {
            heartbeat: Some(t(7000)),
            round_trip: Duration::ZERO,
            taken_at: Instant::now(),
        };
        assert_eq!(
            compute(None, &replica, config()),
            Lag::Stale {
                since: t(7000),
                replica_has_it: true
            }
        );
        let empty = ReplicaSample {
            heartbeat: None,
            ..replica
        };
        assert_eq!(compute(None, &empty, config()), Lag::NoHeartbeat);
    }
}
