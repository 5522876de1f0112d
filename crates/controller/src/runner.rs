//! `drmysql controller`: watches DRMySQLs (and the Pods they own, narrowed by
//! label) and reconciles them; serves `/metrics` and `/healthz`.
//!
//! The kube runtime reconciles different DRMySQLs concurrently and never one
//! object twice at once, and requeues failures with backoff. It runs as a plain
//! process against `KUBECONFIG` or in-cluster configuration.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use drmysql_api::drmysql::DRMySQL;
use drmysql_api::names;
use futures::StreamExt;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, watcher};
use prometheus_client::registry::Registry;

use crate::metrics::ControllerMetrics;
use crate::reconcile::{Context, ControllerConfig, error_policy, reconcile};

/// Why the controller could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The metrics listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Runs the controller until `shutdown` completes.
pub async fn run(
    client: kube::Client,
    config: ControllerConfig,
    metrics_address: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), RunError> {
    let metrics = Arc::new(ControllerMetrics::default());
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let listener = tokio::net::TcpListener::bind(metrics_address)
        .await
        .map_err(|source| RunError::Listen {
            address: metrics_address,
            source,
        })?;
    let server = tokio::spawn(serve_metrics(listener, Arc::new(registry)));

    let reporter = Reporter {
        controller: "drmysql-controller".to_owned(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let context = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        config,
        metrics,
    });
    let drmysqls: Api<DRMySQL> = Api::all(client.clone());
    let pods: Api<Pod> = Api::all(client);
    let owned_pods =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={}", names::MANAGED_BY));
    Controller::new(drmysqls, watcher::Config::default())
        .owns(pods, owned_pods)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => {
                    tracing::debug!(namespace = ?object.namespace, name = %object.name, "reconciled")
                }
                Err(error) => tracing::debug!(%error, "reconcile error"),
            }
        })
        .await;
    server.abort();
    Ok(())
}

async fn serve_metrics(listener: tokio::net::TcpListener, registry: Arc<Registry>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let registry = Arc::clone(&registry);
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let registry = Arc::clone(&registry);
                async move {
                    let (status, body) = match request.uri().path() {
                        "/metrics" => {
                            let mut text = String::new();
                            match prometheus_client::encoding::text::encode(&mut text, &registry) {
                                Ok(()) => (StatusCode::OK, text),
                                Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
                            }
                        }
                        "/healthz" => (StatusCode::OK, "ok\n".to_owned()),
                        _ => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
                    };
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    *response.status_mut() = status;
                    Ok::<_, Infallible>(response)
                }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "metrics connection ended with an error");
            }
        });
    }
}
