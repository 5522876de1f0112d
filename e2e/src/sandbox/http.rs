//! Reading a component's `/metrics` and `/healthz` the way Prometheus and a
//! probe do: a plain HTTP/1.1 GET, and the text exposition format parsed
//! into series.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on one request.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `GET path` on `address`: the body of a 200.
pub async fn get(address: SocketAddr, path: &str) -> Result<String, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(address)
            .await
            .map_err(|error| format!("connect to {address}: {error}"))?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .map_err(|error| format!("GET {path} on {address}: {error}"))?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .await
            .map_err(|error| format!("reading {path} from {address}: {error}"))?;
        Ok::<_, String>(answer)
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| format!("GET {path} on {address} took more than {TIMEOUT:?}"))??;
    body_of_200(&answer).map_err(|error| format!("{path} from {address}: {error}"))
}

/// The body of an HTTP/1.1 answer with status 200.
fn body_of_200(answer: &str) -> Result<String, String> {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| "no end of the HTTP header".to_owned())?;
    if head.starts_with("HTTP/1.1 200") {
        Ok(body.to_owned())
    } else {
        Err(head.lines().next().unwrap_or_default().to_owned())
    }
}

/// Prometheus text: every sample line as `series -> value` (`#` lines skipped).
pub fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_200_yields_its_body() {
        assert_eq!(
            body_of_200("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").as_deref(),
            Ok("ok")
        );
        assert_eq!(
            body_of_200("HTTP/1.1 503 Service Unavailable\r\n\r\n"),
            Err("HTTP/1.1 503 Service Unavailable".to_owned())
        );
        assert!(body_of_200("garbage").is_err());
    }

    #[test]
    fn metrics_parse_into_series() {
        let parsed = parse_metrics(
            "# HELP x y\n# TYPE x gauge\nx 1\ndrmysql_replication_lag_seconds{name=\"orders\"} 0.25\nbad line here\n",
        );
        assert_eq!(parsed.get("x"), Some(&1.0));
        assert_eq!(
            parsed.get("drmysql_replication_lag_seconds{name=\"orders\"}"),
            Some(&0.25)
        );
        assert_eq!(parsed.len(), 2);
    }
}
