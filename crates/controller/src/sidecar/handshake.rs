//! The tunnel probe: a TCP connect to a peer's MySQL port and the server's
//! handshake greeting, each timed.
//!
//! A TCP connect alone can succeed against a NAT or load balancer that has no
//! server behind it; the greeting proves a MySQL server answered across the
//! cluster link. No login is attempted, so the probe needs no credentials.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// What a probe found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeResult {
    /// `host:port` probed.
    pub target: String,
    /// Whether a MySQL server greeted.
    pub reachable: bool,
    /// TCP connect time in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<f64>,
    /// Time from the start of the connect to the complete greeting, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_ms: Option<f64>,
    /// Server version from the greeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// Why the probe failed, naming the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The first packet a MySQL server sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Greeting {
    /// Protocol 10 handshake with the server version.
    Handshake {
        /// Server version string.
        server_version: String,
    },
    /// The server refused the connection before the handshake (e.g. host blocked).
    Refused {
        /// MySQL error code.
        code: u16,
        /// Server message.
        message: String,
    },
}

/// Parses a greeting packet payload.
pub fn parse_greeting(payload: &[u8]) -> Result<Greeting, String> {
    match payload.first() {
        Some(10) => {
            let version = payload[1..]
                .split(|byte| *byte == 0)
                .next()
                .ok_or("handshake without a server version")?;
            Ok(Greeting::Handshake {
                server_version: String::from_utf8_lossy(version).into_owned(),
            })
        }
        Some(0xff) if payload.len() >= 3 => Ok(Greeting::Refused {
            code: u16::from_le_bytes([payload[1], payload[2]]),
            message: String::from_utf8_lossy(&payload[3..]).into_owned(),
        }),
        Some(other) => Err(format!("not a MySQL greeting (first byte {other:#04x})")),
        None => Err("empty greeting".to_owned()),
    }
}

/// Probes `target` (`host:port`), each step bounded by `timeout`.
pub async fn probe(target: &str, timeout: Duration) -> ProbeResult {
    let mut result = ProbeResult {
        target: target.to_owned(),
        reachable: false,
        connect_ms: None,
        handshake_ms: None,
        server_version: None,
        error: None,
    };
    let started = Instant::now();
    let mut stream = match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
        Err(_) => {
            result.error = Some(format!("connect timeout after {timeout:?}"));
            return result;
        }
        Ok(Err(error)) => {
            result.error = Some(format!("connect failed: {error}"));
            return result;
        }
        Ok(Ok(stream)) => stream,
    };
    result.connect_ms = Some(millis(started.elapsed()));
    let read = async {
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).await?;
        let length = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        let mut payload = vec![0u8; length.min(1 << 16)];
        stream.read_exact(&mut payload).await?;
        Ok::<_, std::io::Error>(payload)
    };
    match tokio::time::timeout(timeout, read).await {
        Err(_) => {
            result.error = Some(format!(
                "no MySQL greeting within {timeout:?} after the TCP connect"
            ))
        }
        Ok(Err(error)) => result.error = Some(format!("reading the MySQL greeting failed: {error}")),
        Ok(Ok(payload)) => {
            result.handshake_ms = Some(millis(started.elapsed()));
            match parse_greeting(&payload) {
                Ok(Greeting::Handshake { server_version }) => {
                    result.reachable = true;
                    result.server_version = Some(server_version);
                }
                Ok(Greeting::Refused { code, message }) => {
                    // The link works; the server refused this host.
                    result.reachable = true;
                    result.error = Some(format!("server refused the connection: {code} {message}"));
                }
                Err(error) => result.error = Some(error),
            }
        }
    }
    result
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_parse() {
        let mut handshake = vec![10];
        handshake.extend_from_slice(b"10.11.19-MariaDB-log\0\x01\x02\x03");
        assert_eq!(
            parse_greeting(&handshake),
            Ok(Greeting::Handshake {
                server_version: "10.11.19-MariaDB-log".to_owned()
            })
        );
        let mut refused = vec![0xff, 0x69, 0x04];
        refused.extend_from_slice(b"Host '10.0.0.9' is blocked");
        assert_eq!(
            parse_greeting(&refused),
            Ok(Greeting::Refused {
                code: 1129,
                message: "Host '10.0.0.9' is blocked".to_owned()
            })
        );
        assert!(parse_greeting(b"HTTP/1.1 400").is_err());
        assert!(parse_greeting(&[]).is_err());
    }
}
