//! The controller's side of the tunnel check: it asks an instance's sidecar to
//! probe a peer's MySQL port over the cluster link, so the check runs on the
//! real pod-to-pod path (through VXLAN or IPsec between the clusters), not
//! from the controller's own vantage point.

use std::time::Duration;

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::TunnelStatus;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use tokio::net::TcpStream;

use crate::sidecar::handshake::ProbeResult;

/// One directed check: `from`'s sidecar probes `to`'s MySQL port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelCheck {
    /// Instance whose sidecar probes.
    pub from: String,
    /// `host:port` of that sidecar.
    pub sidecar: String,
    /// Instance probed.
    pub to: String,
    /// `host:port` of its MySQL server.
    pub target: String,
}

/// Runs one check: an authenticated `GET /probe` on the sidecar, bounded by
/// `timeout` (the probe itself gets most of it). Any failure is an unreachable
/// result whose error says which hop failed.
pub async fn run(check: &TunnelCheck, token: &str, timeout: Duration, now: DateTime<Utc>) -> TunnelStatus {
    let probe_timeout = timeout.mul_f64(0.8);
    let outcome = tokio::time::timeout(timeout, ask_sidecar(check, token, probe_timeout)).await;
    let result = match outcome {
        Err(_) => Err(format!(
            "the sidecar of {} ({}) did not answer within {timeout:?}",
            check.from, check.sidecar
        )),
        Ok(result) => result,
    };
    match result {
        Ok(probe) => TunnelStatus {
            from: check.from.clone(),
            to: check.to.clone(),
            reachable: probe.reachable,
            rtt_ms: probe.handshake_ms,
            checked_at: now,
            error: probe.error,
        },
        Err(error) => TunnelStatus {
            from: check.from.clone(),
            to: check.to.clone(),
            reachable: false,
            rtt_ms: None,
            checked_at: now,
            error: Some(error),
        },
    }
}

async fn ask_sidecar(
    check: &TunnelCheck,
    token: &str,
    probe_timeout: Duration,
) -> Result<ProbeResult, String> {
    let stream = TcpStream::connect(&check.sidecar).await.map_err(|error| {
        format!(
            "the sidecar of {} ({}) is unreachable: {error}",
            check.from, check.sidecar
        )
    })?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|error| {
                format!(
                    "HTTP handshake with the sidecar of {} failed: {error}",
                    check.from
                )
            })?;
    tokio::spawn(connection);
    let request = hyper::Request::get(format!(
        "/probe?target={}&timeout_ms={}",
        check.target,
        probe_timeout.as_millis().max(1)
    ))
    .header(hyper::header::HOST, &check.sidecar)
    .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
    .body(Empty::<Bytes>::new())
    .map_err(|error| format!("cannot build the probe request: {error}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| format!("the sidecar of {} failed the probe request: {error}", check.from))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| format!("reading the sidecar's answer failed: {error}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "the sidecar of {} answered {status}: {}",
            check.from,
            String::from_utf8_lossy(&body).trim()
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|error| format!("the sidecar of {} sent an unreadable answer: {error}", check.from))
}
