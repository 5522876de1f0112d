//! Carrying out a wiring [`Plan`] through `drmysql-mysql`, and the observation
//! it is planned from.
//!
//! Every step is idempotent and reads back its effect (the engine's rule). If
//! fencing a stray writer fails, the primary is not made writable: two
//! writable instances are worse than none for a while.

use std::collections::BTreeMap;
use std::time::Duration;

use drmysql_mysql::{Account, Accounts, Server, SourceConfig, Target};

use super::plan::{Action, Endpoint, Observed, Plan};

/// The result of one action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The action.
    pub action: Action,
    /// `Ok`, or why it failed or was skipped.
    pub result: Result<(), String>,
}

/// What [`observe`] found.
pub struct Connected {
    /// Every instance's snapshot, replicas first and the primary last.
    pub observed: Vec<Observed>,
    /// The open connections, by instance name.
    pub servers: BTreeMap<String, Server>,
    /// Instances where preparing the accounts failed, with why.
    pub prepare_failures: Vec<(String, String)>,
}

/// Connects to every instance once, prepares drmysql's accounts and heartbeat
/// table on it, then takes its snapshot; replicas first and the primary last
/// (the order the errant check needs). The connections are made at once, so
/// that an unreachable instance costs one `timeout`, not one per instance.
pub async fn observe(
    instances: &[(String, Option<Endpoint>)],
    primary: &str,
    root_password: &str,
    accounts: &Accounts,
    timeout: Duration,
) -> Connected {
    let mut ordered: Vec<&(String, Option<Endpoint>)> = instances.iter().collect();
    ordered.sort_by_key(|(name, _)| name == primary);
    let connections = futures::future::join_all(ordered.iter().map(|(_, endpoint)| async move {
        let endpoint = endpoint
            .as_ref()
            .ok_or_else(|| "the Pod has no IP yet".to_owned())?;
        let target = Target::new(endpoint.host.clone(), endpoint.port, "root", root_password);
        let mut server = Server::connect(&target, timeout)
            .await
            .map_err(|error| error.to_string())?;
        let prepared = server.prepare(accounts).await.map_err(|error| error.to_string());
        Ok::<_, String>((server, prepared))
    }))
    .await;
    let mut connected = Connected {
        observed: Vec::new(),
        servers: BTreeMap::new(),
        prepare_failures: Vec::new(),
    };
    for ((name, endpoint), connection) in ordered.into_iter().zip(connections) {
        let status = match connection {
            Err(error) => Err(error),
            Ok((mut server, prepared)) => {
                if let Err(error) = prepared {
                    connected.prepare_failures.push((name.clone(), error));
                }
                let status = server.observe().await.map_err(|error| error.to_string());
                if status.is_ok() {
                    connected.servers.insert(name.clone(), server);
                }
                status
            }
        };
        connected.observed.push(Observed {
            name: name.clone(),
            endpoint: endpoint.clone(),
            status,
        });
    }
    connected
}

/// Carries out `plan` in order.
pub async fn execute(
    plan: &Plan,
    servers: &mut BTreeMap<String, Server>,
    replication: &Account,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let mut fence_failed = false;
    for action in &plan.actions {
        let instance = match action {
            Action::Fence { instance }
            | Action::ConfigureSource { instance, .. }
            | Action::ConfigureReplica { instance, .. }
            | Action::MakeWritable { instance }
            | Action::ReplicateFrom { instance, .. } => instance,
        };
        let result = match servers.get_mut(instance) {
            None => Err(format!("no connection to {instance}")),
            Some(_) if fence_failed && matches!(action, Action::MakeWritable { .. }) => {
                Err("skipped: another instance is still writable and could not be fenced".to_owned())
            }
            Some(server) => run(action, server, replication).await,
        };
        if matches!(action, Action::Fence { .. }) && result.is_err() {
            fence_failed = true;
        }
        outcomes.push(Outcome {
            action: action.clone(),
            result,
        });
    }
    outcomes
}

async fn run(action: &Action, server: &mut Server, replication: &Account) -> Result<(), String> {
    match action {
        Action::Fence { .. } => {
            let report = server.fence().await;
            if report.fenced() {
                Ok(())
            } else {
                Err(format!(
                    "still writable after fencing: {}",
                    report.errors.join("; ")
                ))
            }
        }
        Action::ConfigureSource { durability, .. } => server
            .configure_source_durability(*durability)
            .await
            .map(drop)
            .map_err(|error| error.to_string()),
        Action::ConfigureReplica { durability, .. } => server
            .configure_replica_durability(*durability)
            .await
            .map(drop)
            .map_err(|error| error.to_string()),
        Action::MakeWritable { .. } => server.make_writable().await.map_err(|error| error.to_string()),
        Action::ReplicateFrom { source, .. } => {
            let config = SourceConfig::new(
                source.host.clone(),
                source.port,
                replication.user.clone(),
                replication.password.clone(),
            );
            server
                .replicate_from(&config)
                .await
                .map_err(|error| error.to_string())
        }
    }
}
