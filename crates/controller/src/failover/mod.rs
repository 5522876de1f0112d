//! The failover decision: whether the primary is lost, and what to do about it.
//!
//! This is the "decide purely" half of failover. Everything here is a pure
//! function of what the controller observed, the spec, a small memory kept
//! across reconciles, the status's transition record and the time: no I/O, no
//! clock, no randomness, so every rule is a plain unit test or a property test.
//! The executor (fence, promote, move labels) and the reconcile wiring act on
//! the [`Decision`] and write [`Memory`] back to the status.
//!
//! - [`observations`]: what the controller feeds in, each reading stamped with
//!   when it was taken.
//! - [`evidence`]: the readings sorted into vantage points (the host side, and
//!   each replica's own view), each with a verdict: alive, failing (hard or
//!   soft), or silent.
//! - [`memory`]: what must survive between reconciles (since when each vantage
//!   point suspects the primary, its last known GTIDs and heartbeat, a pending
//!   approval), with [`remember`] to update it.
//! - [`detection`]: the primary's health from the verdicts and the memory: only
//!   two agreeing vantage points declare it failed, hard evidence at once, soft
//!   evidence after `spec.failover.detectionSeconds`, and any vantage point that
//!   still sees it alive vetoes.
//! - [`gtids`]: flavor-aware GTID comparisons (superset, errant, relay log
//!   applied) on top of `drmysql_mysql::gtid`.
//! - [`candidate`]: which replicas may be promoted and which one is the most
//!   advanced.
//! - [`decide`](mod@decide): the rules, in [`decide()`]; [`decision`]: its result.
//! - [`view`]: the reconcile's observations mapped to [`Observations`];
//!   [`persist`]: the memory as `status.failoverMemory`; [`report`]: the
//!   decision as the `PrimaryAvailable` condition and its Events (this version
//!   reports the decision and executes nothing).
//!
//! The rules, their defaults and the guarantees per replication mode are in
//! `docs/failover.md`.
//!
//! Typical use in a reconcile:
//!
//! ```ignore
//! let spec = DecisionSpec::from_drmysql(&drmysql);
//! let transitions = Transitions::from_status(drmysql.status.as_ref());
//! let (memory, decision) = failover::step(&old_memory, &observations, &spec, &transitions, now);
//! // persist `memory`, publish `decision.reason()`, act on `decision`
//! ```

pub mod candidate;
pub mod decide;
pub mod decision;
pub mod detection;
pub mod evidence;
pub mod gtids;
pub mod memory;
pub mod observations;
pub mod persist;
pub mod report;
pub mod spec;
pub mod view;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

pub use decide::decide;
pub use decision::{Decision, Gate, Precondition};
pub use evidence::{NodeState, PodState, Reachability, Strength, VantagePoint};
pub use gtids::{GtidFlavor, GtidOrigin};
pub use memory::{Memory, remember};
pub use observations::{Observations, Observed, PrimaryServer, ReplicaObservation, ReplicaServer, Request};
pub use spec::{DecisionSpec, SWITCHOVER_TO_ANNOTATION, Transitions};

/// Updates the memory with this reconcile's observations, then decides: the
/// two calls every reconcile makes, in the right order.
pub fn step(
    memory: &Memory,
    observations: &Observations,
    spec: &DecisionSpec,
    transitions: &Transitions<'_>,
    now: DateTime<Utc>,
) -> (Memory, Decision) {
    let memory = remember(memory, observations, spec, now);
    let decision = decide(observations, spec, &memory, transitions, now);
    (memory, decision)
}
