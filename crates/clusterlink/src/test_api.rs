//! An in-memory API server for the unit tests of the crate's controllers (a
//! real `kube::Client` over `tower-test`): objects by path, lists with label
//! selectors, creates, server-side apply, JSON merge and strategic
//! merge patches (both merged as RFC 7386, which is exact for the objects used
//! here: no lists are patched strategically), of the main resource and of
//! status, and deletes; every write is recorded with its query, content type
//! and body, and every read path too. Server-side apply is merged without
//! field ownership, so field-manager conflicts are not simulated. Watches and
//! anything else are answered 501, never guessed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

/// One write a sync made.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Write {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

/// The fake server's state.
#[derive(Default)]
pub(crate) struct Store {
    pub objects: BTreeMap<String, Value>,
    /// Writes other than Events, in order.
    pub writes: Vec<Write>,
    /// Event writes (`events.k8s.io`), in order, kept apart so that tests can
    /// count object writes exactly.
    pub event_writes: Vec<Write>,
    /// Collections whose resource is not installed (404 on list).
    pub absent: BTreeSet<String>,
    /// Paths whose reads fail with 500.
    pub failing: BTreeSet<String>,
    /// Paths read, in order.
    pub reads: Vec<String>,
    /// Serve lists with a stale resourceVersion ("0") on every item, so that
    /// a patch carrying it conflicts.
    pub stale_lists: bool,
    next_version: u64,
}

pub(crate) type Shared = Arc<Mutex<Store>>;

/// A client talking to a fresh fake server, and the server's state.
pub(crate) fn fake_api() -> (kube::Client, Shared) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let store: Shared = Arc::default();
    let shared = Arc::clone(&store);
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.expect("request body");
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let content_type = parts
                .headers
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let path = parts.uri.path().to_owned();
            let query = parts.uri.query().unwrap_or_default().to_owned();
            let (status, answer) = {
                let mut store = shared.lock().expect("store");
                store.answer(&parts.method, &path, &query, &content_type, body)
            };
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&answer).expect("json")))
                .expect("response");
            send.send_response(response);
        }
    });
    (kube::Client::new(service, "default"), store)
}

fn status(code: StatusCode, reason: &str, message: &str) -> (StatusCode, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code.as_u16(), "message": message}),
    )
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            for (key, value) in fields {
                if value.is_null() {
                    if let Some(object) = target.as_object_mut() {
                        object.remove(key);
                    }
                } else {
                    merge(&mut target[key.as_str()], value);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("percent escape"));
                index += 3;
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).expect("utf-8 query")
}

/// Whether a path names a collection (`.../plural` or
/// `.../namespaces/<ns>/plural`) rather than one object.
fn is_collection(path: &str) -> bool {
    let rest = if let Some(rest) = path.strip_prefix("/api/v1/") {
        rest
    } else if let Some(rest) = path.strip_prefix("/apis/") {
        rest.splitn(3, '/').nth(2).unwrap_or_default()
    } else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    matches!(segments.as_slice(), [_] | ["namespaces", _, _])
}

fn label_selector(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| *key == "labelSelector")
        .flat_map(|(_, value)| {
            decode(value)
                .split(',')
                .filter_map(|term| term.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect::<Vec<_>>()
        })
        .collect()
}

impl Store {
    /// Puts an object at its path, as the test's starting state.
    pub(crate) fn put(&mut self, path: &str, object: Value) {
        self.objects.insert(path.to_owned(), object);
    }

    /// The writes other than Events made since the last call.
    pub(crate) fn take_writes(&mut self) -> Vec<Write> {
        std::mem::take(&mut self.writes)
    }

    /// The Events published so far, as (type, reason, note).
    pub(crate) fn events(&self) -> Vec<(String, String, String)> {
        self.event_writes
            .iter()
            .filter(|write| write.method == Method::POST)
            .map(|write| {
                let text = |key: &str| write.body[key].as_str().unwrap_or_default().to_owned();
                (text("type"), text("reason"), text("note"))
            })
            .collect()
    }

    fn bump(&mut self, object: &mut Value) {
        self.next_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.next_version.to_string());
    }

    fn answer(
        &mut self,
        method: &Method,
        path: &str,
        query: &str,
        content_type: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        if query.contains("watch=true") {
            return status(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "watch is not implemented",
            );
        }
        match *method {
            Method::GET => {
                self.reads.push(path.to_owned());
                self.get(path, query)
            }
            Method::PATCH | Method::DELETE | Method::POST => {
                let write = Write {
                    method: method.clone(),
                    path: path.to_owned(),
                    query: decode(query),
                    content_type: content_type.to_owned(),
                    body: body.clone(),
                };
                if path.starts_with("/apis/events.k8s.io/") {
                    self.event_writes.push(write);
                } else {
                    self.writes.push(write);
                }
                match *method {
                    Method::DELETE => match self.objects.remove(path) {
                        Some(object) => (StatusCode::OK, object),
                        None => status(StatusCode::NOT_FOUND, "NotFound", "not found"),
                    },
                    Method::POST => self.create(path, body),
                    _ => self.patch(path, content_type, body),
                }
            }
            _ => status(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                &format!("{method} {path}"),
            ),
        }
    }

    fn get(&self, path: &str, query: &str) -> (StatusCode, Value) {
        if self.failing.contains(path) {
            return status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "injected failure",
            );
        }
        if let Some(object) = self.objects.get(path) {
            return (StatusCode::OK, object.clone());
        }
        if !is_collection(path) {
            return status(StatusCode::NOT_FOUND, "NotFound", "not found");
        }
        if self.absent.contains(path) {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            );
        }
        let prefix = format!("{path}/");
        let selector = label_selector(query);
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|(key, _)| key.strip_prefix(&prefix).is_some_and(|rest| !rest.contains('/')))
            .filter(|(_, object)| {
                selector
                    .iter()
                    .all(|(key, value)| object["metadata"]["labels"][key.as_str()] == json!(value))
            })
            .map(|(_, object)| {
                let mut object = object.clone();
                if self.stale_lists {
                    object["metadata"]["resourceVersion"] = json!("0");
                }
                object
            })
            .collect();
        (
            StatusCode::OK,
            json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items}),
        )
    }

    fn create(&mut self, path: &str, mut body: Value) -> (StatusCode, Value) {
        let Some(name) = body["metadata"]["name"].as_str().map(str::to_owned) else {
            return status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                "metadata.name is required",
            );
        };
        let object_path = format!("{path}/{name}");
        if self.objects.contains_key(&object_path) {
            return status(StatusCode::CONFLICT, "AlreadyExists", "already exists");
        }
        self.bump(&mut body);
        self.objects.insert(object_path, body.clone());
        (StatusCode::CREATED, body)
    }

    fn patch(&mut self, path: &str, content_type: &str, body: Value) -> (StatusCode, Value) {
        let (object_path, subresource) = match path.strip_suffix("/status") {
            Some(object_path) => (object_path.to_owned(), true),
            None => (path.to_owned(), false),
        };
        let apply = content_type.starts_with("application/apply-patch");
        let existing = self.objects.get(&object_path).cloned();
        let mut object = match (existing, apply && !subresource) {
            (Some(object), _) => object,
            (None, true) => json!({}),
            (None, false) => return status(StatusCode::NOT_FOUND, "NotFound", "not found"),
        };
        if let (Some(expected), Some(actual)) = (
            body["metadata"]["resourceVersion"].as_str(),
            object["metadata"]["resourceVersion"].as_str(),
        ) && expected != actual
        {
            return status(StatusCode::CONFLICT, "Conflict", "the object has been modified");
        }
        if subresource {
            merge(&mut object["status"], &body["status"]);
        } else {
            let mut body = body;
            if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.remove("resourceVersion");
            }
            merge(&mut object, &body);
        }
        self.bump(&mut object);
        self.objects.insert(object_path, object.clone());
        (StatusCode::OK, object)
    }
}
