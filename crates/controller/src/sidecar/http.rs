//! The sidecar's HTTP endpoints: `/healthz`, `/readyz`, `/metrics`, and the
//! token-protected `/probe?target=host:port[&timeout_ms=N]` that the controller
//! uses to check the cluster link from this Pod's side.

use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};

use super::handshake;
use super::metrics::{ProbeLabels, SidecarMetrics};
use super::monitor::{SharedState, health_deadline};
use super::readiness::readiness;

/// Everything a request handler reads.
pub struct Endpoints {
    /// The monitoring loop's state.
    pub state: Arc<RwLock<SharedState>>,
    /// The metrics registry, encoded on `/metrics`.
    pub registry: prometheus_client::registry::Registry,
    /// The sidecar's metrics.
    pub metrics: Arc<SidecarMetrics>,
    /// The bearer token `/probe` requires.
    pub token: String,
    /// Heartbeat interval (for the health deadline).
    pub interval: Duration,
    /// Readiness lag limit.
    pub ready_max_lag: Duration,
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// Handles one request.
pub async fn handle(
    endpoints: Arc<Endpoints>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::GET {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET\n"));
    }
    let response = match request.uri().path() {
        "/healthz" => healthz(&endpoints),
        "/readyz" => readyz(&endpoints),
        "/metrics" => metrics(&endpoints),
        "/probe" => probe(&endpoints, &request).await,
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    };
    Ok(response)
}

fn healthz(endpoints: &Endpoints) -> Response<Full<Bytes>> {
    let last_tick = endpoints.state.read().ok().and_then(|state| state.last_tick);
    match last_tick {
        Some(tick) if tick.elapsed() <= health_deadline(endpoints.interval) => {
            reply(StatusCode::OK, "text/plain", "ok\n")
        }
        // Before the first tick the sidecar is starting; that is healthy too.
        None => reply(StatusCode::OK, "text/plain", "starting\n"),
        Some(tick) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            format!("the monitoring loop last completed {:?} ago\n", tick.elapsed()),
        ),
    }
}

fn readyz(endpoints: &Endpoints) -> Response<Full<Bytes>> {
    let verdict = match endpoints.state.read() {
        Ok(state) => readiness(&state.snapshot, endpoints.ready_max_lag),
        Err(_) => Err("state unavailable".to_owned()),
    };
    match verdict {
        Ok(()) => reply(StatusCode::OK, "text/plain", "ready\n"),
        Err(reason) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            format!("{reason}\n"),
        ),
    }
}

fn metrics(endpoints: &Endpoints) -> Response<Full<Bytes>> {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &endpoints.registry) {
        Ok(()) => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            text,
        ),
        Err(error) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("{error}\n"),
        ),
    }
}

/// Compares in time independent of where the first difference is.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

async fn probe(endpoints: &Endpoints, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let presented = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if !presented.is_some_and(|token| same_token(token.as_bytes(), endpoints.token.as_bytes())) {
        return reply(
            StatusCode::UNAUTHORIZED,
            "text/plain",
            "a valid bearer token is required\n",
        );
    }
    let query = request.uri().query().unwrap_or_default();
    let parameter = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_owned())
    };
    let Some(target) = parameter("target").filter(|target| !target.is_empty()) else {
        return reply(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "missing target=host:port\n",
        );
    };
    let timeout = match parameter("timeout_ms").map(|value| value.parse::<u64>()) {
        None => Duration::from_secs(3),
        Some(Ok(millis)) if (1..=30_000).contains(&millis) => Duration::from_millis(millis),
        Some(_) => {
            return reply(
                StatusCode::BAD_REQUEST,
                "text/plain",
                "timeout_ms must be 1..=30000\n",
            );
        }
    };
    let result = handshake::probe(&target, timeout).await;
    let outcome = if result.reachable {
        "reachable"
    } else {
        "unreachable"
    };
    endpoints
        .metrics
        .probes
        .get_or_create(&ProbeLabels {
            result: outcome.to_owned(),
        })
        .inc();
    match serde_json::to_vec(&result) {
        Ok(body) => reply(StatusCode::OK, "application/json", body),
        Err(error) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("{error}\n"),
        ),
    }
}
