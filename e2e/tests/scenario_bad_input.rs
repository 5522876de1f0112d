//! Scenario 4, bad input:
//! - a DRMySQL with the primary and the replica on the same node is refused by
//!   the API with the CRD's CEL message;
//! - one naming a credentials Secret that does not exist gets Ready=False
//!   (InvalidSpec) and a CredentialsSecretMissing Event, and nothing is
//!   created for it; once the Secret exists it proceeds to Ready, nothing lost;
//! - a NodeConfig given a bad entry reports it in its status, and the tunnel
//!   keeps working (rows still replicate).
//!
//! Root and MariaDB are required (the test fails naming what is missing).

#[path = "scenario_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use drmysql_api::clusterlink::{ClusterNode, Iptables, NodeConfig};
use drmysql_api::names::{self, condition, credentials};
use drmysql_e2e::sandbox::wait;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

const NAMESPACE: &str = "shop";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_or_reported_and_nothing_is_lost() {
    let sandbox = support::start().await;
    let client = sandbox.host_client();

    // 1. Same node: refused by the API with the CEL message.
    let mut same_node = support::check(&sandbox, sandbox.example(NAMESPACE, "samenode"));
    same_node["spec"]["replicas"][0]["node"] = same_node["spec"]["primary"]["node"].clone();
    let refused = sandbox
        .apply_drmysql(&same_node)
        .await
        .expect_err("a replica on the primary's node is refused");
    let message = refused.to_string();
    assert!(
        message.contains("spec.replicas[].node must differ from spec.primary.node"),
        "the CEL message: {message}"
    );

    // 2. A missing Secret: a condition and an Event, nothing created.
    let mut ghost = support::check(&sandbox, sandbox.example(NAMESPACE, "ghost"));
    ghost["spec"]["credentialsSecret"] = json!("ghost-db-credentials");
    support::check(&sandbox, sandbox.apply_drmysql(&ghost).await);
    let invalid = support::wait_for(
        &sandbox,
        NAMESPACE,
        "ghost",
        "Ready False with InvalidSpec",
        Duration::from_secs(30),
        |drmysql| {
            support::condition(drmysql, condition::READY)
                .is_some_and(|c| c.status == "False" && c.reason == "InvalidSpec")
        },
    )
    .await;
    let ready = support::condition(&invalid, condition::READY).expect("Ready");
    assert!(
        ready.message.contains("ghost-db-credentials"),
        "names the Secret: {}",
        ready.message
    );
    let events = support::events(&sandbox, NAMESPACE, "ghost").await;
    assert!(
        events
            .iter()
            .any(|(reason, message)| reason == "CredentialsSecretMissing"
                && message.contains("ghost-db-credentials")),
        "a CredentialsSecretMissing Event: {events:?}"
    );
    let selector = ListParams::default().labels(&format!("{}=ghost", names::LABEL_CLUSTER));
    let count = |kind: &'static str, n: usize| (kind, n);
    let created = [
        count(
            "Pods",
            Api::<Pod>::namespaced(client.clone(), NAMESPACE)
                .list(&selector)
                .await
                .map(|l| l.items.len())
                .unwrap_or(usize::MAX),
        ),
        count(
            "Services",
            Api::<Service>::namespaced(client.clone(), NAMESPACE)
                .list(&selector)
                .await
                .map(|l| l.items.len())
                .unwrap_or(usize::MAX),
        ),
        count(
            "PVCs",
            Api::<PersistentVolumeClaim>::namespaced(client.clone(), NAMESPACE)
                .list(&selector)
                .await
                .map(|l| l.items.len())
                .unwrap_or(usize::MAX),
        ),
        count(
            "ConfigMaps",
            Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE)
                .list(&selector)
                .await
                .map(|l| l.items.len())
                .unwrap_or(usize::MAX),
        ),
    ];
    assert!(
        created.iter().all(|(_, n)| *n == 0),
        "nothing is created for an invalid DRMySQL: {created:?}"
    );

    // The Secret arrives: the DRMySQL proceeds to Ready.
    let values: BTreeMap<String, String> = credentials::REQUIRED_KEYS
        .iter()
        .map(|key| ((*key).to_owned(), format!("sandbox{}", key.replace('-', ""))))
        .collect();
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "ghost-db-credentials", "namespace": NAMESPACE},
        "stringData": values,
    }))
    .expect("a Secret");
    Api::<Secret>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &secret)
        .await
        .expect("the Secret is created");
    support::wait_for(
        &sandbox,
        NAMESPACE,
        "ghost",
        "Ready once the Secret exists",
        Duration::from_secs(90),
        |drmysql| support::has(drmysql, condition::READY, "True"),
    )
    .await;
    let replica_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, "ghost-tencent").await);
    support::write_and_replicate(&sandbox, NAMESPACE, "ghost", replica_ip, 1).await;

    // 3. A bad NodeConfig entry: reported; the tunnel keeps working.
    let host_config = ClusterNode::name_for("host", sandbox.host_node());
    let configs: Api<NodeConfig> = Api::all(client.clone());
    let bad_rule = "-s 10.10.0.0/16 -j DROP";
    let mut config = configs
        .get(&host_config)
        .await
        .expect("the host node's NodeConfig");
    config.spec.iptables.push(Iptables {
        table: "nat".to_owned(),
        chain: "POSTROUTING".to_owned(),
        rule: bad_rule.to_owned(),
    });
    configs
        .replace(&host_config, &PostParams::default(), &config)
        .await
        .expect("the NodeConfig takes the bad entry");
    let reported = wait::until(
        "the bad entry reported on the NodeConfig",
        Duration::from_secs(30),
        || async {
            let config = configs
                .get(&host_config)
                .await
                .map_err(|error| error.to_string())?;
            let status = config.status.unwrap_or_default();
            if status
                .errors
                .iter()
                .any(|error| error.entry.contains("DROP") || error.message.contains("DROP"))
            {
                Ok(status)
            } else {
                Err(format!("{status:?}"))
            }
        },
    )
    .await;
    let status = support::check(&sandbox, reported);
    assert!(status.failed.unwrap_or(0) >= 1, "{status:?}");
    support::write_and_replicate(&sandbox, NAMESPACE, "ghost", replica_ip, 2).await;
    let still = support::get(&sandbox, NAMESPACE, "ghost")
        .await
        .expect("the DRMySQL");
    assert!(
        support::has(&still, condition::TUNNEL_REACHABLE, "True"),
        "the tunnel keeps working: {}",
        support::describe(&still)
    );

    support::finish(sandbox).await;
}
