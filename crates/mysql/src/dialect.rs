//! The only place where SQL text is written.
//!
//! [`Dialect`] turns each thing drmysql says to a server into a [`Statement`]
//! for the detected [`Flavor`]: `CHANGE REPLICATION SOURCE TO` or `CHANGE MASTER
//! TO`, `SHOW REPLICA STATUS` or `SHOW SLAVE STATUS`, the semi-sync variable
//! names, `super_read_only` where it exists, and the GTID wait functions.
//! Values travel as parameters wherever the server accepts one; account names,
//! passwords and `CHANGE ... TO` options cannot, and are escaped by
//! [`crate::escape`]. Statements that hold a password are marked sensitive and
//! never printed.

use std::fmt;
use std::time::Duration;

use mysql_async::Value;

use crate::escape::{account, identifier, string_literal};
use crate::flavor::Flavor;

/// Session `sql_mode` of every drmysql connection: strict, and without
/// `NO_BACKSLASH_ESCAPES`, which [`crate::escape::string_literal`] relies on.
pub const SESSION_SQL_MODE: &str = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

/// Schema of drmysql's own tables.
pub const SCHEMA: &str = "drmysql";
/// Table the primary's heartbeat writer upserts.
pub const HEARTBEAT_TABLE: &str = "heartbeat";
/// Primary key of the single heartbeat row.
pub const HEARTBEAT_ROW_ID: u8 = 1;

/// Semi-sync wait timeout used in Lossless mode: the maximum the variable holds
/// on every flavor (about 49 days), so the source never falls back to async.
pub const LOSSLESS_SEMI_SYNC_TIMEOUT_MS: u64 = u32::MAX as u64;

/// One statement, with its parameters and a short name for errors and logs.
#[derive(Clone, PartialEq)]
pub struct Statement {
    sql: String,
    params: Vec<Value>,
    operation: &'static str,
    sensitive: bool,
}

impl Statement {
    fn text(operation: &'static str, sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            params: Vec::new(),
            operation,
            sensitive: false,
        }
    }

    fn with_params(operation: &'static str, sql: impl Into<String>, params: Vec<Value>) -> Self {
        Self {
            sql: sql.into(),
            params,
            operation,
            sensitive: false,
        }
    }

    fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// The SQL text. It may hold a password when [`Self::is_sensitive`].
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The parameters bound to the `?` placeholders.
    pub fn params(&self) -> &[Value] {
        &self.params
    }

    /// A short name for errors and logs, e.g. `CHANGE MASTER TO`.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// Whether the text holds a secret and must never be logged.
    pub fn is_sensitive(&self) -> bool {
        self.sensitive
    }
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sensitive {
            write!(f, "Statement({}: <redacted>)", self.operation)
        } else {
            write!(
                f,
                "Statement({}: {:?} {:?})",
                self.operation, self.sql, self.params
            )
        }
    }
}

/// Where and how a replica connects to its source.
#[derive(Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// Source host (a pod IP over the cluster link, or a name).
    pub host: String,
    /// Source port.
    pub port: u16,
    /// Replication user.
    pub user: String,
    /// Replication password.
    pub password: String,
    /// Seconds between reconnection attempts of the IO thread.
    pub connect_retry: Duration,
    /// Interval of the source's heartbeat events on an idle link.
    pub heartbeat_period: Duration,
    /// How long the IO thread waits for data before it reconnects; with the
    /// heartbeat period this bounds how fast a broken link is noticed.
    pub net_timeout: Duration,
    /// Deliberate apply delay (a delayed replica), if any.
    pub delay: Option<Duration>,
}

impl SourceConfig {
    /// A source with drmysql's defaults for cross-site links: retry every
    /// second, a heartbeat every second, and a broken link noticed in 4 s.
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
            connect_retry: Duration::from_secs(1),
            heartbeat_period: Duration::from_secs(1),
            net_timeout: Duration::from_secs(4),
            delay: None,
        }
    }
}

impl fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("connect_retry", &self.connect_retry)
            .field("heartbeat_period", &self.heartbeat_period)
            .field("net_timeout", &self.net_timeout)
            .field("delay", &self.delay)
            .finish()
    }
}

/// What a database account is for; decides its privileges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    /// Replicas connect as this account to stream the binary log.
    Replication,
    /// The sidecar writes heartbeats and reads replication status as this account.
    Heartbeat,
}

/// Produces every statement for one flavor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialect {
    flavor: Flavor,
}

impl Dialect {
    /// The dialect of `flavor`.
    pub fn new(flavor: Flavor) -> Self {
        Self { flavor }
    }

    /// The flavor this dialect speaks.
    pub fn flavor(self) -> Flavor {
        self.flavor
    }

    fn mariadb(self) -> bool {
        self.flavor.is_mariadb()
    }

    /// `SELECT VERSION()`.
    pub fn version() -> Statement {
        Statement::text("SELECT VERSION()", "SELECT VERSION()")
    }

    /// Identity, read-only state, binary-log settings and GTID positions, with
    /// stable column aliases.
    pub fn server_variables(self) -> Statement {
        let common = "@@GLOBAL.server_id AS server_id, @@GLOBAL.read_only AS read_only, \
                      @@GLOBAL.log_bin AS log_bin, @@GLOBAL.binlog_format AS binlog_format";
        let sql = if self.mariadb() {
            format!(
                "SELECT {common}, NULL AS super_read_only, NULL AS server_uuid, \
                 @@GLOBAL.log_slave_updates AS log_replica_updates, @@GLOBAL.gtid_strict_mode AS gtid_strict_mode, \
                 NULL AS gtid_mode, NULL AS enforce_gtid_consistency, \
                 @@GLOBAL.gtid_current_pos AS gtid_executed, @@GLOBAL.gtid_binlog_state AS gtid_binlog_state, \
                 @@GLOBAL.gtid_slave_pos AS gtid_replica_pos"
            )
        } else {
            format!(
                "SELECT {common}, @@GLOBAL.super_read_only AS super_read_only, @@GLOBAL.server_uuid AS server_uuid, \
                 @@GLOBAL.log_replica_updates AS log_replica_updates, NULL AS gtid_strict_mode, \
                 @@GLOBAL.gtid_mode AS gtid_mode, @@GLOBAL.enforce_gtid_consistency AS enforce_gtid_consistency, \
                 @@GLOBAL.gtid_executed AS gtid_executed, NULL AS gtid_binlog_state, NULL AS gtid_replica_pos"
            )
        };
        Statement::text("read server variables", sql)
    }

    /// Uptime and semi-sync status counters.
    pub fn global_status(self) -> Statement {
        let (source, replica) = self.semi_sync_prefixes();
        Statement::text(
            "read global status",
            format!(
                "SHOW GLOBAL STATUS WHERE Variable_name IN ('Uptime', 'Rpl_semi_sync_{source}_status', \
                 'Rpl_semi_sync_{source}_clients', 'Rpl_semi_sync_{source}_wait_sessions', \
                 'Rpl_semi_sync_{replica}_status')"
            ),
        )
    }

    /// Semi-sync configuration variables (absent when the MySQL plugins are not loaded).
    pub fn semi_sync_variables(self) -> Statement {
        let (source, replica) = self.semi_sync_prefixes();
        Statement::text(
            "read semi-sync variables",
            format!(
                "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('rpl_semi_sync_{source}_enabled', \
                 'rpl_semi_sync_{source}_wait_point', 'rpl_semi_sync_{source}_timeout', \
                 'rpl_semi_sync_{replica}_enabled')"
            ),
        )
    }

    /// `(source, replica)` infixes of the semi-sync variable names.
    pub fn semi_sync_prefixes(self) -> (&'static str, &'static str) {
        if self.mariadb() {
            ("master", "slave")
        } else {
            ("source", "replica")
        }
    }

    /// The replica status statement, whose columns are parsed by name.
    pub fn replica_status(self) -> Statement {
        if self.mariadb() {
            Statement::text("SHOW SLAVE STATUS", "SHOW SLAVE STATUS")
        } else {
            Statement::text("SHOW REPLICA STATUS", "SHOW REPLICA STATUS")
        }
    }

    /// Turns binary logging off or on for this session, so that drmysql's own
    /// setup (users, its schema) creates no GTIDs that would look errant.
    pub fn session_binlog(enabled: bool) -> Statement {
        Statement::text(
            "SET SESSION sql_log_bin",
            format!("SET SESSION sql_log_bin = {}", u8::from(enabled)),
        )
    }

    /// Creates drmysql's schema and heartbeat table if absent.
    pub fn create_heartbeat_schema() -> [Statement; 2] {
        [
            Statement::text(
                "CREATE DATABASE drmysql",
                format!("CREATE DATABASE IF NOT EXISTS {}", identifier(SCHEMA)),
            ),
            Statement::text(
                "CREATE TABLE drmysql.heartbeat",
                format!(
                    "CREATE TABLE IF NOT EXISTS {}.{} (id TINYINT UNSIGNED NOT NULL PRIMARY KEY, \
                     server_id INT UNSIGNED NOT NULL, ts DATETIME(6) NOT NULL) ENGINE=InnoDB",
                    identifier(SCHEMA),
                    identifier(HEARTBEAT_TABLE)
                ),
            ),
        ]
    }

    /// Creates or updates an account and grants what its kind needs.
    pub fn ensure_account(self, kind: AccountKind, user: &str, password: &str) -> Vec<Statement> {
        let who = account(user, "%");
        let secret = string_literal(password);
        let mut statements = vec![
            Statement::text(
                "CREATE USER",
                format!("CREATE USER IF NOT EXISTS {who} IDENTIFIED BY {secret}"),
            )
            .sensitive(),
            Statement::text("ALTER USER", format!("ALTER USER {who} IDENTIFIED BY {secret}")).sensitive(),
        ];
        let grants: Vec<String> = match (kind, self.mariadb()) {
            (AccountKind::Replication, true) => vec![format!("GRANT REPLICATION SLAVE ON *.* TO {who}")],
            (AccountKind::Replication, false) => vec![format!("GRANT REPLICATION SLAVE ON *.* TO {who}")],
            (AccountKind::Heartbeat, true) => vec![
                format!(
                    "GRANT SELECT, INSERT, UPDATE ON {}.* TO {who}",
                    identifier(SCHEMA)
                ),
                format!("GRANT BINLOG MONITOR, SLAVE MONITOR ON *.* TO {who}"),
            ],
            (AccountKind::Heartbeat, false) => vec![
                format!(
                    "GRANT SELECT, INSERT, UPDATE ON {}.* TO {who}",
                    identifier(SCHEMA)
                ),
                format!("GRANT REPLICATION CLIENT ON *.* TO {who}"),
            ],
        };
        statements.extend(grants.into_iter().map(|grant| Statement::text("GRANT", grant)));
        statements
    }

    /// Stops replication (both threads).
    pub fn stop_replica(self) -> Statement {
        if self.mariadb() {
            Statement::text("STOP SLAVE", "STOP SLAVE")
        } else {
            Statement::text("STOP REPLICA", "STOP REPLICA")
        }
    }

    /// Starts replication (both threads).
    pub fn start_replica(self) -> Statement {
        if self.mariadb() {
            Statement::text("START SLAVE", "START SLAVE")
        } else {
            Statement::text("START REPLICA", "START REPLICA")
        }
    }

    /// Stops only the IO (receiver) thread: no new transactions arrive, and the
    /// relay log keeps being applied.
    pub fn stop_io_thread(self) -> Statement {
        if self.mariadb() {
            Statement::text("STOP SLAVE IO_THREAD", "STOP SLAVE IO_THREAD")
        } else {
            Statement::text("STOP REPLICA IO_THREAD", "STOP REPLICA IO_THREAD")
        }
    }

    /// Starts only the IO thread.
    pub fn start_io_thread(self) -> Statement {
        if self.mariadb() {
            Statement::text("START SLAVE IO_THREAD", "START SLAVE IO_THREAD")
        } else {
            Statement::text("START REPLICA IO_THREAD", "START REPLICA IO_THREAD")
        }
    }

    /// Forgets the source entirely.
    pub fn reset_replica_all(self) -> Statement {
        if self.mariadb() {
            Statement::text("RESET SLAVE ALL", "RESET SLAVE ALL")
        } else {
            Statement::text("RESET REPLICA ALL", "RESET REPLICA ALL")
        }
    }

    /// How long the IO thread waits for data before it reconnects, in whole
    /// seconds (at least 1).
    pub fn set_net_timeout(self, timeout: Duration) -> Statement {
        let name = if self.mariadb() {
            "slave_net_timeout"
        } else {
            "replica_net_timeout"
        };
        Statement::with_params(
            "SET GLOBAL net timeout",
            format!("SET GLOBAL {name} = ?"),
            vec![Value::from(whole_seconds(timeout))],
        )
    }

    /// MariaDB: starts GTID replication from everything this server has
    /// executed, including its own writes as a former primary. Without it a
    /// former primary that was never a replica cannot rejoin (error 1950).
    /// `None` on MySQL, whose auto-positioning needs nothing.
    pub fn align_replica_position(self) -> Option<Statement> {
        self.mariadb().then(|| {
            Statement::text(
                "SET GLOBAL gtid_slave_pos",
                "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_current_pos",
            )
        })
    }

    /// Points this server at `source` with GTID auto-positioning.
    pub fn change_source(self, source: &SourceConfig) -> Statement {
        let retry = whole_seconds(source.connect_retry);
        let heartbeat = format!("{:.3}", source.heartbeat_period.as_secs_f64().max(0.001));
        let delay = source.delay.map_or(0, |delay| delay.as_secs_f64().ceil() as u64);
        let sql = if self.mariadb() {
            format!(
                "CHANGE MASTER TO MASTER_HOST = {}, MASTER_PORT = {}, MASTER_USER = {}, MASTER_PASSWORD = {}, \
                 MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = {retry}, MASTER_HEARTBEAT_PERIOD = {heartbeat}, \
                 MASTER_DELAY = {delay}",
                string_literal(&source.host),
                source.port,
                string_literal(&source.user),
                string_literal(&source.password),
            )
        } else {
            format!(
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST = {}, SOURCE_PORT = {}, SOURCE_USER = {}, \
                 SOURCE_PASSWORD = {}, SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1, \
                 SOURCE_CONNECT_RETRY = {retry}, SOURCE_RETRY_COUNT = 86400, SOURCE_HEARTBEAT_PERIOD = {heartbeat}, \
                 SOURCE_DELAY = {delay}",
                string_literal(&source.host),
                source.port,
                string_literal(&source.user),
                string_literal(&source.password),
            )
        };
        let operation = if self.mariadb() {
            "CHANGE MASTER TO"
        } else {
            "CHANGE REPLICATION SOURCE TO"
        };
        Statement::text(operation, sql).sensitive()
    }

    /// MySQL: which semi-sync plugins are loaded (`None` on MariaDB, where
    /// semi-sync is built in).
    pub fn loaded_semi_sync_plugins(self) -> Option<Statement> {
        (!self.mariadb()).then(|| {
            Statement::text(
                "list semi-sync plugins",
                "SELECT PLUGIN_NAME FROM information_schema.PLUGINS \
                 WHERE PLUGIN_NAME IN ('rpl_semi_sync_source', 'rpl_semi_sync_replica') AND PLUGIN_STATUS = 'ACTIVE'",
            )
        })
    }

    /// MySQL: loads the semi-sync plugins missing from `loaded`. MariaDB has
    /// semi-sync built in and needs none.
    pub fn install_semi_sync_plugins(self, loaded: &[String]) -> Vec<Statement> {
        if self.mariadb() {
            return Vec::new();
        }
        [
            ("rpl_semi_sync_source", "semisync_source.so"),
            ("rpl_semi_sync_replica", "semisync_replica.so"),
        ]
        .into_iter()
        .filter(|(plugin, _)| !loaded.iter().any(|name| name.eq_ignore_ascii_case(plugin)))
        .map(|(plugin, library)| {
            Statement::text(
                "INSTALL PLUGIN",
                format!("INSTALL PLUGIN {plugin} SONAME '{library}'"),
            )
        })
        .collect()
    }

    /// Lossless source side: semi-sync on, wait point AFTER_SYNC, and a timeout
    /// so long that the source never falls back to asynchronous.
    pub fn enable_semi_sync_source(self) -> Vec<Statement> {
        let (source, _) = self.semi_sync_prefixes();
        let mut statements = vec![
            Statement::text(
                "SET GLOBAL semi-sync wait point",
                format!("SET GLOBAL rpl_semi_sync_{source}_wait_point = 'AFTER_SYNC'"),
            ),
            Statement::with_params(
                "SET GLOBAL semi-sync timeout",
                format!("SET GLOBAL rpl_semi_sync_{source}_timeout = ?"),
                vec![Value::from(LOSSLESS_SEMI_SYNC_TIMEOUT_MS)],
            ),
        ];
        if !self.mariadb() {
            statements.push(Statement::text(
                "SET GLOBAL semi-sync wait count",
                "SET GLOBAL rpl_semi_sync_source_wait_for_replica_count = 1",
            ));
        }
        statements.push(Statement::text(
            "SET GLOBAL semi-sync source enabled",
            format!("SET GLOBAL rpl_semi_sync_{source}_enabled = ON"),
        ));
        statements
    }

    /// Turns the source side of semi-sync off (Async mode).
    pub fn disable_semi_sync_source(self) -> Statement {
        let (source, _) = self.semi_sync_prefixes();
        Statement::text(
            "SET GLOBAL semi-sync source disabled",
            format!("SET GLOBAL rpl_semi_sync_{source}_enabled = OFF"),
        )
    }

    /// Turns the replica side of semi-sync on or off. Takes effect when the IO
    /// thread next starts.
    pub fn set_semi_sync_replica(self, enabled: bool) -> Statement {
        let (_, replica) = self.semi_sync_prefixes();
        Statement::text(
            "SET GLOBAL semi-sync replica",
            format!("SET GLOBAL rpl_semi_sync_{replica}_enabled = {}", on_off(enabled)),
        )
    }

    /// Sets `read_only`.
    pub fn set_read_only(enabled: bool) -> Statement {
        Statement::text(
            "SET GLOBAL read_only",
            format!("SET GLOBAL read_only = {}", on_off(enabled)),
        )
    }

    /// Sets `super_read_only` (MySQL only; `None` on MariaDB, which has none).
    pub fn set_super_read_only(self, enabled: bool) -> Option<Statement> {
        (!self.mariadb()).then(|| {
            Statement::text(
                "SET GLOBAL super_read_only",
                format!("SET GLOBAL super_read_only = {}", on_off(enabled)),
            )
        })
    }

    /// Waits until this server has executed `position`, for at most `wait`.
    /// Returns one row whose single column is 0 when reached.
    pub fn wait_for_position(self, position: &str, wait: Duration) -> Statement {
        let seconds = wait.as_secs_f64();
        if self.mariadb() {
            Statement::with_params(
                "MASTER_GTID_WAIT",
                "SELECT MASTER_GTID_WAIT(?, ?)",
                vec![Value::from(position), Value::from(seconds)],
            )
        } else {
            Statement::with_params(
                "WAIT_FOR_EXECUTED_GTID_SET",
                "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)",
                vec![Value::from(position), Value::from(seconds)],
            )
        }
    }

    /// Client connections a fence must end: every connection but this one,
    /// system threads, the replication threads and binlog dump threads.
    pub fn client_connections() -> Statement {
        Statement::text(
            "list client connections",
            "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
             AND USER NOT IN ('system user', 'event_scheduler') \
             AND COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID', 'Daemon', 'Slave_IO', 'Slave_SQL', \
             'Slave_worker')",
        )
    }

    /// Ends one connection.
    pub fn kill_connection(id: u64) -> Statement {
        Statement::text("KILL CONNECTION", format!("KILL CONNECTION {id}"))
    }

    /// Upserts the heartbeat row with this server's id and its own UTC clock.
    pub fn write_heartbeat(self) -> Statement {
        let table = format!("{}.{}", identifier(SCHEMA), identifier(HEARTBEAT_TABLE));
        let sql = if self.mariadb() {
            format!(
                "INSERT INTO {table} (id, server_id, ts) VALUES (?, @@server_id, UTC_TIMESTAMP(6)) \
                 ON DUPLICATE KEY UPDATE server_id = VALUES(server_id), ts = VALUES(ts)"
            )
        } else {
            format!(
                "INSERT INTO {table} (id, server_id, ts) VALUES (?, @@server_id, UTC_TIMESTAMP(6)) AS new \
                 ON DUPLICATE KEY UPDATE server_id = new.server_id, ts = new.ts"
            )
        };
        Statement::with_params("write heartbeat", sql, vec![Value::from(HEARTBEAT_ROW_ID)])
    }

    /// This server's UTC clock and newest heartbeat, read in one statement.
    pub fn heartbeat_sample() -> Statement {
        Statement::with_params(
            "read heartbeat",
            format!(
                "SELECT UTC_TIMESTAMP(6) AS now, (SELECT ts FROM {}.{} WHERE id = ?) AS ts",
                identifier(SCHEMA),
                identifier(HEARTBEAT_TABLE)
            ),
            vec![Value::from(HEARTBEAT_ROW_ID)],
        )
    }
}

fn on_off(enabled: bool) -> &'static str {
    if enabled { "ON" } else { "OFF" }
}

fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests;
