//! Watches against the API simulator: kube's `watcher` (list then watch, and
//! streaming lists) sees applies and deletes, relists after a forced 410,
//! resumes from a kept resourceVersion, and gets bookmarks.

mod apiserver_support;

use apiserver_support::{start, start_with};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;

fn describe(event: Result<watcher::Event<ConfigMap>, watcher::Error>) -> String {
    let name = |object: &ConfigMap| object.metadata.name.clone().unwrap_or_default();
    match event {
        Ok(watcher::Event::Init) => "init".to_owned(),
        Ok(watcher::Event::InitApply(object)) => format!("init-apply:{}", name(&object)),
        Ok(watcher::Event::InitDone) => "init-done".to_owned(),
        Ok(watcher::Event::Apply(object)) => format!("apply:{}", name(&object)),
        Ok(watcher::Event::Delete(object)) => format!("delete:{}", name(&object)),
        Err(watcher::Error::WatchError(status)) => format!("error:{}", status.code),
        Err(other) => format!("error:{other}"),
    }
}

/// Runs a watcher in the background, reporting each event as a short string.
fn spawn_watcher(api: Api<ConfigMap>, config: watcher::Config) -> mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = watcher(api, config).default_backoff().boxed();
        while let Some(event) = stream.next().await {
            if sender.send(describe(event)).is_err() {
                return;
            }
        }
    });
    receiver
}

async fn expect_events(receiver: &mut mpsc::UnboundedReceiver<String>, expected: &[&str]) {
    for want in expected {
        let got = tokio::time::timeout(Duration::from_secs(10), receiver.recv())
            .await
            .unwrap_or_else(|_| panic!("no watcher event within 10 s; expected {want}"))
            .expect("the watcher keeps running");
        assert_eq!(&got, want, "expected the sequence {expected:?}");
    }
}

/// A GET over a raw connection: kube's client retries 504s, this does not.
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response.as_str(), ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

fn configmap(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

#[tokio::test]
async fn a_watcher_sees_applies_and_deletes_and_relists_after_a_forced_410() {
    let (server, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.patch(
        "before",
        &PatchParams::apply("test"),
        &Patch::Apply(configmap("before")),
    )
    .await
    .expect("apply before");
    let mut events = spawn_watcher(api.clone(), watcher::Config::default());
    expect_events(&mut events, &["init", "init-apply:before", "init-done"]).await;

    api.patch("a", &PatchParams::apply("test"), &Patch::Apply(configmap("a")))
        .await
        .expect("apply a");
    expect_events(&mut events, &["apply:a"]).await;
    api.delete("a", &DeleteParams::default()).await.expect("delete a");
    expect_events(&mut events, &["delete:a"]).await;

    server.expire_watches().await;
    expect_events(
        &mut events,
        &["error:410", "init", "init-apply:before", "init-done"],
    )
    .await;
    api.patch("b", &PatchParams::apply("test"), &Patch::Apply(configmap("b")))
        .await
        .expect("apply b");
    expect_events(&mut events, &["apply:b"]).await;
}

#[tokio::test]
async fn a_streaming_list_watcher_gets_its_initial_events_then_changes() {
    let (_server, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.patch(
        "first",
        &PatchParams::apply("test"),
        &Patch::Apply(configmap("first")),
    )
    .await
    .expect("apply");
    let mut events = spawn_watcher(api.clone(), watcher::Config::default().streaming_lists());
    expect_events(&mut events, &["init-apply:first", "init-done"]).await;
    api.patch(
        "second",
        &PatchParams::apply("test"),
        &Patch::Apply(configmap("second")),
    )
    .await
    .expect("apply");
    expect_events(&mut events, &["apply:second"]).await;
}

#[tokio::test]
async fn a_watch_resumes_from_a_kept_version_and_gets_410_for_a_compacted_one() {
    let (server, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(configmap("one")).expect("cm"),
        )
        .await
        .expect("one");
    let from = first.metadata.resource_version.clone().expect("rv");
    api.create(
        &PostParams::default(),
        &serde_json::from_value(configmap("two")).expect("cm"),
    )
    .await
    .expect("two");
    let params = WatchParams::default().timeout(5);
    let mut resumed = api.watch(&params, &from).await.expect("watch").boxed();
    match resumed.try_next().await.expect("an event") {
        Some(WatchEvent::Added(object)) => assert_eq!(object.metadata.name.as_deref(), Some("two")),
        other => panic!("expected ADDED two, got {other:?}"),
    }

    server.expire_watches().await;
    let mut expired = api.watch(&params, &from).await.expect("watch").boxed();
    match expired.try_next().await.expect("an event") {
        Some(WatchEvent::Error(status)) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }

    let (status, body) = raw_get(
        server.addr(),
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=999999",
    )
    .await;
    assert!(status.contains(" 504 "), "{status}");
    assert!(body.contains("Too large resource version: 999999"), "{body}");
}

#[tokio::test]
async fn bookmarks_come_after_the_replay_and_periodically() {
    let (_server, client) = start_with(|config| {
        let mut config = config;
        config.bookmark_interval = Duration::from_millis(200);
        config
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let params = WatchParams::default().timeout(3);
    assert!(params.bookmarks, "kube asks for bookmarks by default");
    let mut stream = api.watch(&params, "0").await.expect("watch").boxed();
    let mut bookmarks = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while bookmarks < 3 && tokio::time::Instant::now() < deadline {
        if let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(1), stream.try_next())
            .await
            .expect("in time")
            && let WatchEvent::Bookmark(bookmark) = event
        {
            assert!(bookmark.metadata.resource_version.parse::<u64>().is_ok());
            bookmarks += 1;
        }
    }
    assert_eq!(
        bookmarks, 3,
        "one after the (empty) replay, then one per interval"
    );
}

#[tokio::test]
async fn a_label_selected_watch_sees_objects_enter_and_leave_the_selection() {
    let (_server, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let params = WatchParams::default().labels("role=primary").timeout(5);
    let mut stream = api.watch(&params, "0").await.expect("watch").boxed();
    let labelled = |role: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m", "labels": {"role": role}}});
    api.patch(
        "m",
        &PatchParams::apply("test"),
        &Patch::Apply(labelled("replica")),
    )
    .await
    .expect("replica");
    api.patch(
        "m",
        &PatchParams::apply("test"),
        &Patch::Apply(labelled("primary")),
    )
    .await
    .expect("primary");
    api.patch(
        "m",
        &PatchParams::apply("test"),
        &Patch::Apply(labelled("replica")),
    )
    .await
    .expect("replica again");
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        match stream.try_next().await.expect("event") {
            Some(WatchEvent::Added(_)) => kinds.push("ADDED"),
            Some(WatchEvent::Deleted(_)) => kinds.push("DELETED"),
            Some(WatchEvent::Modified(_)) => kinds.push("MODIFIED"),
            Some(WatchEvent::Bookmark(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kinds, vec!["ADDED", "DELETED"]);
}

async fn reconcile(
    object: std::sync::Arc<drmysql_api::drmysql::DRMySQL>,
    client: std::sync::Arc<kube::Client>,
) -> Result<kube::runtime::controller::Action, kube::Error> {
    use kube::{Resource, ResourceExt};
    let name = object.name_any();
    let namespace = object.namespace().unwrap_or_else(|| "default".to_owned());
    let owner = object
        .controller_owner_ref(&())
        .expect("a stored DRMySQL has a name and a uid");
    let maps: Api<ConfigMap> = Api::namespaced(client.as_ref().clone(), &namespace);
    let config_name = format!("{name}-config");
    maps.patch(
        &config_name,
        &PatchParams::apply("test-controller").force(),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": config_name, "ownerReferences": [owner]}, "data": {"k": "v"}})),
    )
    .await?;
    let drmysqls: Api<drmysql_api::drmysql::DRMySQL> = Api::namespaced(client.as_ref().clone(), &namespace);
    drmysqls
        .patch_status(
            &name,
            &PatchParams::apply("test-controller").force(),
            &Patch::Apply(json!({"apiVersion": "drmysql.io/v1alpha1", "kind": "DRMySQL",
                "status": {"observedGeneration": object.metadata.generation, "phase": "Running"}})),
        )
        .await?;
    Ok(kube::runtime::controller::Action::await_change())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_reconciles_owned_objects_and_status() {
    use kube::runtime::Controller;
    let (_server, client) = start().await;
    let drmysqls: Api<drmysql_api::drmysql::DRMySQL> = Api::namespaced(client.clone(), "default");
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let controller = Controller::new(drmysqls.clone(), watcher::Config::default())
        .owns(maps.clone(), watcher::Config::default())
        .run(
            reconcile,
            |_, _, _| kube::runtime::controller::Action::requeue(Duration::from_millis(200)),
            std::sync::Arc::new(client.clone()),
        )
        .for_each(|_| async {});
    tokio::spawn(controller);

    let object: drmysql_api::drmysql::DRMySQL =
        serde_json::from_value(apiserver_support::basic_drmysql("orders")).expect("DRMySQL");
    drmysqls
        .create(&PostParams::default(), &object)
        .await
        .expect("create");
    let observed = |generation: i64| {
        let drmysqls = drmysqls.clone();
        async move {
            let current = drmysqls.get("orders").await.ok()?;
            let status = serde_json::to_value(current.status?).ok()?;
            (status["observedGeneration"].as_i64() == Some(generation)).then_some(())
        }
    };
    apiserver_support::eventually("the first reconcile", Duration::from_secs(10), || observed(1)).await;
    assert!(maps.get_opt("orders-config").await.expect("get").is_some());

    drmysqls
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"lag": {"alertThresholdSeconds": 60}}})),
        )
        .await
        .expect("spec change");
    apiserver_support::eventually("a reconcile of generation 2", Duration::from_secs(10), || {
        observed(2)
    })
    .await;

    maps.delete("orders-config", &DeleteParams::default())
        .await
        .expect("delete the owned object");
    apiserver_support::eventually("the owned object recreated", Duration::from_secs(10), || {
        let maps = maps.clone();
        async move { maps.get_opt("orders-config").await.ok()? }
    })
    .await;
}
