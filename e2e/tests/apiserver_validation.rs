//! Admission of DRMySQL objects by the API simulator, with the CRD from
//! `crds/`: every manifest of `examples/mysql/` is created, and every one of
//! `examples/mysql/invalid/` is refused with 422 and the message its
//! `# expect-error:` header names, in the real server's format.

mod apiserver_support;

use apiserver_support::{api_error, examples, start};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

fn drmysqls(client: kube::Client, namespace: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("drmysql.io", "v1alpha1", "DRMySQL"),
        "drmysqls",
    );
    Api::namespaced_with(client, namespace, &resource)
}

async fn ensure_namespace(client: &kube::Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt(name).await.expect("get namespace").is_none() {
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .expect("create namespace");
    }
}

fn as_dynamic(document: &Value) -> DynamicObject {
    serde_json::from_value(document.clone()).expect("a Kubernetes object")
}

#[tokio::test]
async fn the_valid_examples_are_created_with_their_defaults() {
    let (_server, client) = start().await;
    let files = examples("");
    assert!(
        files
            .iter()
            .any(|(path, _, _)| path.ends_with("drmysql-basic.yaml")),
        "examples/mysql/drmysql-basic.yaml exists"
    );
    for (path, _, documents) in files {
        for (index, document) in documents.iter().enumerate() {
            let mut document = document.clone();
            let name = format!(
                "example-{}-{index}",
                path.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
            );
            document["metadata"]["name"] = Value::from(name.clone());
            let namespace = document["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_owned();
            ensure_namespace(&client, &namespace).await;
            let params = PostParams {
                field_manager: Some("examples".to_owned()),
                ..PostParams::default()
            };
            let created = drmysqls(client.clone(), &namespace)
                .create(&params, &as_dynamic(&document))
                .await
                .unwrap_or_else(|error| panic!("{} is refused: {error}", path.display()));
            assert_eq!(created.metadata.name.as_deref(), Some(name.as_str()));
            if document["spec"]["service"]["port"].is_null() {
                assert_eq!(
                    created.data["spec"]["service"]["port"], 3306,
                    "the schema default is applied"
                );
            }
            eprintln!("admitted: {}", path.display());
        }
    }
}

#[tokio::test]
async fn the_invalid_examples_are_refused_with_their_expected_message() {
    let (_server, client) = start().await;
    let files = examples("invalid");
    assert!(!files.is_empty(), "examples/mysql/invalid/ holds manifests");
    for (path, text, documents) in files {
        let expected = text
            .lines()
            .find_map(|line| line.strip_prefix("# expect-error:"))
            .unwrap_or_else(|| panic!("{} has no `# expect-error:` header", path.display()))
            .trim()
            .to_owned();
        assert_eq!(documents.len(), 1, "{} holds one document", path.display());
        let document = &documents[0];
        let name = document["metadata"]["name"].as_str().expect("a name").to_owned();
        let namespace = document["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let error = drmysqls(client.clone(), &namespace)
            .create(&PostParams::default(), &as_dynamic(document))
            .await
            .expect_err(&format!("{} must be refused", path.display()));
        let (code, reason, message) = api_error(&error);
        assert_eq!(
            (code, reason.as_str()),
            (422, "Invalid"),
            "{}: {message}",
            path.display()
        );
        let prefix = format!("DRMySQL.drmysql.io \"{name}\" is invalid: ");
        assert!(message.starts_with(&prefix), "{}: {message}", path.display());
        assert!(
            message.contains(&expected),
            "{}: expected {expected:?} in {message:?}",
            path.display()
        );
        eprintln!("refused as expected: {}", path.display());
    }
}

#[tokio::test]
async fn causes_name_the_field_and_unknown_fields_follow_field_validation() {
    let (_server, client) = start().await;
    let api = drmysqls(client.clone(), "default");
    let (_, _, documents) = examples("invalid")
        .into_iter()
        .find(|(path, _, _)| path.ends_with("replica-on-primary-node.yaml"))
        .expect("the replica-on-primary-node example");
    let request = http::Request::post("/apis/drmysql.io/v1alpha1/namespaces/default/drmysqls")
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&documents[0]).expect("json"))
        .expect("request");
    let error = client.request_text(request).await.expect_err("refused");
    let kube::Error::Api(status) = error else {
        panic!("expected an API error, got {error:?}");
    };
    let details = status.details.expect("details");
    assert_eq!(details.kind, "DRMySQL");
    assert_eq!(details.group, "drmysql.io");
    let cause = &details.causes[0];
    assert_eq!(cause.field, "spec.replicas");
    assert_eq!(cause.reason, "FieldValueInvalid");
    assert!(
        cause
            .message
            .starts_with("Invalid value: \"array\": spec.replicas[].node must differ"),
        "{}",
        cause.message
    );

    let mut with_unknown = apiserver_support::basic_drmysql("unknown-field");
    with_unknown["spec"]["colour"] = Value::from("blue");
    let strict = PostParams {
        field_manager: None,
        dry_run: false,
    };
    let lenient = api
        .create(&strict, &as_dynamic(&with_unknown))
        .await
        .expect("unknown fields are pruned by default");
    assert!(
        lenient.data["spec"].get("colour").is_none(),
        "the unknown field was dropped"
    );
    let request =
        http::Request::post("/apis/drmysql.io/v1alpha1/namespaces/default/drmysqls?fieldValidation=Strict")
            .header("Content-Type", "application/json")
            .body(
                serde_json::to_vec(&{
                    let mut again = with_unknown.clone();
                    again["metadata"]["name"] = Value::from("unknown-field-strict");
                    again
                })
                .expect("json"),
            )
            .expect("request");
    let error = client.request_text(request).await.expect_err("strict");
    let (code, _, message) = api_error(&error);
    assert_eq!(code, 400);
    assert!(
        message.contains("strict decoding error: unknown field \"spec.colour\""),
        "{message}"
    );
}
