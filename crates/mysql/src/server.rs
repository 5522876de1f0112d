//! A connection to one server, with every round trip bounded in time.
//!
//! `mysql_async` has no connect timeout and no query timeout, and a server
//! behind a dead WAN link can hold a TCP connection open for minutes. Every
//! connect and every statement here runs under a caller-given bound; after a
//! [`Error::Timeout`] the connection is in an unknown state and must be
//! dropped. The flavor is detected once, at connect.

use std::fmt;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, Value};

use crate::dialect::{Dialect, SESSION_SQL_MODE, Statement};
use crate::error::Error;
use crate::flavor::{Flavor, ServerVersion};
use crate::status::Fields;

/// Where and as whom to connect.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
}

impl Target {
    /// A target.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            user: user.into(),
            password: password.into(),
        }
    }

    /// `host:port`, as errors name the server.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// An open connection to one server, with its detected flavor.
pub struct Server {
    conn: Conn,
    endpoint: String,
    version: ServerVersion,
    dialect: Dialect,
    timeout: Duration,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("endpoint", &self.endpoint)
            .field("version", &self.version.text)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Server {
    /// Connects, sets up the session (utf8mb4, drmysql's `sql_mode`) and
    /// detects the flavor. `timeout` bounds the connect and, afterwards, every
    /// statement this connection runs.
    pub async fn connect(target: &Target, timeout: Duration) -> Result<Self, Error> {
        let endpoint = target.endpoint();
        let opts = OptsBuilder::default()
            .ip_or_hostname(target.host.clone())
            .tcp_port(target.port)
            .user(Some(target.user.clone()))
            .pass(Some(target.password.clone()))
            .prefer_socket(false)
            .tcp_nodelay(true)
            .stmt_cache_size(0)
            .init(vec![
                "SET NAMES utf8mb4".to_owned(),
                format!("SET SESSION sql_mode = '{SESSION_SQL_MODE}'"),
            ]);
        let conn = match tokio::time::timeout(timeout, Conn::new(opts)).await {
            Err(_) => {
                return Err(Error::Timeout {
                    endpoint,
                    operation: "connect".to_owned(),
                    after: timeout,
                });
            }
            Ok(Err(error)) => return Err(Error::from_connect(&endpoint, &target.user, error)),
            Ok(Ok(conn)) => conn,
        };
        let mut server = Self {
            conn,
            endpoint,
            // Replaced right below, once the server says what it is.
            version: ServerVersion {
                text: String::new(),
                number: (0, 0, 0),
                flavor: Flavor::MariaDb,
            },
            dialect: Dialect::new(Flavor::MariaDb),
            timeout,
        };
        let text: Option<String> = server.scalar(&Dialect::version()).await?;
        let version = ServerVersion::parse(&text.unwrap_or_default())?;
        server.dialect = Dialect::new(version.flavor);
        server.version = version;
        Ok(server)
    }

    /// `host:port` of this server.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Version and flavor.
    pub fn version(&self) -> &ServerVersion {
        &self.version
    }

    /// The flavor.
    pub fn flavor(&self) -> Flavor {
        self.version.flavor
    }

    /// The dialect statements for this server are written in.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The bound on each statement.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Closes the connection politely, bounded by the statement timeout.
    pub async fn close(self) {
        let timeout = self.timeout;
        let _ = tokio::time::timeout(timeout, self.conn.disconnect()).await;
    }

    /// Runs a statement and discards any result.
    pub async fn run(&mut self, statement: &Statement) -> Result<(), Error> {
        self.run_within(statement, self.timeout).await
    }

    /// Runs a statement under an explicit bound (for statements that wait).
    pub async fn run_within(&mut self, statement: &Statement, bound: Duration) -> Result<(), Error> {
        let conn = &mut self.conn;
        let work = async {
            if statement.params().is_empty() {
                conn.query_drop(statement.sql()).await
            } else {
                conn.exec_drop(statement.sql(), statement.params().to_vec()).await
            }
        };
        bounded(&self.endpoint, statement.operation(), bound, work).await
    }

    /// Runs a statement and returns its rows.
    pub async fn rows(&mut self, statement: &Statement) -> Result<Vec<Row>, Error> {
        self.rows_within(statement, self.timeout).await
    }

    /// Runs a statement under an explicit bound and returns its rows.
    pub async fn rows_within(&mut self, statement: &Statement, bound: Duration) -> Result<Vec<Row>, Error> {
        let conn = &mut self.conn;
        let work = async {
            if statement.params().is_empty() {
                conn.query::<Row, _>(statement.sql()).await
            } else {
                conn.exec::<Row, _, _>(statement.sql(), statement.params().to_vec())
                    .await
            }
        };
        bounded(&self.endpoint, statement.operation(), bound, work).await
    }

    /// Runs a statement and returns its rows as name → text maps.
    pub async fn fields(&mut self, statement: &Statement) -> Result<Vec<Fields>, Error> {
        Ok(self.rows(statement).await?.into_iter().map(row_fields).collect())
    }

    /// Runs a `SHOW ... WHERE Variable_name IN (...)` and returns name → value.
    pub async fn name_value_pairs(&mut self, statement: &Statement) -> Result<Fields, Error> {
        let rows = self.rows(statement).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let mut values = row.unwrap().into_iter();
                let name = value_text(values.next()?)?;
                Some((name.to_ascii_lowercase(), values.next().and_then(value_text)))
            })
            .collect())
    }

    /// Runs a statement returning one row of one column.
    pub async fn scalar(&mut self, statement: &Statement) -> Result<Option<String>, Error> {
        let rows = self.rows(statement).await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|row| row.unwrap().into_iter().next())
            .and_then(value_text))
    }

    /// Runs `statement` and measures its round trip: returns the rows, the
    /// round trip and the local instant of its middle.
    pub async fn timed_rows(
        &mut self,
        statement: &Statement,
    ) -> Result<(Vec<Row>, Duration, Instant), Error> {
        let started = Instant::now();
        let rows = self.rows(statement).await?;
        let round_trip = started.elapsed();
        Ok((rows, round_trip, started + round_trip / 2))
    }
}

async fn bounded<T>(
    endpoint: &str,
    operation: &str,
    bound: Duration,
    work: impl Future<Output = Result<T, mysql_async::Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(bound, work).await {
        Err(_) => Err(Error::Timeout {
            endpoint: endpoint.to_owned(),
            operation: operation.to_owned(),
            after: bound,
        }),
        Ok(Err(source)) => Err(Error::Query {
            endpoint: endpoint.to_owned(),
            operation: operation.to_owned(),
            source,
        }),
        Ok(Ok(value)) => Ok(value),
    }
}

/// A row as lower-cased column name → text value.
pub(crate) fn row_fields(row: Row) -> Fields {
    let names: Vec<String> = row
        .columns_ref()
        .iter()
        .map(|column| column.name_str().to_ascii_lowercase())
        .collect();
    names
        .into_iter()
        .zip(row.unwrap().into_iter().map(value_text))
        .collect()
}

/// A value as text; `None` for NULL.
pub(crate) fn value_text(value: Value) -> Option<String> {
    match value {
        Value::NULL => None,
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Value::Int(number) => Some(number.to_string()),
        Value::UInt(number) => Some(number.to_string()),
        Value::Float(number) => Some(number.to_string()),
        Value::Double(number) => Some(number.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_owned()),
    }
}
