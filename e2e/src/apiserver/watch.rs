//! Watches: `?watch=true`, a chunked stream of JSON `WatchEvent` lines.
//!
//! kube's watcher lists, then watches from the list's resourceVersion with
//! `allowWatchBookmarks=true`, resumes from the last version it saw, and
//! relists on 410. The simulator replays the history after the version asked
//! for, or (without a version, with "0", or with `sendInitialEvents=true`)
//! sends the current objects as ADDED. Bookmarks are sent after the replay
//! (with the `k8s.io/initial-events-end` annotation for streaming lists) and
//! periodically; their resourceVersion is the newest change this watch has
//! received, so that no event before it is ever skipped on resume. A change
//! that moves an object into or out of the selectors is sent as ADDED or
//! DELETED, as the real watch cache does. A version older than the history
//! (or a watch that falls behind, or `expire_watches`) gets an ERROR event
//! with a 410 `Expired` Status; a version newer than the server's is a 504.

use super::convert::to_wire;
use super::error::ApiError;
use super::meta;
use super::registry::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::server::{Body, Shared};
use super::store::{Change, ChangeType, Resume};
use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// What a watch asks for.
#[derive(Clone, Debug)]
pub(crate) struct WatchRequest {
    pub rt: ResourceType,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Duration,
    pub metadata_only: bool,
}

impl WatchRequest {
    fn in_scope(&self, object: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| meta::namespace(object) == ns)
            && self.labels.matches(&meta::labels(object))
            && self.fields.matches(object)
    }

    fn shape(&self, object: Value) -> Value {
        if self.metadata_only {
            json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
            })
        } else {
            object
        }
    }

    /// The event `change` means for this watch, if any.
    fn event_for(&self, change: &Change) -> Option<Bytes> {
        if change.storage != self.rt.storage {
            return None;
        }
        let new = to_wire(&self.rt, &change.object);
        let old = change
            .previous
            .as_ref()
            .map(|previous| to_wire(&self.rt, previous));
        let kind = match change.kind {
            ChangeType::Added => self.in_scope(&new).then_some("ADDED"),
            ChangeType::Deleted => self.in_scope(&new).then_some("DELETED"),
            ChangeType::Modified => {
                let was = old.as_ref().is_some_and(|old| self.in_scope(old));
                match (was, self.in_scope(&new)) {
                    (true, true) => Some("MODIFIED"),
                    (false, true) => Some("ADDED"),
                    (true, false) => Some("DELETED"),
                    (false, false) => None,
                }
            }
        }?;
        Some(line(kind, self.shape(new)))
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let (kind, api_version) = if self.metadata_only {
            ("PartialObjectMetadata".to_owned(), "meta.k8s.io/v1".to_owned())
        } else {
            (self.rt.kind.clone(), self.rt.api_version())
        };
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            json!({"kind": kind, "apiVersion": api_version, "metadata": metadata}),
        )
    }
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn expired_line(message: String) -> Bytes {
    line("ERROR", ApiError::expired(message).status())
}

fn parse_rv(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "resourceVersion: Invalid value: \"{text}\": must be a non-negative integer issued by this server"
        ))
    })
}

/// How the stream starts.
struct Start {
    lines: Vec<Bytes>,
    from: u64,
    end_of_initial_events: bool,
    expired: bool,
}

/// Starts a watch; the response streams until the timeout, a 410, shutdown
/// or the client going away.
pub(crate) async fn watch(
    shared: Arc<Shared>,
    request: WatchRequest,
) -> Result<http::Response<Body>, ApiError> {
    if request.send_initial_events {
        if request.resource_version_match.as_deref() != Some("NotOlderThan") {
            return Err(ApiError::unprocessable(
                "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !request.bookmarks {
            return Err(ApiError::unprocessable(
                "allowWatchBookmarks: Forbidden: sendInitialEvents requires allowWatchBookmarks=true",
            ));
        }
    } else if request
        .resource_version_match
        .as_deref()
        .is_some_and(|m| !m.is_empty())
    {
        return Err(ApiError::unprocessable(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ));
    }
    let (start, changes, expiry) = {
        let store = shared.store.read().await;
        let (changes, expiry) = store.subscribe();
        let current = store.current_rv();
        let asked = match request.resource_version.as_deref() {
            None | Some("") | Some("0") => None,
            Some(text) => Some(parse_rv(text)?),
        };
        let start = if request.send_initial_events || asked.is_none() {
            if let Some(asked) = asked
                && asked > current
            {
                return Err(ApiError::too_large_resource_version(asked, current));
            }
            let lines = store
                .list(&request.rt.storage, request.namespace.as_deref())
                .map(|stored| to_wire(&request.rt, stored))
                .filter(|object| request.in_scope(object))
                .map(|object| line("ADDED", request.shape(object)))
                .collect();
            Start {
                lines,
                from: current,
                end_of_initial_events: request.send_initial_events,
                expired: false,
            }
        } else {
            let asked = asked.unwrap_or_default();
            match store.changes_since(asked) {
                Ok(history) => Start {
                    lines: history
                        .iter()
                        .filter_map(|change| request.event_for(change))
                        .collect(),
                    from: current,
                    end_of_initial_events: false,
                    expired: false,
                },
                Err(Resume::TooOld { compacted }) => Start {
                    lines: vec![expired_line(format!(
                        "too old resource version: {asked} ({compacted})"
                    ))],
                    from: current,
                    end_of_initial_events: false,
                    expired: true,
                },
                Err(Resume::TooNew { current }) => {
                    return Err(ApiError::too_large_resource_version(asked, current));
                }
            }
        };
        (start, changes, expiry)
    };
    let (sender, receiver) = mpsc::channel::<Bytes>(256);
    let shutdown = shared.shutdown.clone();
    // A zero period would make the ticker panic; the real server's is about a minute.
    let bookmark_interval = shared.config.bookmark_interval.max(Duration::from_millis(10));
    tokio::spawn(stream(
        request,
        start,
        changes,
        expiry,
        shutdown,
        sender,
        bookmark_interval,
    ));
    Ok(super::server::streaming_response(receiver))
}

async fn stream(
    request: WatchRequest,
    start: Start,
    mut changes: broadcast::Receiver<Arc<Change>>,
    mut expiry: tokio::sync::watch::Receiver<u64>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    sender: mpsc::Sender<Bytes>,
    bookmark_interval: Duration,
) {
    for line in start.lines {
        if sender.send(line).await.is_err() {
            return;
        }
    }
    if start.expired {
        return;
    }
    let mut seen = start.from;
    if request.bookmarks
        && sender
            .send(request.bookmark(seen, start.end_of_initial_events))
            .await
            .is_err()
    {
        return;
    }
    let deadline = tokio::time::sleep(request.timeout);
    tokio::pin!(deadline);
    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + bookmark_interval, bookmark_interval);
    loop {
        tokio::select! {
            () = &mut deadline => return,
            () = sender.closed() => return,
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
            changed = expiry.changed() => {
                if changed.is_ok() {
                    let _ = sender.send(expired_line(format!(
                        "too old resource version: {seen}: the API simulator expired every open watch"
                    ))).await;
                }
                return;
            }
            _ = ticker.tick(), if request.bookmarks => {
                if sender.send(request.bookmark(seen, false)).await.is_err() {
                    return;
                }
            }
            received = changes.recv() => match received {
                Ok(change) => {
                    if change.rv <= start.from {
                        continue;
                    }
                    seen = change.rv;
                    if let Some(event) = request.event_for(&change)
                        && sender.send(event).await.is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    let _ = sender.send(expired_line(format!(
                        "too old resource version: {seen}: the watch fell {skipped} changes behind"
                    ))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::registry::Registry;

    fn request(labels: &str) -> WatchRequest {
        let registry = Registry::new();
        WatchRequest {
            rt: registry.find("", "v1", "pods").expect("pods").clone(),
            namespace: Some("default".to_owned()),
            labels: LabelSelector::parse(labels).expect("selector"),
            fields: FieldSelector::default(),
            resource_version: None,
            resource_version_match: None,
            bookmarks: true,
            send_initial_events: false,
            timeout: Duration::from_secs(1),
            metadata_only: false,
        }
    }

    fn pod(role: &str) -> Value {
        json!({"metadata": {"name": "p", "namespace": "default", "labels": {"role": role}, "resourceVersion": "2"}})
    }

    fn event_type(bytes: &Bytes) -> String {
        let value: Value = serde_json::from_slice(bytes).expect("json line");
        value["type"].as_str().unwrap_or_default().to_owned()
    }

    #[test]
    fn leaving_or_entering_the_selector_is_a_delete_or_an_add() {
        let watch = request("role=primary");
        let change = |old: &str, new: &str| Change {
            rv: 2,
            kind: ChangeType::Modified,
            storage: watch.rt.storage.clone(),
            object: pod(new),
            previous: Some(pod(old)),
        };
        let kind = |c: Change| watch.event_for(&c).map(|bytes| event_type(&bytes));
        assert_eq!(kind(change("primary", "primary")).as_deref(), Some("MODIFIED"));
        assert_eq!(kind(change("replica", "primary")).as_deref(), Some("ADDED"));
        assert_eq!(kind(change("primary", "replica")).as_deref(), Some("DELETED"));
        assert_eq!(kind(change("replica", "replica")), None);
    }

    #[test]
    fn bookmarks_carry_the_version_and_the_initial_events_marker() {
        let watch = request("");
        let value: Value = serde_json::from_slice(&watch.bookmark(7, true)).expect("json");
        assert_eq!(value["type"], "BOOKMARK");
        assert_eq!(value["object"]["kind"], "Pod");
        assert_eq!(value["object"]["metadata"]["resourceVersion"], "7");
        assert_eq!(
            value["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
            "true"
        );
    }

    #[test]
    fn an_expired_line_is_a_410_status() {
        let value: Value = serde_json::from_slice(&expired_line("gone".to_owned())).expect("json");
        assert_eq!(value["type"], "ERROR");
        assert_eq!(value["object"]["code"], 410);
        assert_eq!(value["object"]["reason"], "Expired");
    }
}
