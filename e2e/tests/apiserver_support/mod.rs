//! Helpers shared by the API simulator's integration tests: a simulator with
//! the repository's CRDs, a kube client for it, the example manifests and a
//! poll-until helper.

#![allow(dead_code)]

use drmysql_e2e::apiserver::{ApiServer, ApiServerHandle, Config};
use serde_json::Value;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A simulator on a free loopback port with the CRDs of `crds/`, and a kube
/// client built from its kubeconfig.
pub async fn start() -> (ApiServerHandle, kube::Client) {
    start_with(|config| config).await
}

/// As [`start`], with the configuration adjusted by `adjust`.
pub async fn start_with(adjust: impl FnOnce(Config) -> Config) -> (ApiServerHandle, kube::Client) {
    let config =
        Config::new("127.0.0.1:0".parse().expect("loopback address")).with_crd_dir(repo_root().join("crds"));
    let server = ApiServer::start_with(adjust(config))
        .await
        .expect("the simulator starts");
    let client = server.client().await.expect("a kube client for the simulator");
    (server, client)
}

/// The YAML files of `examples/mysql/<sub>`, sorted, with their text and documents.
pub fn examples(sub: &str) -> Vec<(PathBuf, String, Vec<Value>)> {
    let dir = repo_root().join("examples/mysql").join(sub);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{} is unreadable: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("example is readable");
            let documents: Vec<Value> = serde_saphyr::from_multiple(&text)
                .unwrap_or_else(|error| panic!("{} is not valid YAML: {error}", path.display()));
            (path, text, documents)
        })
        .collect()
}

/// `examples/mysql/drmysql-basic.yaml`, renamed.
pub fn basic_drmysql(name: &str) -> Value {
    let (_, _, documents) = examples("")
        .into_iter()
        .find(|(path, _, _)| path.ends_with("drmysql-basic.yaml"))
        .expect("examples/mysql/drmysql-basic.yaml exists");
    let mut object = documents.into_iter().next().expect("one document");
    object["metadata"]["name"] = Value::from(name);
    object
}

/// Polls `check` every 20 ms until it returns `Some`, failing after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The HTTP code and reason of a kube API error.
pub fn api_error(error: &kube::Error) -> (u16, String, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason.clone(), status.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}
