//! Scenario 5, deletion: deleting a Ready DRMySQL removes its Pods and
//! Services, keeps its PVCs (the default), and leaves no process or pod
//! network namespace behind on any node.
//!
//! Root and MariaDB are required (the test fails naming what is missing).

#[path = "scenario_support/mod.rs"]
mod support;

use std::time::Duration;

use drmysql_api::drmysql::DRMySQL;
use drmysql_api::names;
use drmysql_e2e::kubelet::process::is_alive;
use drmysql_e2e::sandbox::wait;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams};

const NAMESPACE: &str = "shop";
const NAME: &str = "orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_removes_pods_and_services_and_keeps_the_claims() {
    let sandbox = support::start().await;
    let client = sandbox.host_client();
    let example = support::check(&sandbox, sandbox.example(NAMESPACE, NAME));
    support::apply_and_wait_ready(&sandbox, &example).await;
    let running: Vec<(String, Vec<u32>)> = ["host-1", "kosmos-member-a"]
        .iter()
        .filter_map(|node| sandbox.node(node))
        .flat_map(|node| node.pods())
        .map(|pod| (pod.name.clone(), pod.pids.values().copied().collect()))
        .collect();
    assert_eq!(running.len(), 2, "two instance Pods run: {running:?}");
    let pod_namespaces: Vec<String> = ["host-1", "kosmos-member-a"]
        .iter()
        .filter_map(|node| sandbox.node(node))
        .flat_map(|node| node.pods())
        .map(|pod| pod.netns)
        .collect();
    let existing = netns_list();
    assert!(
        pod_namespaces.iter().all(|netns| existing.contains(netns)),
        "the Pods' namespaces {pod_namespaces:?} exist: {existing:?}"
    );

    Api::<DRMySQL>::namespaced(client.clone(), NAMESPACE)
        .delete(NAME, &DeleteParams::default())
        .await
        .expect("the DRMySQL is deleted");
    let selector = ListParams::default().labels(&format!("{}={NAME}", names::LABEL_CLUSTER));
    let gone = wait::until(
        "the DRMySQL, its Pods and Services gone",
        Duration::from_secs(60),
        || async {
            let object = Api::<DRMySQL>::namespaced(client.clone(), NAMESPACE)
                .get_opt(NAME)
                .await
                .map_err(|error| error.to_string())?;
            let pods = Api::<Pod>::namespaced(client.clone(), NAMESPACE)
                .list(&selector)
                .await
                .map_err(|error| error.to_string())?
                .items
                .len();
            let services = Api::<Service>::namespaced(client.clone(), NAMESPACE)
                .list(&selector)
                .await
                .map_err(|error| error.to_string())?
                .items
                .len();
            if object.is_none() && pods == 0 && services == 0 {
                Ok(())
            } else {
                Err(format!(
                    "DRMySQL present: {}, Pods {pods}, Services {services}",
                    object.is_some()
                ))
            }
        },
    )
    .await;
    support::check(&sandbox, gone);
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), NAMESPACE)
        .list(&selector)
        .await
        .expect("PVCs listed")
        .items;
    assert_eq!(claims.len(), 2, "both PVCs are kept: {claims:?}");

    let stopped = wait::until(
        "every instance process and pod namespace gone",
        Duration::from_secs(60),
        || {
            let running = running.clone();
            let before = pod_namespaces.clone();
            let sandbox = &sandbox;
            async move {
                let alive: Vec<u32> = running
                    .iter()
                    .flat_map(|(_, pids)| pids.iter().copied())
                    .filter(|pid| is_alive(*pid))
                    .collect();
                let still_running: Vec<String> = ["host-1", "kosmos-member-a"]
                    .iter()
                    .filter_map(|node| sandbox.node(node))
                    .flat_map(|node| node.pods())
                    .map(|pod| pod.name)
                    .collect();
                let now = netns_list();
                let left: Vec<&String> = before.iter().filter(|name| now.contains(name)).collect();
                if alive.is_empty() && still_running.is_empty() && left.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "processes {alive:?}, Pods {still_running:?}, namespaces {left:?}"
                    ))
                }
            }
        },
    )
    .await;
    support::check(&sandbox, stopped);

    support::finish(sandbox).await;
}

/// The network namespaces that exist now.
fn netns_list() -> Vec<String> {
    let output = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}
