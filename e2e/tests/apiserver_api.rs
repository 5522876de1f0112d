//! The API simulator through a real kube 4 client built from its kubeconfig:
//! reads, writes, server-side apply, the status subresource and generation,
//! deletion with finalizers and propagation, namespace cascade,
//! EndpointSlices, and the honest 501s.

mod apiserver_support;

use apiserver_support::{api_error, basic_drmysql, eventually, start};
use drmysql_api::drmysql::DRMySQL;
use futures::TryFutureExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams,
    PropagationPolicy,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn configmap(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"key": "value"}
    }))
    .expect("a ConfigMap")
}

fn owned_by<K: Resource<DynamicType = ()>>(mut object: Value, owner: &K) -> Value {
    object["metadata"]["ownerReferences"] = json!([{
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "name": owner.meta().name,
        "uid": owner.meta().uid,
        "controller": true,
        "blockOwnerDeletion": true,
    }]);
    object
}

#[tokio::test]
async fn create_get_list_replace_and_delete_like_a_real_server() {
    let (_server, client) = start().await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = maps
        .create(
            &PostParams::default(),
            &configmap("a", json!({"app": "orders", "role": "primary"})),
        )
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some(), "a uid is assigned");
    assert!(
        created.metadata.creation_timestamp.is_some(),
        "creationTimestamp is set"
    );
    assert_eq!(created.metadata.generation, Some(1));
    let first_rv: u64 = created
        .resource_version()
        .expect("rv")
        .parse()
        .expect("numeric rv");

    let duplicate = maps
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .expect_err("a second create of the same name");
    let (code, reason, message) = api_error(&duplicate);
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(message, "configmaps \"a\" already exists");

    maps.create(
        &PostParams::default(),
        &configmap("b", json!({"app": "orders", "role": "replica"})),
    )
    .await
    .expect("create b");
    maps.create(&PostParams::default(), &configmap("c", json!({"app": "other"})))
        .await
        .expect("create c");
    let names =
        |list: kube::core::ObjectList<ConfigMap>| list.items.iter().map(|m| m.name_any()).collect::<Vec<_>>();
    let select = |selector: &'static str| {
        let maps = maps.clone();
        async move {
            maps.list(&ListParams::default().labels(selector))
                .await
                .expect(selector)
        }
    };
    assert_eq!(names(select("app=orders").await), vec!["a", "b"]);
    assert_eq!(names(select("role in (primary, replica)").await), vec!["a", "b"]);
    assert_eq!(names(select("role notin (primary)").await), vec!["b", "c"]);
    assert_eq!(names(select("app!=orders").await), vec!["c"]);
    assert_eq!(names(select("!role").await), vec!["c"]);
    assert_eq!(names(select("role").await), vec!["a", "b"]);
    let by_name = maps
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .expect("field selector");
    assert_eq!(names(by_name), vec!["b"]);
    let paged = maps.list(&ListParams::default().limit(1)).await.expect("limit");
    assert_eq!(
        paged.items.len(),
        3,
        "lists are never paged: every item, no continue token"
    );
    assert!(paged.metadata.continue_.as_deref().unwrap_or_default().is_empty());
    let unsupported = maps
        .list(&ListParams::default().fields("data.key=value"))
        .await
        .expect_err("unsupported field selector");
    assert_eq!(api_error(&unsupported).0, 400);

    let generated = maps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).expect("cm"),
        )
        .await
        .expect("generateName");
    let generated_name = generated.name_any();
    assert!(
        generated_name.starts_with("gen-") && generated_name.len() == 9,
        "{generated_name}"
    );

    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    maps.create(&dry_run, &configmap("dry", json!({})))
        .await
        .expect("dry-run create");
    assert!(
        maps.get_opt("dry").await.expect("get").is_none(),
        "a dry run stores nothing"
    );

    let mut stale = created.clone();
    stale.data = Some([("key".to_owned(), "new".to_owned())].into());
    let replaced = maps
        .replace("a", &PostParams::default(), &stale)
        .await
        .expect("replace");
    let replaced_rv: u64 = replaced.resource_version().expect("rv").parse().expect("numeric");
    assert!(
        replaced_rv > first_rv,
        "every write takes a newer resourceVersion"
    );
    let conflict = maps
        .replace("a", &PostParams::default(), &stale)
        .await
        .expect_err("a replace with a stale resourceVersion");
    let (code, reason, message) = api_error(&conflict);
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(message.contains("the object has been modified"), "{message}");
    let unchanged = maps
        .replace("a", &PostParams::default(), &replaced)
        .await
        .expect("no-op replace");
    assert_eq!(
        unchanged.resource_version(),
        replaced.resource_version(),
        "a no-op write is not stored"
    );

    let missing_namespace: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let error = missing_namespace
        .create(&PostParams::default(), &configmap("x", json!({})))
        .await
        .expect_err("no such namespace");
    assert_eq!(api_error(&error).2, "namespaces \"nowhere\" not found");

    let deleted = maps.delete("c", &DeleteParams::default()).await.expect("delete");
    assert!(
        deleted.is_right(),
        "an immediate delete of a built-in kind answers a Success status"
    );
    let (code, _, message) = api_error(&maps.get("c").await.expect_err("gone"));
    assert_eq!((code, message.as_str()), (404, "configmaps \"c\" not found"));
}

#[tokio::test]
async fn patches_merge_json_and_strategic() {
    let (_server, client) = start().await;
    let maps: Api<ConfigMap> = Api::namespaced(client, "default");
    maps.create(&PostParams::default(), &configmap("p", json!({"a": "1"})))
        .await
        .expect("create");
    let params = PatchParams::default();
    let merged = maps
        .patch(
            "p",
            &params,
            &Patch::Merge(json!({"metadata": {"labels": {"a": null, "b": "2"}}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(merged.labels().get("b").map(String::as_str), Some("2"));
    assert!(!merged.labels().contains_key("a"));

    let failing_test: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/labels/b", "value": "3"},
        {"op": "replace", "path": "/metadata/labels/b", "value": "4"}
    ]))
    .expect("json patch");
    let error = maps
        .patch("p", &params, &Patch::<()>::Json(failing_test))
        .await
        .expect_err("a failing test op");
    assert_eq!(api_error(&error).0, 422);
    let passing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/labels/b", "value": "2"},
        {"op": "replace", "path": "/metadata/labels/b", "value": "4"}
    ]))
    .expect("json patch");
    let patched = maps
        .patch("p", &params, &Patch::<()>::Json(passing))
        .await
        .expect("json patch");
    assert_eq!(patched.labels().get("b").map(String::as_str), Some("4"));

    let strategic = maps
        .patch(
            "p",
            &params,
            &Patch::Strategic(json!({"data": {"key": "strategic"}})),
        )
        .await
        .expect("a strategic patch without lists is a merge patch");
    assert_eq!(
        strategic.data.expect("data").get("key").map(String::as_str),
        Some("strategic")
    );
    let error = maps
        .patch(
            "p",
            &params,
            &Patch::Strategic(json!({"metadata": {"finalizers": ["x"]}})),
        )
        .await
        .expect_err("a strategic patch with a list");
    let (code, _, message) = api_error(&error);
    assert_eq!(code, 501);
    assert!(
        message.contains("PATCH /api/v1/namespaces/default/configmaps/p"),
        "{message}"
    );
}

#[tokio::test]
async fn server_side_apply_records_managers_and_conflicts_on_owned_fields() {
    let (_server, client) = start().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let lease = |holder: &str| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "leader"},
               "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15}})
    };
    let created = leases
        .patch(
            "leader",
            &PatchParams::apply("manager-a"),
            &Patch::Apply(lease("a")),
        )
        .await
        .expect("apply creates");
    let managers: Vec<(String, String)> = created
        .managed_fields()
        .iter()
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                m.operation.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(managers, vec![("manager-a".to_owned(), "Apply".to_owned())]);

    let conflict = leases
        .patch(
            "leader",
            &PatchParams::apply("manager-b"),
            &Patch::Apply(lease("b")),
        )
        .await
        .expect_err("another manager changing an owned field");
    let (code, reason, message) = api_error(&conflict);
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(
        message.contains("conflict with \"manager-a\"") && message.contains(".spec.holderIdentity"),
        "{message}"
    );

    let shared = leases
        .patch(
            "leader",
            &PatchParams::apply("manager-b"),
            &Patch::Apply(lease("a")),
        )
        .await
        .expect("applying the same value shares the field");
    assert_eq!(shared.managed_fields().len(), 2);

    let forced = leases
        .patch(
            "leader",
            &PatchParams::apply("manager-b").force(),
            &Patch::Apply(lease("b")),
        )
        .await
        .expect("force takes the field over");
    assert_eq!(forced.spec.and_then(|s| s.holder_identity).as_deref(), Some("b"));

    let dropped = leases
        .patch(
            "leader",
            &PatchParams::apply("manager-b"),
            &Patch::Apply(json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "leader"},
                                  "spec": {"leaseDurationSeconds": 15}})),
        )
        .await
        .expect("apply without holderIdentity");
    let spec = dropped.spec.expect("spec");
    assert_eq!(
        spec.holder_identity, None,
        "a field no longer applied by its only owner is removed"
    );
    assert_eq!(spec.lease_duration_seconds, Some(15));

    let yaml = "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: from-yaml\nspec:\n  holderIdentity: from-yaml\n";
    let request = http::Request::patch(
        "/apis/coordination.k8s.io/v1/namespaces/default/leases/from-yaml?fieldManager=yaml",
    )
    .header("Content-Type", "application/apply-patch+yaml")
    .body(yaml.as_bytes().to_vec())
    .expect("request");
    let applied: Lease = client.request(request).await.expect("a YAML apply body");
    assert_eq!(
        applied.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("from-yaml")
    );
}

#[tokio::test]
async fn status_is_written_apart_and_generation_counts_spec_changes() {
    let (_server, client) = start().await;
    let api: Api<DRMySQL> = Api::namespaced(client.clone(), "default");
    let mut body = basic_drmysql("orders");
    body["status"] = json!({"phase": "Running"});
    let object: DRMySQL = serde_json::from_value(body).expect("a DRMySQL");
    let created = api.create(&PostParams::default(), &object).await.expect("create");
    assert!(
        created.status.is_none(),
        "status is dropped on create when it is a subresource"
    );
    assert_eq!(created.metadata.generation, Some(1));

    let with_status = api
        .patch_status(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"phase": "Running", "currentPrimary": "orders-cloud-a"},
                                  "spec": {"lag": {"alertThresholdSeconds": 99}}}),
            ),
        )
        .await
        .expect("status patch");
    let value = serde_json::to_value(&with_status).expect("json");
    assert_eq!(value["status"]["phase"], "Running");
    assert_eq!(
        value["spec"]["lag"]["alertThresholdSeconds"].as_f64(),
        Some(30.0),
        "a status write never changes spec"
    );
    assert_eq!(
        with_status.metadata.generation,
        Some(1),
        "a status write is no spec change"
    );

    let with_spec = api
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"lag": {"alertThresholdSeconds": 45}}, "status": {"phase": "Degraded"}}),
            ),
        )
        .await
        .expect("spec patch");
    let value = serde_json::to_value(&with_spec).expect("json");
    assert_eq!(value["spec"]["lag"]["alertThresholdSeconds"].as_f64(), Some(45.0));
    assert_eq!(
        value["status"]["phase"], "Running",
        "a main-resource write never changes status"
    );
    assert_eq!(with_spec.metadata.generation, Some(2));

    let labelled = api
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .expect("label patch");
    assert_eq!(
        labelled.metadata.generation,
        Some(2),
        "metadata changes do not bump generation"
    );

    let applied_status = api
        .patch_status(
            "orders",
            &PatchParams::apply("drmysql").force(),
            &Patch::Apply(json!({"apiVersion": "drmysql.io/v1alpha1", "kind": "DRMySQL",
                                  "status": {"phase": "Degraded", "lag": "3s"}})),
        )
        .await
        .expect("status apply");
    let value = serde_json::to_value(&applied_status).expect("json");
    assert_eq!(value["status"]["lag"], "3s");
    let entry = applied_status
        .managed_fields()
        .iter()
        .find(|m| m.manager.as_deref() == Some("drmysql"))
        .expect("the status applier is recorded");
    assert_eq!(entry.subresource.as_deref(), Some("status"));

    let invalid_status = api
        .patch_status(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Sleeping"}})),
        )
        .await
        .expect_err("status is validated against the schema");
    let (code, _, message) = api_error(&invalid_status);
    assert_eq!(code, 422);
    assert!(
        message.starts_with("DRMySQL.drmysql.io \"orders\" is invalid: status.phase: Unsupported value"),
        "{message}"
    );

    let clusters_resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kosmos.io", "v1alpha1", "Cluster"),
        "clusters",
    );
    let clusters: Api<DynamicObject> = Api::all_with(client, &clusters_resource);
    let cluster: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "member"},
        "spec": {}, "status": {"clusterLinkStatus": {}}
    }))
    .expect("a Cluster");
    let created = clusters
        .create(&PostParams::default(), &cluster)
        .await
        .expect("create Cluster");
    assert!(
        created.data.get("status").is_some(),
        "Cluster has no status subresource: status is kept"
    );
    let error = clusters
        .patch_status(
            "member",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {}})),
        )
        .await
        .expect_err("no /status for Cluster");
    assert_eq!(api_error(&error).0, 404);
}

#[tokio::test]
async fn the_finalizer_helper_holds_deletion_until_cleanup() {
    let (_server, client) = start().await;
    let api: Api<DRMySQL> = Api::namespaced(client, "default");
    let object: DRMySQL = serde_json::from_value(basic_drmysql("held")).expect("DRMySQL");
    api.create(&PostParams::default(), &object).await.expect("create");
    let name = "drmysql.io/test-cleanup";
    let reconcile = |object: Arc<DRMySQL>, cleaned: Arc<std::sync::Mutex<Vec<String>>>| {
        let api = api.clone();
        async move {
            finalizer(&api, name, object, |event| async move {
                let what = match event {
                    FinalizerEvent::Apply(_) => "apply",
                    FinalizerEvent::Cleanup(_) => "cleanup",
                };
                cleaned.lock().expect("lock").push(what.to_owned());
                Ok::<_, kube::Error>(Action::await_change())
            })
            .map_err(|error| error.to_string())
            .await
        }
    };
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    reconcile(Arc::new(api.get("held").await.expect("get")), log.clone())
        .await
        .expect("the finalizer is added");
    let with_finalizer = api.get("held").await.expect("get");
    assert_eq!(with_finalizer.finalizers(), [name.to_owned()]);
    reconcile(Arc::new(with_finalizer), log.clone())
        .await
        .expect("apply");

    let deleted = api
        .delete("held", &DeleteParams::default())
        .await
        .expect("delete");
    let pending = deleted
        .left()
        .expect("a finalizer keeps the object: the object is answered");
    assert!(pending.metadata.deletion_timestamp.is_some());
    reconcile(Arc::new(pending), log.clone()).await.expect("cleanup");
    assert_eq!(*log.lock().expect("lock"), vec!["apply", "cleanup"]);
    assert!(
        api.get_opt("held").await.expect("get").is_none(),
        "gone once its finalizer is removed"
    );
}

#[tokio::test]
async fn owner_references_cascade_in_background_foreground_and_orphan() {
    let (_server, client) = start().await;
    let drmysqls: Api<DRMySQL> = Api::namespaced(client.clone(), "default");
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let owner: DRMySQL = serde_json::from_value(basic_drmysql("owner")).expect("DRMySQL");
    let owner = drmysqls
        .create(&PostParams::default(), &owner)
        .await
        .expect("owner");
    let child: ConfigMap =
        serde_json::from_value(owned_by(json!({"metadata": {"name": "child"}}), &owner)).expect("cm");
    let child = maps.create(&PostParams::default(), &child).await.expect("child");
    let grandchild: Secret =
        serde_json::from_value(owned_by(json!({"metadata": {"name": "grandchild"}}), &child))
            .expect("secret");
    secrets
        .create(&PostParams::default(), &grandchild)
        .await
        .expect("grandchild");
    let deleted = drmysqls
        .delete("owner", &DeleteParams::background())
        .await
        .expect("delete owner");
    assert!(deleted.is_left(), "a custom resource delete answers the object");
    assert!(
        maps.get_opt("child").await.expect("get").is_none(),
        "the dependent is collected"
    );
    assert!(
        secrets.get_opt("grandchild").await.expect("get").is_none(),
        "transitively"
    );

    let parent = maps
        .create(&PostParams::default(), &configmap("parent", json!({})))
        .await
        .expect("parent");
    let kept: ConfigMap =
        serde_json::from_value(owned_by(json!({"metadata": {"name": "kept"}}), &parent)).expect("cm");
    maps.create(&PostParams::default(), &kept).await.expect("kept");
    maps.delete("parent", &DeleteParams::orphan())
        .await
        .expect("orphan delete");
    let orphan = maps.get("kept").await.expect("the orphan stays");
    assert!(
        orphan.owner_references().is_empty(),
        "its owner reference is removed"
    );

    let parent = maps
        .create(&PostParams::default(), &configmap("fg", json!({})))
        .await
        .expect("fg");
    let dependent: ConfigMap = serde_json::from_value(owned_by(
        json!({"metadata": {"name": "fg-child", "finalizers": ["example.com/hold"]}}),
        &parent,
    ))
    .expect("cm");
    maps.create(&PostParams::default(), &dependent)
        .await
        .expect("dependent");
    let foreground = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..DeleteParams::default()
    };
    let pending = maps
        .delete("fg", &foreground)
        .await
        .expect("foreground delete")
        .left()
        .expect("object");
    assert!(pending.finalizers().contains(&"foregroundDeletion".to_owned()));
    assert!(
        maps.get("fg")
            .await
            .expect("owner waits")
            .metadata
            .deletion_timestamp
            .is_some()
    );
    maps.patch(
        "fg-child",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release the dependent");
    assert!(maps.get_opt("fg-child").await.expect("get").is_none());
    assert!(
        maps.get_opt("fg").await.expect("get").is_none(),
        "the owner goes after its dependents"
    );
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_objects_then_itself() {
    let (_server, client) = start().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let team: Namespace = serde_json::from_value(json!({"metadata": {"name": "team"}})).expect("ns");
    let created = namespaces
        .create(&PostParams::default(), &team)
        .await
        .expect("namespace");
    assert_eq!(created.status.and_then(|s| s.phase).as_deref(), Some("Active"));
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    maps.create(&PostParams::default(), &configmap("plain", json!({})))
        .await
        .expect("cm");
    let drmysqls: Api<DRMySQL> = Api::namespaced(client.clone(), "team");
    let mut held = basic_drmysql("held");
    held["metadata"]["namespace"] = json!("team");
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    drmysqls
        .create(
            &PostParams::default(),
            &serde_json::from_value(held).expect("DRMySQL"),
        )
        .await
        .expect("held DRMySQL");

    let deleted = namespaces
        .delete("team", &DeleteParams::default())
        .await
        .expect("delete namespace");
    let terminating = deleted.left().expect("the namespace waits for its content");
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    assert!(
        maps.get_opt("plain").await.expect("get").is_none(),
        "content is deleted"
    );
    assert!(
        drmysqls
            .get("held")
            .await
            .expect("held")
            .metadata
            .deletion_timestamp
            .is_some()
    );
    let refused = maps
        .create(&PostParams::default(), &configmap("late", json!({})))
        .await
        .expect_err("no new content in a terminating namespace");
    let (code, _, message) = api_error(&refused);
    assert_eq!(code, 403);
    assert!(message.contains("because it is being terminated"), "{message}");
    drmysqls
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("release");
    assert!(
        namespaces.get_opt("team").await.expect("get").is_none(),
        "the namespace goes last"
    );
    let protected = namespaces
        .delete("default", &DeleteParams::default())
        .await
        .expect_err("default cannot be deleted");
    assert_eq!(api_error(&protected).0, 403);
}

fn pod(name: &str, role: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "orders", "role": role}},
        "spec": {"nodeName": "node-a", "containers": [{"name": "mysqld", "image": "mariadb:11.4",
                 "ports": [{"name": "mysql", "containerPort": 3306}]}]}
    }))
    .expect("a Pod")
}

async fn pod_status(pods: &Api<Pod>, name: &str, ip: &str, ready: bool) {
    pods.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(
            json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}),
        ),
    )
    .await
    .expect("pod status");
}

#[tokio::test]
async fn endpoint_slices_track_matching_pods_and_their_readiness() {
    let (_server, client) = start().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "orders-primary"},
        "spec": {"selector": {"app": "orders", "role": "primary"},
                 "ports": [{"name": "mysql", "port": 3306, "targetPort": "mysql"}]}
    }))
    .expect("a Service");
    let created = services
        .create(&PostParams::default(), &service)
        .await
        .expect("service");
    let spec = created.spec.expect("spec");
    assert!(
        spec.cluster_ip.as_deref().is_some_and(|ip| ip.starts_with("10.")),
        "a cluster IP is allocated"
    );
    pods.create(&PostParams::default(), &pod("orders-0", "primary"))
        .await
        .expect("pod");
    pods.create(&PostParams::default(), &pod("orders-1", "replica"))
        .await
        .expect("pod");
    pod_status(&pods, "orders-0", "10.244.0.5", false).await;
    pod_status(&pods, "orders-1", "10.244.1.5", true).await;

    let endpoints = || async {
        let list = slices
            .list(&ListParams::default().labels("kubernetes.io/service-name=orders-primary"))
            .await
            .expect("slices");
        assert_eq!(
            list.items.len(),
            1,
            "one slice for one address family and port set"
        );
        let slice = list.items.into_iter().next().expect("slice");
        assert!(slice.name_any().starts_with("orders-primary-"));
        assert_eq!(slice.owner_references()[0].name, "orders-primary");
        slice
            .endpoints
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e.addresses[0].clone(),
                    e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(endpoints().await, vec![("10.244.0.5".to_owned(), false)]);
    pod_status(&pods, "orders-0", "10.244.0.5", true).await;
    assert_eq!(endpoints().await, vec![("10.244.0.5".to_owned(), true)]);
    let list = slices.list(&ListParams::default()).await.expect("slices");
    let ports = list.items[0].ports.clone().expect("ports");
    assert_eq!(
        ports[0].port,
        Some(3306),
        "the named target port is resolved from the Pod"
    );

    for (name, role) in [("orders-0", "replica"), ("orders-1", "primary")] {
        pods.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"role": role}}})),
        )
        .await
        .expect("move the role label");
    }
    assert_eq!(
        endpoints().await,
        vec![("10.244.1.5".to_owned(), true)],
        "the slice follows the label"
    );
    pods.delete("orders-1", &DeleteParams::default())
        .await
        .expect("delete pod");
    assert_eq!(endpoints().await, vec![]);
    services
        .delete("orders-primary", &DeleteParams::default())
        .await
        .expect("delete service");
    let left = slices.list(&ListParams::default()).await.expect("slices");
    assert!(left.items.is_empty(), "slices are owned by their Service");
}

#[tokio::test]
async fn a_crd_is_served_when_created_and_its_objects_go_with_it() {
    let (server, client) = start().await;
    let crds: Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = Api::all(client.clone());
    let crd = eventually("the DRMySQL CRD established", Duration::from_secs(5), || {
        let crds = crds.clone();
        async move {
            let crd = crds.get("drmysqls.drmysql.io").await.ok()?;
            let established = crd
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            established.then_some(crd)
        }
    })
    .await;
    assert_eq!(
        crd.status.and_then(|s| s.stored_versions),
        Some(vec!["v1alpha1".to_owned()])
    );
    let error = crds
        .patch(
            "drmysqls.drmysql.io",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"scope": "Cluster"}})),
        )
        .await
        .expect_err("the scope of a CRD is immutable");
    let (code, _, message) = api_error(&error);
    assert_eq!(code, 422);
    assert!(
        message.contains("spec.scope: Invalid value: \"Cluster\": field is immutable"),
        "{message}"
    );
    let discovery = kube::Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    assert!(discovery.has_group("drmysql.io") && discovery.has_group("kosmos.io"));

    let nodes_resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kosmos.io", "v1alpha1", "ClusterNode"),
        "clusternodes",
    );
    let nodes: Api<DynamicObject> = Api::all_with(client.clone(), &nodes_resource);
    let node: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kosmos.io/v1alpha1", "kind": "ClusterNode", "metadata": {"name": "n1"},
        "spec": {"clusterName": "member", "nodeName": "n1"}
    }))
    .expect("ClusterNode");
    nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("ClusterNode");
    crds.delete("clusternodes.kosmos.io", &DeleteParams::default())
        .await
        .expect("delete CRD");
    assert!(
        crds.get_opt("clusternodes.kosmos.io")
            .await
            .expect("get")
            .is_none()
    );
    let (code, _, _) = api_error(
        &nodes
            .list(&ListParams::default())
            .await
            .expect_err("no longer served"),
    );
    assert_eq!(code, 404);
    drop(server);
}

#[tokio::test]
async fn what_is_not_implemented_is_a_501_naming_verb_and_path() {
    let (_server, client) = start().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let logs = pods
        .logs("orders-0", &LogParams::default())
        .await
        .expect_err("pod logs");
    let (code, reason, message) = api_error(&logs);
    assert_eq!((code, reason.as_str()), (501, "NotImplemented"));
    assert!(
        message.contains("GET /api/v1/namespaces/default/pods/orders-0/log"),
        "{message}"
    );

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let error = deployments
        .list(&ListParams::default())
        .await
        .expect_err("apps/v1");
    let (code, _, message) = api_error(&error);
    assert_eq!(code, 501);
    assert!(
        message.contains("GET /apis/apps/v1/namespaces/default/deployments"),
        "{message}"
    );

    let openapi_v2 = http::Request::get("/openapi/v2")
        .body(Vec::new())
        .expect("request");
    let error = client.request_text(openapi_v2).await.expect_err("openapi v2");
    assert_eq!(api_error(&error).0, 501);

    let protobuf = http::Request::get("/api/v1/namespaces/default/pods")
        .header("Accept", "application/vnd.kubernetes.protobuf")
        .body(Vec::new())
        .expect("request");
    let error = client.request_text(protobuf).await.expect_err("protobuf");
    let (code, _, message) = api_error(&error);
    assert_eq!(code, 501, "a real server speaks protobuf, the simulator does not");
    assert!(
        message.contains("GET /api/v1/namespaces/default/pods"),
        "{message}"
    );
    let protobuf_body = http::Request::post("/api/v1/namespaces/default/configmaps")
        .header("Content-Type", "application/vnd.kubernetes.protobuf")
        .body(b"k8s\0".to_vec())
        .expect("request");
    let error = client
        .request_text(protobuf_body)
        .await
        .expect_err("protobuf body");
    assert_eq!(api_error(&error).0, 501);
    let nonsense = http::Request::get("/api/v1/namespaces/default/pods")
        .header("Accept", "text/html")
        .body(Vec::new())
        .expect("request");
    let error = client.request_text(nonsense).await.expect_err("html");
    assert_eq!(api_error(&error).0, 406);

    let calico = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("crd.projectcalico.org", "v1", "IPPool"),
        "ippools",
    );
    let pools: Api<DynamicObject> = Api::all_with(client, &calico);
    let error = pools.list(&ListParams::default()).await.expect_err("no such CRD");
    assert_eq!(
        api_error(&error).0,
        404,
        "a custom group without its CRD simply does not exist"
    );
}

#[tokio::test]
async fn the_events_recorder_writes_events_that_core_v1_reads() {
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let (_server, client) = start().await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let subject = maps
        .create(&PostParams::default(), &configmap("subject", json!({})))
        .await
        .expect("subject");
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "drmysql".to_owned(),
            instance: None,
        },
    );
    let event = Event {
        type_: EventType::Normal,
        reason: "Tested".to_owned(),
        note: Some("hello".to_owned()),
        action: "Test".to_owned(),
        secondary: None,
    };
    let reference = subject.object_ref(&());
    recorder
        .publish(&event, &reference)
        .await
        .expect("first publish creates");
    recorder
        .publish(&event, &reference)
        .await
        .expect("second publish patches the series");

    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
    let listed = core
        .list(&ListParams::default().fields("involvedObject.name=subject,involvedObject.kind=ConfigMap"))
        .await
        .expect("core/v1 events");
    assert_eq!(listed.items.len(), 1);
    let seen = &listed.items[0];
    assert_eq!(seen.message.as_deref(), Some("hello"));
    assert_eq!(seen.reason.as_deref(), Some("Tested"));
    assert_eq!(seen.reporting_component.as_deref(), Some("drmysql"));
    assert_eq!(seen.series.as_ref().and_then(|s| s.count), Some(2));
    let new: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, "default");
    let listed = new
        .list(&ListParams::default().fields("regarding.name=subject"))
        .await
        .expect("events.k8s.io events");
    assert_eq!(listed.items[0].note.as_deref(), Some("hello"));
}
