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
