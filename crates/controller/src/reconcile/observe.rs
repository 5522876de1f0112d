//! The **observe** stage: read every instance's server, wire replication,
//! measure lag, and check the tunnel between the primary and each replica in
//! both directions through their sidecars.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::DRMySQL;
use drmysql_api::names::credentials as keys;
use drmysql_mysql::{Account, Accounts, measure_lag};
use k8s_openapi::api::core::v1::Pod;

use crate::build::config::MYSQL_PORT;
use crate::build::pod::SIDECAR_PORT;
use crate::status::{InstanceObservation, Observation};
use crate::tunnel::{self, TunnelCheck};
use crate::wiring::{Endpoint, Plan, execute, plan};

/// Bounds of the observe stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObserveConfig {
    /// Bound on each MySQL connect and statement.
    pub mysql_timeout: Duration,
    /// Bound on each tunnel check.
    pub tunnel_timeout: Duration,
}

/// Whether observe may wire replication this time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WiringScope<'a> {
    /// Wire every instance except the quarantined ones, which are only
    /// fenced if writable, never attached.
    On {
        /// Instances in quarantine.
        quarantined: &'a [String],
    },
    /// Touch nothing: a failover or switchover owns the servers.
    Off,
}

/// What observe produced.
#[derive(Clone, Debug)]
pub struct Observed {
    /// For the status.
    pub observation: Observation,
    /// Age of the primary's newest heartbeat, on its own clock.
    pub heartbeat_age: Option<Duration>,
    /// The primary's newest heartbeat, on its own clock (for the failover
    /// decision's heartbeat gap).
    pub primary_heartbeat: Option<DateTime<Utc>>,
    /// The wiring plan that was carried out.
    pub plan: Plan,
    /// Address of every instance whose Pod has an IP.
    pub endpoints: BTreeMap<String, Endpoint>,
    /// `root`'s password, for the failover executor's connections.
    pub root_password: String,
    /// The replication account.
    pub replication: Account,
}

fn text(data: &BTreeMap<String, Vec<u8>>, key: &str) -> String {
    data.get(key)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .unwrap_or_default()
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

fn pod_ip(pod: Option<&Pod>) -> Option<String> {
    pod?.status.as_ref()?.pod_ip.clone().filter(|ip| !ip.is_empty())
}

/// The instance that is primary now: the recorded one, or `spec.primary`'s.
pub fn current_primary(drmysql: &DRMySQL) -> String {
    drmysql
        .status
        .as_ref()
        .and_then(|status| status.current_primary.clone())
        .unwrap_or_else(|| {
            drmysql
                .instances()
                .first()
                .map(|i| i.name.clone())
                .unwrap_or_default()
        })
}

/// Observes and wires every instance of `drmysql`.
pub async fn observe(
    drmysql: &DRMySQL,
    pods: &BTreeMap<String, Pod>,
    credentials: &BTreeMap<String, Vec<u8>>,
    sidecar_token: &str,
    config: ObserveConfig,
    scope: WiringScope<'_>,
    now: DateTime<Utc>,
) -> Observed {
    let primary = current_primary(drmysql);
    let instances: Vec<(String, Option<Endpoint>)> = drmysql
        .instances()
        .into_iter()
        .map(|instance| {
            let endpoint = pod_ip(pods.get(&instance.name)).map(|host| Endpoint {
                host,
                port: MYSQL_PORT as u16,
            });
            (instance.name, endpoint)
        })
        .collect();
    let accounts = Accounts {
        replication: Account::new(
            keys::REPLICATION_USER,
            text(credentials, keys::REPLICATION_PASSWORD),
        ),
        heartbeat: Account::new(keys::HEARTBEAT_USER, text(credentials, keys::HEARTBEAT_PASSWORD)),
    };
    let root_password = text(credentials, keys::ROOT_PASSWORD);

    // The tunnel checks run at once, and alongside the MySQL observation: a
    // peer that cannot be reached costs one timeout per look, not one per
    // instance and per check.
    let mut checks = Vec::new();
    if let Some(primary_ip) = pod_ip(pods.get(&primary)) {
        for (name, _) in instances.iter().filter(|(name, _)| *name != primary) {
            let Some(replica_ip) = pod_ip(pods.get(name)) else {
                continue;
            };
            for (from, from_ip, to, to_ip) in [
                (name.as_str(), &replica_ip, primary.as_str(), &primary_ip),
                (primary.as_str(), &primary_ip, name.as_str(), &replica_ip),
            ] {
                let check = TunnelCheck {
                    from: from.to_owned(),
                    sidecar: format!("{from_ip}:{SIDECAR_PORT}"),
                    to: to.to_owned(),
                    target: format!("{to_ip}:{MYSQL_PORT}"),
                };
                checks.push(check);
            }
        }
    }
    let tunnel_checks = futures::future::join_all(
        checks
            .iter()
            .map(|check| tunnel::run(check, sidecar_token, config.tunnel_timeout, now)),
    );
    let connecting = execute::observe(
        &instances,
        &primary,
        &root_password,
        &accounts,
        config.mysql_timeout,
    );
    let (
        execute::Connected {
            observed,
            mut servers,
            prepare_failures,
        },
        tunnel,
    ) = tokio::join!(connecting, tunnel_checks);
    for (instance, error) in prepare_failures {
        tracing::warn!(%instance, %error, "preparing the instance failed");
    }
    let wiring = match scope {
        WiringScope::On { quarantined } => {
            plan(&primary, &observed, drmysql.spec.replication.mode, quarantined)
        }
        WiringScope::Off => Plan::default(),
    };
    for outcome in execute::execute(&wiring, &mut servers, &accounts.replication).await {
        if let Err(error) = &outcome.result {
            tracing::warn!(action = ?outcome.action, %error, "wiring step failed");
        }
    }

    let mut lags = BTreeMap::new();
    let mut heartbeat_age = None;
    let mut primary_heartbeat = None;
    let interval = Duration::from_millis(u64::from(drmysql.spec.lag.heartbeat_interval_millis));
    let heartbeat = drmysql_mysql::HeartbeatConfig::new(interval);
    let mut primary_server = servers.remove(&primary);
    if let Some(primary_server) = primary_server.as_mut()
        && let Ok(sample) = primary_server.primary_heartbeat_sample().await
    {
        primary_heartbeat = sample.heartbeat;
        heartbeat_age = sample
            .heartbeat
            .and_then(|beat| (sample.now - beat).to_std().ok());
    }
    // Also without the primary: each replica's newest applied heartbeat is
    // what the failover decision judges a lost primary's candidates by.
    for (name, replica) in servers.iter_mut() {
        if let Ok(lag) = measure_lag(primary_server.as_mut(), replica, heartbeat).await {
            lags.insert(name.clone(), lag);
        }
    }

    let instance_observations = observed
        .iter()
        .map(|view| {
            let pod = pods.get(&view.name);
            InstanceObservation {
                name: view.name.clone(),
                node: pod
                    .and_then(|pod| pod.spec.as_ref())
                    .and_then(|spec| spec.node_name.clone()),
                pod_ip: pod_ip(pod),
                pod_ready: pod.is_some_and(pod_ready),
                primary: view.name == primary,
                server: view.status.clone(),
                lag: lags.get(&view.name).copied(),
            }
        })
        .collect::<Vec<_>>();
    // Primary first, as the status lists them.
    let mut ordered = instance_observations;
    ordered.sort_by_key(|instance| !instance.primary);
    Observed {
        observation: Observation {
            instances: ordered,
            tunnel,
            problems: Vec::new(),
            findings: wiring.findings.clone(),
            failover: None,
            roles: BTreeMap::new(),
        },
        heartbeat_age,
        primary_heartbeat,
        plan: wiring,
        endpoints: instances
            .iter()
            .filter_map(|(name, endpoint)| Some((name.clone(), endpoint.clone()?)))
            .collect(),
        root_password,
        replication: accounts.replication,
    }
}
