//! Deciding what to say to each server so that the designated primary is the
//! only writable instance and every replica replicates from it with the
//! configured durability. Pure: it works on the observe stage's snapshots, so
//! every rule is unit-tested; [`super::execute`] carries the actions out.
//!
//! The rules, in the order the actions run:
//! 1. any other instance that is writable is fenced first (never two writers);
//! 2. the primary's semi-sync source side is set for the mode, then the
//!    primary is made writable, unless it is itself replicating, which is a
//!    failover's business, not wiring's;
//! 3. each replica's semi-sync replica side is set for the mode;
//! 4. each replica is pointed at the primary, unless it has transactions the
//!    primary lacks (errant), or its replication stopped on an error, which
//!    re-pointing would only hide: those are reported instead. A quarantined
//!    instance is never attached (only a rebuild lifts the quarantine), but
//!    still compared, so that its errant transactions stay reported.

use drmysql_api::drmysql::ReplicationMode;
use drmysql_mysql::{Durability, InstanceStatus, ThreadState, errant_between};

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Host (a pod IP).
    pub host: String,
    /// Port.
    pub port: u16,
}

/// One instance as the observe stage saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// Instance name.
    pub name: String,
    /// Its address, once its Pod has one.
    pub endpoint: Option<Endpoint>,
    /// Its snapshot, or why it could not be taken.
    pub status: Result<InstanceStatus, String>,
}

/// One thing to do to one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Make a writable instance that is not the primary read-only and end its
    /// client connections.
    Fence {
        /// Instance.
        instance: String,
    },
    /// Set the semi-sync source side.
    ConfigureSource {
        /// Instance.
        instance: String,
        /// Durability.
        durability: Durability,
    },
    /// Set the semi-sync replica side.
    ConfigureReplica {
        /// Instance.
        instance: String,
        /// Durability.
        durability: Durability,
    },
    /// Make the primary writable.
    MakeWritable {
        /// Instance.
        instance: String,
    },
    /// Point a replica at the primary and start replication.
    ReplicateFrom {
        /// Instance.
        instance: String,
        /// The primary's address.
        source: Endpoint,
    },
}

/// Something wiring noticed and left alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The instance could not be observed.
    Unreachable {
        /// Instance.
        instance: String,
        /// Why.
        error: String,
    },
    /// The instance's Pod has no IP yet.
    NoAddress {
        /// Instance.
        instance: String,
    },
    /// The designated primary is replicating from somewhere: a failover or
    /// switchover must settle this, not wiring.
    PrimaryReplicates {
        /// Instance.
        instance: String,
        /// Its source.
        source: String,
    },
    /// A replica has transactions the primary lacks; it is not attached.
    Errant {
        /// Instance.
        instance: String,
        /// The errant GTIDs.
        gtids: String,
    },
    /// Replication stopped on an error.
    ReplicationBroken {
        /// Instance.
        instance: String,
        /// Errors of the IO and SQL threads.
        error: String,
    },
}

/// The actions, in order, and the findings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// What to do, in order.
    pub actions: Vec<Action>,
    /// What was noticed and left alone.
    pub findings: Vec<Finding>,
}

/// The semi-sync durability `mode` asks for.
pub fn durability(mode: ReplicationMode) -> Durability {
    match mode {
        ReplicationMode::Async => Durability::Async,
        ReplicationMode::Lossless => Durability::Lossless,
    }
}

/// Plans the wiring of `observed` around the designated `primary`. The
/// replicas' snapshots must have been taken before the primary's, so that the
/// errant check cannot mistake a transaction committed in between.
pub fn plan(primary: &str, observed: &[Observed], mode: ReplicationMode, quarantined: &[String]) -> Plan {
    let mut plan = Plan::default();
    let wanted = durability(mode);
    let primary_view = observed.iter().find(|view| view.name == primary);

    // 1. Never two writers: fence every other writable instance first.
    for view in observed.iter().filter(|view| view.name != primary) {
        match &view.status {
            Ok(status) if status.writable() => plan.actions.push(Action::Fence {
                instance: view.name.clone(),
            }),
            Ok(_) => {}
            Err(error) => plan.findings.push(Finding::Unreachable {
                instance: view.name.clone(),
                error: error.clone(),
            }),
        }
    }

    // 2. The primary.
    let primary_status = match primary_view.map(|view| &view.status) {
        Some(Ok(status)) => Some(status),
        Some(Err(error)) => {
            plan.findings.push(Finding::Unreachable {
                instance: primary.to_owned(),
                error: error.clone(),
            });
            None
        }
        None => None,
    };
    if let Some(status) = primary_status {
        if let Some(replica) = &status.replica {
            plan.findings.push(Finding::PrimaryReplicates {
                instance: primary.to_owned(),
                source: format!("{}:{}", replica.source_host, replica.source_port),
            });
        } else {
            let source_ok = match wanted {
                Durability::Lossless => status.semi_sync.is_lossless_source(),
                Durability::Async => !status.semi_sync.source_enabled,
            };
            if !source_ok {
                plan.actions.push(Action::ConfigureSource {
                    instance: primary.to_owned(),
                    durability: wanted,
                });
            }
            if !status.writable() {
                plan.actions.push(Action::MakeWritable {
                    instance: primary.to_owned(),
                });
            }
        }
    }
    let primary_endpoint = primary_view.and_then(|view| view.endpoint.clone());
    if primary_view.is_some() && primary_endpoint.is_none() {
        plan.findings.push(Finding::NoAddress {
            instance: primary.to_owned(),
        });
    }

    // 3 and 4. The replicas.
    for view in observed.iter().filter(|view| view.name != primary) {
        let Ok(status) = &view.status else {
            continue;
        };
        if status.semi_sync.replica_enabled != (wanted == Durability::Lossless) {
            plan.actions.push(Action::ConfigureReplica {
                instance: view.name.clone(),
                durability: wanted,
            });
        }
        let (Some(primary_status), Some(source)) = (primary_status, &primary_endpoint) else {
            continue;
        };
        // A quarantined instance is still compared, so that its errant
        // transactions stay reported until it is rebuilt, but never attached.
        match errant_between(status, primary_status) {
            Ok(report) if report.has_errant() => {
                plan.findings.push(Finding::Errant {
                    instance: view.name.clone(),
                    gtids: report.errant,
                });
                continue;
            }
            Ok(_) => {}
            Err(error) => {
                plan.findings.push(Finding::Errant {
                    instance: view.name.clone(),
                    gtids: format!("cannot compare GTIDs: {error}"),
                });
                continue;
            }
        }
        if quarantined.contains(&view.name) {
            continue;
        }
        match &status.replica {
            Some(replica) if replica.source_host == source.host && replica.source_port == source.port => {
                let errors: Vec<String> = [
                    (replica.last_io_errno, replica.last_io_error.as_deref(), "IO"),
                    (replica.last_sql_errno, replica.last_sql_error.as_deref(), "SQL"),
                ]
                .into_iter()
                .filter(|(errno, _, _)| *errno != 0)
                .map(|(errno, message, thread)| {
                    format!("{thread} thread error {errno}: {}", message.unwrap_or(""))
                })
                .collect();
                let stopped =
                    replica.io_thread == ThreadState::Stopped || replica.sql_thread == ThreadState::Stopped;
                if stopped && !errors.is_empty() {
                    plan.findings.push(Finding::ReplicationBroken {
                        instance: view.name.clone(),
                        error: errors.join("; "),
                    });
                } else if stopped {
                    plan.actions.push(Action::ReplicateFrom {
                        instance: view.name.clone(),
                        source: source.clone(),
                    });
                }
            }
            _ => plan.actions.push(Action::ReplicateFrom {
                instance: view.name.clone(),
                source: source.clone(),
            }),
        }
    }
    plan
}

#[cfg(test)]
mod tests;
