//! SQL against a sandbox instance from where a client would stand: a node's
//! network namespace. A client in the host cluster reaches a member
//! cluster's Pod only through the clusterlink tunnel, so a row written there
//! and read back proves the tunnel and replication together.
//!
//! The connection is made on a thread that has entered the namespace, with a
//! runtime of its own: sockets belong to the namespace of the thread that
//! creates them.

use std::net::IpAddr;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{OptsBuilder, Row, Value};

use super::error::SandboxError;
use crate::kubelet::netns::within;

/// Where and as whom to connect.
#[derive(Clone, Debug)]
pub struct SqlTarget {
    /// The network namespace the client stands in.
    pub netns: String,
    /// The server's address (a Pod IP).
    pub address: IpAddr,
    /// The account.
    pub user: String,
    /// Its password.
    pub password: String,
}

/// Bound on the connection and on each statement.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `statements` in order on one connection and returns the rows of the
/// last one, each value as text (`None` for NULL).
pub async fn run_sql(
    target: &SqlTarget,
    statements: &[&str],
) -> Result<Vec<Vec<Option<String>>>, SandboxError> {
    let target = target.clone();
    let statements: Vec<String> = statements
        .iter()
        .map(|statement| (*statement).to_owned())
        .collect();
    let what = format!("SQL on {}:3306 from namespace {}", target.address, target.netns);
    let netns = target.netns.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        within(&netns, move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime.block_on(run_statements(&target, &statements))
        })
    })
    .await
    .map_err(|error| SandboxError::Invariant(format!("{what}: the client thread failed: {error}")))?
    .map_err(SandboxError::part(what.clone()))?;
    outcome.map_err(|error| SandboxError::Mysql { what, error })
}

async fn run_statements(
    target: &SqlTarget,
    statements: &[String],
) -> Result<Vec<Vec<Option<String>>>, String> {
    let mut connection = connect(target).await?;
    let mut rows: Vec<Row> = Vec::new();
    for statement in statements {
        rows = tokio::time::timeout(TIMEOUT, connection.query::<Row, _>(statement.as_str()))
            .await
            .map_err(|_| format!("`{statement}` took more than {TIMEOUT:?}"))?
            .map_err(|error| format!("`{statement}`: {error}"))?;
    }
    let _ = connection.disconnect().await;
    Ok(rows
        .into_iter()
        .map(|row| row.unwrap().into_iter().map(text).collect())
        .collect())
}

async fn connect(target: &SqlTarget) -> Result<mysql_async::Conn, String> {
    let options = OptsBuilder::default()
        .ip_or_hostname(target.address.to_string())
        .tcp_port(3306)
        .user(Some(target.user.clone()))
        .pass(Some(target.password.clone()))
        .prefer_socket(false);
    tokio::time::timeout(TIMEOUT, mysql_async::Conn::new(options))
        .await
        .map_err(|_| format!("no connection within {TIMEOUT:?}"))?
        .map_err(|error| error.to_string())
}

/// A client session that stays open, holding whatever its statements took
/// (a `FLUSH TABLES WITH READ LOCK`, an open transaction's row locks), until
/// it is released or dropped: how a scenario makes a replica fall behind.
pub struct HeldSession {
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HeldSession {
    /// Connects, runs `statements` and keeps the session open.
    pub async fn open(target: &SqlTarget, statements: &[&str]) -> Result<Self, SandboxError> {
        let target = target.clone();
        let statements: Vec<String> = statements
            .iter()
            .map(|statement| (*statement).to_owned())
            .collect();
        let what = format!("holding a session on {}:3306", target.address);
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (opened, is_open) = tokio::sync::oneshot::channel::<Result<(), String>>();
        let netns = target.netns.clone();
        let thread = std::thread::spawn(move || {
            let outcome = within(&netns, move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = opened.send(Err(error.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mut connection = match connect(&target).await {
                        Ok(connection) => connection,
                        Err(error) => {
                            let _ = opened.send(Err(error));
                            return;
                        }
                    };
                    for statement in &statements {
                        if let Err(error) = connection.query_drop(statement.as_str()).await {
                            let _ = opened.send(Err(format!("`{statement}`: {error}")));
                            return;
                        }
                    }
                    let _ = opened.send(Ok(()));
                    // Held until released (or the handle is dropped).
                    let _ = tokio::task::spawn_blocking(move || released.recv()).await;
                    let _ = connection.disconnect().await;
                });
            });
            if let Err(error) = outcome {
                tracing::warn!(%error, "a held session could not enter its namespace");
            }
        });
        match is_open.await {
            Ok(Ok(())) => Ok(Self {
                release: Some(release),
                thread: Some(thread),
            }),
            Ok(Err(error)) => Err(SandboxError::Mysql { what, error }),
            Err(_) => Err(SandboxError::Mysql {
                what,
                error: "the session's thread ended before it connected".to_owned(),
            }),
        }
    }

    /// Ends the session, which releases what it held.
    pub fn release(mut self) {
        self.end();
    }

    fn end(&mut self) {
        drop(self.release.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for HeldSession {
    fn drop(&mut self) {
        self.end();
    }
}

/// A MySQL value as the text a client would print.
fn text(value: Value) -> Option<String> {
    match value {
        Value::NULL => None,
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Value::Int(number) => Some(number.to_string()),
        Value::UInt(number) => Some(number.to_string()),
        Value::Float(number) => Some(number.to_string()),
        Value::Double(number) => Some(number.to_string()),
        other => Some(other.as_sql(true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_a_client_prints_them() {
        assert_eq!(text(Value::NULL), None);
        assert_eq!(text(Value::Bytes(b"orders".to_vec())).as_deref(), Some("orders"));
        assert_eq!(text(Value::Int(-3)).as_deref(), Some("-3"));
        assert_eq!(text(Value::UInt(7)).as_deref(), Some("7"));
    }
}
