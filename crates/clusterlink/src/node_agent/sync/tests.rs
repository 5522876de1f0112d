//! The agent's pass against the crate's in-memory API server and a kernel
//! stand-in: underlay reporting, status, Events, heartbeat and cleanup.

use std::sync::{Arc, Mutex};

use drmysql_api::clusterlink::{EntryError, EntryKind, NodeConfigSpec, Route};
use http::Method;
use kube::runtime::events::{Recorder, Reporter};
use serde_json::json;

use super::*;
use crate::test_api::{Store, fake_api};

const KOSMOS: &str = "/apis/kosmos.io/v1alpha1";

#[derive(Default)]
struct Seen {
    applied: Vec<NodeConfigSpec>,
    cleanups: usize,
}

/// Answers with a fixed underlay and outcome and records what it was asked.
struct FakeKernel {
    outcome: Arc<Mutex<SyncOutcome>>,
    seen: Arc<Mutex<Seen>>,
}

impl Kernel for FakeKernel {
    async fn detect(&mut self, choice: &InterfaceChoice) -> Result<Underlay, DetectError> {
        assert_eq!(*choice, InterfaceChoice::Named("eth0".to_owned()));
        Ok(Underlay {
            interface: "eth0".to_owned(),
            ipv4: Some("192.168.0.11".parse().expect("ip")),
            ipv6: None,
        })
    }

    async fn apply(&mut self, spec: &NodeConfigSpec) -> SyncOutcome {
        self.seen.lock().expect("seen").applied.push(spec.clone());
        self.outcome.lock().expect("outcome").clone()
    }

    async fn cleanup(&mut self) -> Result<usize, String> {
        self.seen.lock().expect("seen").cleanups += 1;
        Ok(7)
    }
}

struct Fixture {
    agent: AgentSync<FakeKernel>,
    store: Arc<Mutex<Store>>,
    outcome: Arc<Mutex<SyncOutcome>>,
    seen: Arc<Mutex<Seen>>,
}

fn fixture(with_node_config: bool) -> Fixture {
    let (client, store) = fake_api();
    {
        let mut store = store.lock().expect("store");
        store.put(
            &format!("{KOSMOS}/clusters/a"),
            json!({"apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "a"},
                   "spec": {"clusterLinkOptions": {"defaultNICName": "eth0"}}}),
        );
        if with_node_config {
            store.put(
                &format!("{KOSMOS}/nodeconfigs/a-n1"),
                json!({"apiVersion": "kosmos.io/v1alpha1", "kind": "NodeConfig",
                       "metadata": {"name": "a-n1", "generation": 2, "uid": "6c1e3a52-0000-4000-8000-000000000001"},
                       "spec": {"routes": [{"cidr": "10.2.0.0/16", "gw": "220.0.0.2", "dev": "vx-bridge"}]}}),
            );
        }
    }
    let outcome = Arc::new(Mutex::new(SyncOutcome {
        applied: 1,
        changes: 1,
        errors: vec![],
    }));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "drmysql-agent".to_owned(),
            instance: Some("n1".to_owned()),
        },
    );
    let agent = AgentSync::new(
        client,
        NodeIdentity {
            cluster: "a".to_owned(),
            node: "n1".to_owned(),
        },
        FakeKernel {
            outcome: Arc::clone(&outcome),
            seen: Arc::clone(&seen),
        },
        recorder,
        Duration::from_secs(300),
    );
    Fixture {
        agent,
        store,
        outcome,
        seen,
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("time")
}

fn stored(store: &Mutex<Store>, path: &str) -> serde_json::Value {
    store.lock().expect("store").objects[path].clone()
}

#[tokio::test]
async fn the_underlay_is_reported_once_under_the_agents_field_manager() {
    let mut fixture = fixture(true);
    fixture.agent.pass(at(0)).await.expect("pass");
    let writes = fixture.store.lock().expect("store").take_writes();
    let underlay_write = writes
        .iter()
        .find(|write| write.path == format!("{KOSMOS}/clusternodes/a-n1"))
        .expect("ClusterNode written");
    assert_eq!(underlay_write.method, Method::PATCH);
    assert!(
        underlay_write.query.contains("fieldManager=drmysql-agent"),
        "{}",
        underlay_write.query
    );
    assert_eq!(
        underlay_write.body["spec"],
        json!({"clusterName": "a", "nodeName": "n1", "interfaceName": "eth0", "ip": "192.168.0.11"}),
        "only the agent's fields (and the names), no ip6 when there is none"
    );
    assert_eq!(
        underlay_write.body["metadata"]["labels"]["kosmos.io/cluster"],
        "a"
    );

    fixture.agent.pass(at(30)).await.expect("second pass");
    let writes = fixture.store.lock().expect("store").take_writes();
    assert!(
        writes.iter().all(|write| !write.path.contains("/clusternodes/")),
        "an unchanged underlay is not rewritten: {writes:?}"
    );
}

#[tokio::test]
async fn status_reports_counts_and_errors_and_quiet_resyncs_do_not_write() {
    let mut fixture = fixture(true);
    *fixture.outcome.lock().expect("outcome") = SyncOutcome {
        applied: 1,
        changes: 1,
        errors: vec![EntryError {
            kind: EntryKind::Iptables,
            entry: "nat POSTROUTING -j DROP".to_owned(),
            message: "target DROP is not allowed".to_owned(),
        }],
    };
    let result = fixture.agent.pass(at(0)).await.expect("pass");
    assert!(matches!(
        result,
        PassResult::Applied {
            drift_repaired: false,
            ..
        }
    ));
    assert_eq!(
        fixture.seen.lock().expect("seen").applied,
        [NodeConfigSpec {
            routes: vec![Route {
                cidr: "10.2.0.0/16".to_owned(),
                gw: "220.0.0.2".to_owned(),
                dev: "vx-bridge".to_owned()
            }],
            ..NodeConfigSpec::default()
        }]
    );
    let status = stored(&fixture.store, &format!("{KOSMOS}/nodeconfigs/a-n1"))["status"].clone();
    assert_eq!(status["applied"], 1);
    assert_eq!(status["failed"], 1);
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(status["errors"][0]["message"], "target DROP is not allowed");
    let events = fixture.store.lock().expect("store").events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "Warning");
    assert_eq!(events[0].1, "EntryNotApplied");
    assert!(events[0].2.contains("-j DROP"), "{events:?}");

    fixture.store.lock().expect("store").take_writes();
    fixture.outcome.lock().expect("outcome").changes = 0;
    fixture.agent.pass(at(30)).await.expect("quiet pass");
    let writes = fixture.store.lock().expect("store").take_writes();
    assert_eq!(writes, [], "a quiet resync writes nothing");
    assert_eq!(
        fixture.store.lock().expect("store").events().len(),
        1,
        "the error is not re-announced"
    );

    fixture.agent.pass(at(400)).await.expect("heartbeat pass");
    let writes = fixture.store.lock().expect("store").take_writes();
    assert_eq!(
        writes.len(),
        1,
        "the status heartbeat rewrites lastSyncTime: {writes:?}"
    );
    assert!(writes[0].path.ends_with("/nodeconfigs/a-n1/status"));
}

#[tokio::test]
async fn errors_that_are_gone_are_cleared_and_drift_repairs_are_announced() {
    let mut fixture = fixture(true);
    *fixture.outcome.lock().expect("outcome") = SyncOutcome {
        applied: 1,
        changes: 1,
        errors: vec![EntryError {
            kind: EntryKind::Route,
            entry: "10.0.0.0/33".to_owned(),
            message: "invalid CIDR".to_owned(),
        }],
    };
    fixture.agent.pass(at(0)).await.expect("pass");
    *fixture.outcome.lock().expect("outcome") = SyncOutcome {
        applied: 2,
        changes: 2,
        errors: vec![],
    };
    fixture.agent.pass(at(30)).await.expect("pass after fix");
    let status = stored(&fixture.store, &format!("{KOSMOS}/nodeconfigs/a-n1"))["status"].clone();
    assert_eq!(status["errors"], json!([]), "{status}");
    assert_eq!(status["failed"], 0);
    let events = fixture.store.lock().expect("store").events();
    assert!(
        events.iter().any(|(type_, reason, note)| type_ == "Normal"
            && reason == "DriftRepaired"
            && note.contains("restored 2")),
        "{events:?}"
    );
}

#[tokio::test]
async fn without_a_node_config_everything_owned_is_removed_once() {
    let mut fixture = fixture(false);
    assert_eq!(
        fixture.agent.pass(at(0)).await.expect("pass"),
        PassResult::CleanedUp(7)
    );
    assert_eq!(fixture.agent.pass(at(30)).await.expect("pass"), PassResult::Idle);
    assert_eq!(fixture.seen.lock().expect("seen").cleanups, 1);
    assert!(fixture.seen.lock().expect("seen").applied.is_empty());
}
