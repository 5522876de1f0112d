//! drmysql's replication engine: everything drmysql says to a MySQL or MariaDB
//! server, and nothing about Kubernetes.
//!
//! - [`Server::connect`] opens a connection bounded in time and detects the
//!   [`Flavor`] (MySQL 8.0, MySQL 8.4, MariaDB 10.6+/11.x); every statement it
//!   runs afterwards is bounded by the same timeout.
//! - [`Server::observe`] returns an [`InstanceStatus`]: identity, read-only
//!   state, GTIDs, replication threads and errors, semi-sync, uptime.
//! - [`Server::prepare`] checks the GTID prerequisites and creates drmysql's
//!   accounts and heartbeat table; [`Server::replicate_from`] points a replica
//!   at a source with GTID auto-positioning (also for a former primary's rejoin);
//!   [`Server::configure_source_durability`] and
//!   [`Server::configure_replica_durability`] switch between async and lossless
//!   semi-sync.
//! - [`Server::fence`], [`Server::wait_for_position`], [`Server::promote`] and
//!   [`Server::errant_transactions`] are the failover steps.
//! - [`HeartbeatWriter`] and [`measure_lag`] give replication lag that does not
//!   depend on the sites' clocks agreeing, and say *stale* when the primary's
//!   heartbeat stops.
//!
//! All SQL text is written in [`dialect`]; values are parameters where the
//! server allows, and escaped by [`escape`] where it does not.

pub mod dialect;
pub mod error;
pub mod escape;
mod failover;
pub mod flavor;
pub mod gtid;
mod heartbeat;
pub mod lag;
mod observe;
mod server;
mod setup;
pub mod status;
#[cfg(feature = "testing")]
pub mod testing;

pub use dialect::{Dialect, SourceConfig, Statement};
pub use error::Error;
pub use failover::{FenceReport, Promotion, errant_between};
pub use flavor::{Flavor, ServerVersion};
pub use gtid::ErrantReport;
pub use heartbeat::{HeartbeatWriter, measure_lag};
pub use lag::{HeartbeatConfig, Lag};
pub use server::{Server, Target};
pub use setup::{Account, Accounts, Durability, check_replication_password};
pub use status::{InstanceStatus, ReplicaStatus, SemiSyncStatus, ThreadState};
