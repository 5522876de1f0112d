//! `reconcile` against a scripted API server (the kube-rs ApiServerVerifier
//! pattern, with an in-memory object store answering by path), checking the
//! requests it makes: the finalizer, a missing Secret giving a condition and
//! an Event, the first full apply, a steady state that writes nothing, and
//! deletion.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drmysql_api::drmysql::DRMySQL;
use drmysql_controller::metrics::ControllerMetrics;
use drmysql_controller::reconcile::observe::ObserveConfig;
use drmysql_controller::reconcile::{Context, ControllerConfig, reconcile};
use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use kube::runtime::events::{Recorder, Reporter};
use serde_json::{Value, json};

const DRMYSQL_PATH: &str = "/apis/drmysql.io/v1alpha1/namespaces/shop/drmysqls/orders";

/// One request the controller made.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    body: Value,
}

/// A tiny API server: objects by path; GET answers from the store or 404,
/// POST stores under `<collection>/<name>`, PATCH stores (apply) or echoes.
struct FakeApi {
    store: BTreeMap<String, Value>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeApi {
    fn respond(&mut self, seen: &Seen) -> (StatusCode, Value) {
        let not_found = || {
            (
                StatusCode::NOT_FOUND,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
                       "message": format!("{} not found", seen.path)}),
            )
        };
        match seen.method {
            Method::GET if seen.path.ends_with("/pods") => {
                let items: Vec<Value> = self
                    .store
                    .iter()
                    .filter(|(path, _)| path.starts_with("/api/v1/namespaces/shop/pods/"))
                    .map(|(_, value)| value.clone())
                    .collect();
                (
                    StatusCode::OK,
                    json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}),
                )
            }
            Method::GET => self
                .store
                .get(&seen.path)
                .map_or_else(not_found, |value| (StatusCode::OK, value.clone())),
            Method::POST => {
                let name = seen.body["metadata"]["name"]
                    .as_str()
                    .unwrap_or("generated")
                    .to_owned();
                self.store
                    .insert(format!("{}/{name}", seen.path), seen.body.clone());
                (StatusCode::CREATED, seen.body.clone())
            }
            Method::PATCH if seen.path == DRMYSQL_PATH => {
                // The finalizer helper's JSON patch: apply the finalizer ops.
                let mut object = self.store.get(DRMYSQL_PATH).cloned().unwrap_or_default();
                for op in seen.body.as_array().into_iter().flatten() {
                    match (op["op"].as_str(), op["path"].as_str()) {
                        (Some("add"), Some("/metadata/finalizers")) => {
                            object["metadata"]["finalizers"] = op["value"].clone()
                        }
                        (Some("add"), Some("/metadata/finalizers/-")) => {
                            if let Some(list) = object["metadata"]["finalizers"].as_array_mut() {
                                list.push(op["value"].clone());
                            }
                        }
                        (Some("remove"), Some(path)) if path.starts_with("/metadata/finalizers/") => {
                            object["metadata"]["finalizers"] = json!([]);
                        }
                        _ => {}
                    }
                }
                self.store.insert(DRMYSQL_PATH.to_owned(), object.clone());
                (StatusCode::OK, object)
            }
            Method::PATCH => {
                let mut object = seen.body.clone();
                if seen.path.ends_with("/status") {
                    let mut stored = self.store.get(DRMYSQL_PATH).cloned().unwrap_or_default();
                    stored["status"] = seen.body["status"].clone();
                    self.store.insert(DRMYSQL_PATH.to_owned(), stored.clone());
                    object = stored;
                } else {
                    self.store.insert(seen.path.clone(), object.clone());
                }
                (StatusCode::OK, object)
            }
            _ => (StatusCode::METHOD_NOT_ALLOWED, json!({})),
        }
    }
}

fn drmysql(extra: Value, finalizer: bool) -> Value {
    let mut object = json!({
        "apiVersion": "drmysql.io/v1alpha1",
        "kind": "DRMySQL",
        "metadata": {"name": "orders", "namespace": "shop", "uid": "3f0e2c1a-0000-4000-8000-000000000001",
                     "generation": 1, "resourceVersion": "7"},
        "spec": {"engine": {"image": "mariadb:11.4"}, "primary": {"node": "vm-0-7"},
                 "replicas": [{"node": "kosmos-member-tencent"}]}
    });
    if finalizer {
        object["metadata"]["finalizers"] = json!(["drmysqls.drmysql.io/cleanup"]);
    }
    merge(&mut object, extra);
    object
}

fn merge(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            for (key, value) in fields {
                merge(
                    target
                        .as_object_mut()
                        .expect("object")
                        .entry(key)
                        .or_insert(Value::Null),
                    value,
                );
            }
        }
        other => *target = other,
    }
}

fn node(name: &str, taint: bool) -> Value {
    let taints = if taint {
        json!([{"key": "kosmos.io/node", "value": "true", "effect": "NoSchedule"}])
    } else {
        json!([])
    };
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {"taints": taints}})
}

fn base_store(object: &Value) -> BTreeMap<String, Value> {
    BTreeMap::from([
        (DRMYSQL_PATH.to_owned(), object.clone()),
        ("/api/v1/nodes/vm-0-7".to_owned(), node("vm-0-7", false)),
        (
            "/api/v1/nodes/kosmos-member-tencent".to_owned(),
            node("kosmos-member-tencent", true),
        ),
    ])
}

/// Runs one reconcile of `object` against a fake API holding `store`; returns
/// the requests made, the store afterwards and the reconcile's result.
async fn run(
    object: Value,
    store: BTreeMap<String, Value>,
) -> (Vec<Seen>, BTreeMap<String, Value>, Result<(), String>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "shop");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut api = FakeApi {
        store,
        seen: Arc::clone(&seen),
    };
    let server = tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.expect("request body");
            let seen = Seen {
                method: parts.method.clone(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let (status, answer) = api.respond(&seen);
            api.seen.lock().expect("lock").push(seen);
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&answer).expect("JSON")))
                    .expect("response"),
            );
        }
        api.store
    });
    let context = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(
            client,
            Reporter {
                controller: "drmysql-test".into(),
                instance: None,
            },
        ),
        config: ControllerConfig {
            sidecar_image: "drmysql:test".into(),
            observe: ObserveConfig {
                mysql_timeout: Duration::from_millis(500),
                tunnel_timeout: Duration::from_millis(500),
            },
            resync: Duration::from_secs(10),
            concurrency: 4,
        },
        metrics: Arc::new(ControllerMetrics::default()),
    });
    let typed: DRMySQL = serde_json::from_value(object).expect("DRMySQL");
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        reconcile(Arc::new(typed), Arc::clone(&context)),
    )
    .await
    .expect("reconcile finishes");
    drop(context);
    let store = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("fake API stops")
        .expect("fake API");
    let seen = seen.lock().expect("lock").clone();
    (
        seen,
        store,
        result.map(drop).map_err(|error| format!("{error:?}")),
    )
}

fn writes(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .filter(|s| s.method != Method::GET)
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

#[tokio::test]
async fn the_first_reconcile_adds_the_finalizer_and_nothing_else() {
    let object = drmysql(json!({}), false);
    let (seen, store, ok) = run(object.clone(), base_store(&object)).await;
    ok.expect("reconcile succeeds");
    assert_eq!(writes(&seen), [format!("PATCH {DRMYSQL_PATH}")]);
    assert_eq!(
        store[DRMYSQL_PATH]["metadata"]["finalizers"],
        json!(["drmysqls.drmysql.io/cleanup"])
    );
}

#[tokio::test]
async fn a_missing_secret_gives_a_condition_and_an_event_and_touches_nothing() {
    let object = drmysql(json!({"spec": {"credentialsSecret": "vault-synced"}}), true);
    let (seen, store, ok) = run(object.clone(), base_store(&object)).await;
    ok.expect("reconcile succeeds");
    assert_eq!(
        writes(&seen),
        [
            "POST /apis/events.k8s.io/v1/namespaces/shop/events".to_owned(),
            format!("PATCH {DRMYSQL_PATH}/status")
        ]
    );
    let event = &seen
        .iter()
        .find(|s| s.method == Method::POST)
        .expect("event")
        .body;
    assert_eq!(event["reason"], "CredentialsSecretMissing");
    assert_eq!(event["type"], "Warning");
    assert!(
        event["note"]
            .as_str()
            .expect("note")
            .contains("shop/vault-synced")
    );
    let status = &store[DRMYSQL_PATH]["status"];
    assert_eq!(status["phase"], "Invalid");
    let ready = status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Ready")
        .expect("Ready");
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("InvalidSpec"))
    );
    assert_eq!(ready["observedGeneration"], 1);
}

#[tokio::test]
async fn the_first_apply_creates_every_object_and_a_steady_state_writes_nothing() {
    let object = drmysql(json!({}), true);
    let (seen, store, ok) = run(object.clone(), base_store(&object)).await;
    ok.expect("reconcile succeeds");
    let written = writes(&seen);
    for expected in [
        "POST /api/v1/namespaces/shop/secrets",
        "PATCH /api/v1/namespaces/shop/configmaps/orders-0-config",
        "PATCH /api/v1/namespaces/shop/persistentvolumeclaims/orders-1-data",
        "PATCH /api/v1/namespaces/shop/services/orders-primary",
        "PATCH /api/v1/namespaces/shop/services/orders-replicas",
        "POST /api/v1/namespaces/shop/pods",
    ] {
        assert!(
            written.iter().any(|w| w == expected),
            "missing {expected} in {written:#?}"
        );
    }
    assert_eq!(
        written
            .iter()
            .filter(|w| *w == "POST /api/v1/namespaces/shop/secrets")
            .count(),
        2,
        "credentials and sidecar token"
    );
    assert_eq!(
        written
            .iter()
            .filter(|w| *w == "POST /api/v1/namespaces/shop/pods")
            .count(),
        2
    );
    let apply = seen
        .iter()
        .find(|s| s.method == Method::PATCH && s.path.ends_with("/configmaps/orders-0-config"))
        .expect("apply");
    assert!(
        apply.query.contains("fieldManager=drmysql") && apply.query.contains("force=true"),
        "{}",
        apply.query
    );
    let credentials = &store["/api/v1/namespaces/shop/secrets/orders-credentials"];
    assert_eq!(credentials["data"].as_object().expect("data").len(), 3);
    let status = store[DRMYSQL_PATH]["status"].clone();
    assert_eq!(status["phase"], "Pending", "no Pod has an IP yet");

    // Same objects, same status: the next reconcile only reads.
    let mut settled = store.clone();
    let mut object = object;
    object["status"] = status;
    settled.insert(DRMYSQL_PATH.to_owned(), object.clone());
    let (seen, _, ok) = run(object, settled).await;
    ok.expect("reconcile succeeds");
    assert_eq!(writes(&seen), Vec::<String>::new(), "steady state");
    assert!(
        seen.iter()
            .any(|s| s.method == Method::GET && s.path.ends_with("/services/orders-primary")),
        "the steady state was compared with the live objects"
    );
}

#[tokio::test]
async fn deletion_removes_the_finalizer() {
    let object = drmysql(
        json!({"metadata": {"deletionTimestamp": "2026-11-22T05:00:00Z"}}),
        true,
    );
    let (seen, store, ok) = run(object.clone(), base_store(&object)).await;
    ok.expect("reconcile succeeds");
    assert_eq!(writes(&seen), [format!("PATCH {DRMYSQL_PATH}")]);
    let patch = &seen[0].body;
    assert!(
        patch
            .as_array()
            .expect("JSON patch")
            .iter()
            .any(|op| op["op"] == "remove"),
        "{patch}"
    );
    assert_eq!(store[DRMYSQL_PATH]["metadata"]["finalizers"], json!([]));
}

/// The whole pipeline against real servers: two `mariadbd` on 127.0.0.2:3306
/// and 127.0.0.3:3306 standing for the instances' pod IPs, each with its real
/// sidecar on port 9104, and the scripted API server holding the DRMySQL, its
/// Secrets and its Pods. Reconciles until the DRMySQL is Running: the primary
/// made writable, the replica wired to it, lag measured, the tunnel checked
/// both ways.
#[tokio::test]
async fn the_pipeline_wires_real_servers_until_running() {
    use drmysql_controller::sidecar::{Sidecar, SidecarConfig};
    use drmysql_mysql::testing::{MariaDb, ROOT_PASSWORD, ServerOptions};

    let hosts = ["127.0.0.2", "127.0.0.3"];
    let mut servers = Vec::new();
    let mut sidecars = Vec::new();
    let mut podinfos = Vec::new();
    for (index, host) in hosts.iter().enumerate() {
        let server = MariaDb::start(ServerOptions {
            read_only: true,
            bind_address: (*host).to_owned(),
            port: Some(3306),
            ..ServerOptions::new(index as u32 + 1)
        })
        .await
        .unwrap_or_else(|error| panic!("a test server on {host}:3306: {error}"));
        let podinfo = tempfile::tempdir().expect("tempdir");
        let role = if index == 0 { "primary" } else { "replica" };
        std::fs::write(
            podinfo.path().join("labels"),
            format!("drmysql.io/role=\"{role}\"\n"),
        )
        .expect("labels");
        let sidecar = Sidecar::start(SidecarConfig {
            namespace: "shop".into(),
            cluster: "orders".into(),
            instance: format!("orders-{index}"),
            podinfo_dir: podinfo.path().to_path_buf(),
            mysql_host: (*host).to_owned(),
            mysql_port: 3306,
            listen: format!("{host}:9104").parse().expect("address"),
            heartbeat_interval: Duration::from_millis(200),
            ready_max_lag: Duration::from_secs(5),
            heartbeat_user: "drmysql_heartbeat".into(),
            heartbeat_password: "hb-pw".into(),
            token: "sidecar-token".into(),
            timeout: Duration::from_secs(2),
        })
        .await
        .unwrap_or_else(|error| panic!("a sidecar on {host}:9104: {error}"));
        servers.push(server);
        sidecars.push(sidecar);
        podinfos.push(podinfo);
    }

    let object = drmysql(json!({"spec": {"lag": {"heartbeatIntervalMillis": 200}}}), true);
    let mut store = base_store(&object);
    let secret = |name: &str, data: Value| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "shop"}, "data": data});
    let b64 = |text: &str| {
        use std::fmt::Write;
        // Minimal standard base64 for the fixture values.
        const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let bytes = text.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    let _ = write!(out, "{}", TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    };
    store.insert(
        "/api/v1/namespaces/shop/secrets/orders-credentials".into(),
        secret(
            "orders-credentials",
            json!({"root-password": b64(ROOT_PASSWORD), "replication-password": b64("repl-pw"), "heartbeat-password": b64("hb-pw")}),
        ),
    );
    store.insert(
        "/api/v1/namespaces/shop/secrets/orders-sidecar".into(),
        secret("orders-sidecar", json!({"token": b64("sidecar-token")})),
    );
    for (index, (host, node)) in hosts.iter().zip(["vm-0-7", "kosmos-member-tencent"]).enumerate() {
        let role = if index == 0 { "primary" } else { "replica" };
        store.insert(
            format!("/api/v1/namespaces/shop/pods/orders-{index}"),
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": format!("orders-{index}"), "namespace": "shop",
                                "labels": {"drmysql.io/cluster": "orders", "drmysql.io/role": role}},
                   "spec": {"nodeName": node, "containers": []},
                   "status": {"podIP": host, "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
    }

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut object = object;
    let status = loop {
        let (_, after, result) = run(object.clone(), store).await;
        result.expect("reconcile succeeds");
        store = after;
        object = store[DRMYSQL_PATH].clone();
        let status = object["status"].clone();
        if status["phase"] == "Running" {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never Running; last status {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let condition = |kind: &str| {
        status["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .find(|c| c["type"] == kind)
            .expect("condition")
            .clone()
    };
    for kind in ["Ready", "TunnelReachable", "Replicating", "LagWithinThreshold"] {
        assert_eq!(condition(kind)["status"], "True", "{kind}: {:#}", condition(kind));
    }
    assert_eq!(status["currentPrimary"], "orders-0");
    assert_eq!(status["primaryNode"], "vm-0-7");
    assert_eq!(status["tunnelState"], "Reachable");
    let tunnel = status["tunnel"].as_array().expect("tunnel");
    assert_eq!(tunnel.len(), 2, "both directions");
    assert!(
        tunnel
            .iter()
            .all(|check| check["reachable"] == true && check["rttMs"].as_f64().is_some())
    );
    assert_eq!(status["instances"][1]["ioThread"], "Running");
    assert_eq!(status["instances"][0]["readOnly"], false);
    assert_eq!(status["instances"][1]["readOnly"], true);
    assert!(
        status["instances"][1]["lagSeconds"]
            .as_f64()
            .is_some_and(|lag| lag < 1.0),
        "{status:#}"
    );
    let replica = servers[1]
        .connect()
        .await
        .expect("connects")
        .observe()
        .await
        .expect("observed");
    assert!(
        replica
            .replica
            .is_some_and(|r| r.replicating() && r.source_host == "127.0.0.2")
    );
    drop(sidecars);
    drop(podinfos);
}
