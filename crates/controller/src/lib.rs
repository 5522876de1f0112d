//! drmysql's controller: reconciles each DRMySQL into pinned MySQL instances
//! with replication, lag monitoring and failover.
//!
//! The reconcile follows Stackable's pipeline,
//! `dereference → validate → build → apply → observe → update_status`:
//! - [`validate`] (pure) turns what the CRD could not reject (a missing Secret
//!   or node, an untolerated taint) into problems that name the field;
//! - [`build`] (pure) produces every Pod, PVC, ConfigMap and Service;
//! - [`credentials`] generates and checks passwords;
//! - [`labels`] holds the labels and selectors every object carries;
//! - [`leader`] holds the Lease that lets only one controller replica act;
//! - [`sidecar`] is the process beside every mysqld (`drmysql sidecar`);
//! - [`failover`] (pure) decides whether the primary is lost and what to do;
//!   [`transition`] carries a failover or switchover out step by step;
//! - [`roles`] (pure) gives each instance its role label, and [`requests`]
//!   (pure) reads a person's request annotations and answers them.

pub mod build;
pub mod credentials;
pub mod failover;
pub mod labels;
pub mod leader;
pub mod metrics;
pub mod permissions;
pub mod reconcile;
pub mod requests;
pub mod roles;
pub mod runner;
pub mod sidecar;
pub mod status;
pub mod transition;
pub mod tunnel;
pub mod validate;
pub mod wiring;
