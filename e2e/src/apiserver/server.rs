//! The HTTP server: listening, connections, responses and the handle that
//! tests and the sandbox hold.
//!
//! Plain HTTP/1.1 on the address asked for (loopback in the sandbox), no
//! authentication: the simulator is test infrastructure. All state sits
//! behind one tokio `RwLock`; reads share it, writes (with the controllers
//! they trigger) take it alone, and watches only hold a broadcast receiver,
//! so nothing blocks a runtime thread.

use super::error::ApiServerError;
use super::kubeconfig;
use super::meta;
use super::registry::StorageKey;
use super::store::Store;
use super::validation::FieldValidation;
use super::write::{self, Target, WriteOptions};
use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{RwLock, mpsc, watch};

/// Response bodies: whole JSON documents or watch streams.
pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// How to run a simulator.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen; port 0 picks a free port.
    pub bind: SocketAddr,
    /// A directory of CRD manifests (`*.yaml`, `*.yml`) to create at start.
    pub crd_dir: Option<PathBuf>,
    /// How many changes are kept for watches to resume from; older versions get 410.
    pub watch_history: usize,
    /// How often an idle watch with `allowWatchBookmarks` gets a bookmark.
    pub bookmark_interval: Duration,
    /// How long a watch without `timeoutSeconds` lasts.
    pub default_watch_timeout: Duration,
    /// The largest request body accepted (the real server's limit is 3 MiB).
    pub max_body_bytes: usize,
}

impl Config {
    /// Defaults: 10 000 changes of history, bookmarks every 10 s, 30 min watches, 3 MiB bodies.
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            crd_dir: None,
            watch_history: 10_000,
            bookmark_interval: Duration::from_secs(10),
            default_watch_timeout: Duration::from_secs(1800),
            max_body_bytes: 3 * 1024 * 1024,
        }
    }

    /// With the CRDs of `dir` created at start.
    pub fn with_crd_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.crd_dir = Some(dir.into());
        self
    }
}

/// State shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: RwLock<Store>,
    pub config: Config,
    pub address: SocketAddr,
    pub shutdown: watch::Receiver<bool>,
}

/// A whole JSON response, with `Warning` headers.
pub(crate) fn json_response(code: u16, body: &Value, warnings: &[String]) -> Response<Body> {
    let mut builder = Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-cache, private");
    if let Some(seconds) = body["details"]["retryAfterSeconds"].as_u64() {
        builder = builder.header(http::header::RETRY_AFTER, seconds.to_string());
    }
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        builder = builder.header(http::header::WARNING, format!("299 - \"{escaped}\""));
    }
    let bytes = Bytes::from(body.to_string());
    builder
        .body(Full::new(bytes.clone()).boxed())
        .unwrap_or_else(|_| fallback(bytes))
}

/// A plain-text response.
pub(crate) fn text_response(code: u16, text: &'static str) -> Response<Body> {
    let bytes = Bytes::from_static(text.as_bytes());
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(bytes.clone()).boxed())
        .unwrap_or_else(|_| fallback(bytes))
}

// A builder with a numeric status only fails for a status outside 100-999,
// which the simulator never produces; answer 500 rather than panic.
fn fallback(bytes: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(bytes).boxed());
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// A chunked response fed by a watch.
pub(crate) fn streaming_response(receiver: mpsc::Receiver<Bytes>) -> Response<Body> {
    let frames = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(Frame::data(bytes)), receiver))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The Kubernetes API simulator.
#[derive(Debug)]
pub struct ApiServer;

impl ApiServer {
    /// Starts a simulator on `bind` with the default [`Config`].
    pub async fn start(bind: SocketAddr) -> Result<ApiServerHandle, ApiServerError> {
        Self::start_with(Config::new(bind)).await
    }

    /// Starts a simulator: binds, creates the `default`, `kube-system`,
    /// `kube-public` and `kube-node-lease` Namespaces and the CRDs of
    /// `config.crd_dir`, then serves until the handle shuts it down (or is dropped).
    pub async fn start_with(config: Config) -> Result<ApiServerHandle, ApiServerError> {
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| ApiServerError::Bind {
                addr: config.bind,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| ApiServerError::Bind {
            addr: config.bind,
            source,
        })?;
        let (shutdown_sender, shutdown) = watch::channel(false);
        let crd_dir = config.crd_dir.clone();
        let shared = Arc::new(Shared {
            store: RwLock::new(Store::new(
                config.watch_history,
                config.watch_history.clamp(1024, 65536),
            )),
            config,
            address,
            shutdown,
        });
        {
            let mut store = shared.store.write().await;
            for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                bootstrap(
                    &mut store,
                    "namespaces",
                    "",
                    json!({"metadata": {"name": namespace}}),
                )?;
            }
        }
        tokio::spawn(accept_loop(listener, shared.clone()));
        let handle = ApiServerHandle {
            shared,
            shutdown: shutdown_sender,
        };
        if let Some(dir) = crd_dir {
            handle.load_crds(&dir).await?;
        }
        tracing::info!(url = %handle.url(), "Kubernetes API simulator listening");
        Ok(handle)
    }
}

fn system_options() -> WriteOptions {
    WriteOptions {
        dry_run: false,
        field_validation: FieldValidation::Strict,
        manager: "drmysql-e2e-apiserver".to_owned(),
        force: false,
    }
}

/// Creates (or replaces) a built-in or CRD object as the simulator itself.
fn bootstrap(store: &mut Store, resource: &str, group: &str, object: Value) -> Result<(), ApiServerError> {
    let version = "v1";
    let rt = store
        .registry
        .find(group, version, resource)
        .cloned()
        .ok_or_else(|| ApiServerError::Refused {
            what: format!("{resource}.{group}"),
            message: "not a served resource".to_owned(),
        })?;
    let name = meta::name(&object).to_owned();
    let refused = |error: super::error::ApiError| ApiServerError::Refused {
        what: format!("{} {name}", rt.qualified_resource()),
        message: error.message,
    };
    let options = system_options();
    match store.get(&StorageKey::new(group, resource), "", &name).cloned() {
        None => write::create(store, &rt, "", object, &options, None).map_err(refused)?,
        Some(existing) => {
            let mut replacement = object;
            if let Some(rv) = existing["metadata"]["resourceVersion"].as_str() {
                meta::metadata_mut(&mut replacement).insert("resourceVersion".to_owned(), json!(rv));
            }
            let target = Target {
                rt: &rt,
                namespace: "",
                name: &name,
                part: write::main_part(&rt),
            };
            write::update(store, target, replacement, &options).map_err(refused)?
        }
    };
    Ok(())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, shared.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "API simulator: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    if *shutdown.borrow() {
        return;
    }
    let service = hyper::service::service_fn(move |request| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(super::http::handle(shared, request).await) }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = &mut connection => {
            if let Err(error) = result {
                tracing::debug!(%error, "API simulator connection ended with an error");
            }
        }
        _ = shutdown.changed() => {}
    }
}

/// A running simulator. Dropping it stops the simulator too.
#[derive(Debug)]
pub struct ApiServerHandle {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

impl ApiServerHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.shared.address
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.address)
    }

    /// A kubeconfig for kubectl and kube clients: plain HTTP, no credentials,
    /// namespace `default`.
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig::kubeconfig_yaml(&self.url())
    }

    /// Writes [`ApiServerHandle::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        kubeconfig::write_kubeconfig(path, &self.url())
    }

    /// A kube client configured from the kubeconfig.
    pub async fn client(&self) -> Result<kube::Client, ApiServerError> {
        kubeconfig::client(&self.kubeconfig_yaml()).await
    }

    /// Creates (or replaces) every CustomResourceDefinition in the `*.yaml`
    /// and `*.yml` files of `dir`; returns how many.
    pub async fn load_crds(&self, dir: &Path) -> Result<usize, ApiServerError> {
        let crd_file = |path: &Path, reason: String| ApiServerError::CrdFile {
            path: path.to_owned(),
            reason,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|error| crd_file(dir, error.to_string()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml"))
            .collect();
        files.sort();
        let mut crds = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).map_err(|error| crd_file(file, error.to_string()))?;
            let documents: Vec<Value> =
                serde_saphyr::from_multiple(&text).map_err(|error| crd_file(file, error.to_string()))?;
            for document in documents.into_iter().filter(|d| !d.is_null()) {
                if document["kind"] != "CustomResourceDefinition" {
                    return Err(crd_file(
                        file,
                        format!("holds a {} rather than a CRD", document["kind"]),
                    ));
                }
                crds.push(document);
            }
        }
        let mut store = self.shared.store.write().await;
        let count = crds.len();
        for crd in crds {
            bootstrap(
                &mut store,
                "customresourcedefinitions",
                "apiextensions.k8s.io",
                crd,
            )?;
        }
        Ok(count)
    }

    /// Forgets the watch history (as an etcd compaction does) and ends every
    /// open watch with a 410 `Expired` ERROR event, so that every watcher
    /// relists. Resuming from any version before now is then answered 410 too.
    pub async fn expire_watches(&self) {
        self.shared.store.write().await.expire();
    }

    /// The current global resourceVersion.
    pub async fn resource_version(&self) -> u64 {
        self.shared.store.read().await.current_rv()
    }

    /// Stops listening and ends every connection and watch.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for ApiServerHandle {
    fn drop(&mut self) {
        // Receivers may all be gone already; nothing is left to stop then.
        let _ = self.shutdown.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_responses_carry_warnings() {
        let response = json_response(201, &json!({"a": 1}), &["unknown field \"spec.x\"".to_owned()]);
        assert_eq!(response.status(), 201);
        let warning = response
            .headers()
            .get(http::header::WARNING)
            .and_then(|v| v.to_str().ok())
            .expect("warning header");
        assert_eq!(warning, "299 - \"unknown field \\\"spec.x\\\"\"");
    }

    #[tokio::test]
    async fn start_creates_the_system_namespaces_and_shuts_down() {
        let handle = ApiServer::start("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("started");
        {
            let store = handle.shared.store.read().await;
            let names: Vec<&str> = store
                .list(&StorageKey::new("", "namespaces"), None)
                .map(meta::name)
                .collect();
            assert_eq!(
                names,
                vec!["default", "kube-node-lease", "kube-public", "kube-system"]
            );
        }
        assert!(handle.url().starts_with("http://127.0.0.1:"));
        handle.shutdown();
    }
}
