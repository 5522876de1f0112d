//! A typed snapshot of one server, parsed by column name.
//!
//! Column order differs between versions and the columns themselves are
//! renamed between MySQL (`Replica_IO_Running`, `Source_Host`) and MariaDB
//! (`Slave_IO_Running`, `Master_Host`), so every value is looked up by name
//! among its known aliases, never by position. Parsing is pure: it works on
//! [`Fields`], which the I/O layer fills from result rows.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::Error;
use crate::flavor::{Flavor, ServerVersion};

/// One result row as lower-cased column name → text value (`None` for NULL).
pub type Fields = BTreeMap<String, Option<String>>;

/// Everything drmysql needs to know about a server at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceStatus {
    /// Version and flavor.
    pub version: ServerVersion,
    /// `server_id`.
    pub server_id: u32,
    /// `server_uuid` (MySQL only): the origin of this server's own GTIDs.
    pub server_uuid: Option<String>,
    /// `read_only`.
    pub read_only: bool,
    /// `super_read_only` (MySQL only).
    pub super_read_only: Option<bool>,
    /// Executed transactions: `gtid_executed` (MySQL) or `gtid_current_pos` (MariaDB).
    pub gtid_executed: String,
    /// MariaDB's `gtid_binlog_state`, the newest sequence per (domain, server),
    /// which the errant-transaction check compares.
    pub gtid_binlog_state: Option<String>,
    /// MariaDB's `gtid_slave_pos`.
    pub gtid_replica_pos: Option<String>,
    /// Binary-log settings replication depends on.
    pub settings: BinlogSettings,
    /// Replication state, when the server is configured as a replica.
    pub replica: Option<ReplicaStatus>,
    /// Semi-synchronous replication state.
    pub semi_sync: SemiSyncStatus,
    /// Time since the server started.
    pub uptime: Duration,
}

impl InstanceStatus {
    /// Whether the server accepts writes from ordinary clients.
    pub fn writable(&self) -> bool {
        !self.read_only && self.super_read_only != Some(true)
    }
}

/// Binary-log and GTID settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BinlogSettings {
    /// `log_bin`.
    pub log_bin: bool,
    /// `log_replica_updates` / `log_slave_updates`.
    pub log_replica_updates: bool,
    /// `binlog_format`.
    pub binlog_format: String,
    /// MySQL `gtid_mode`.
    pub gtid_mode: Option<String>,
    /// MySQL `enforce_gtid_consistency`.
    pub enforce_gtid_consistency: Option<String>,
    /// MariaDB `gtid_strict_mode`.
    pub gtid_strict_mode: Option<bool>,
}

/// State of a replication thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// `Yes`.
    Running,
    /// `Connecting` (IO thread only): trying to reach the source.
    Connecting,
    /// `No`, or anything else.
    Stopped,
}

impl ThreadState {
    fn parse(text: Option<&str>) -> Self {
        match text.map(str::to_ascii_lowercase).as_deref() {
            Some("yes") => Self::Running,
            Some("connecting") | Some("preparing") => Self::Connecting,
            _ => Self::Stopped,
        }
    }
}

/// Replication state of a replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// Source host.
    pub source_host: String,
    /// Source port.
    pub source_port: u16,
    /// IO (receiver) thread.
    pub io_thread: ThreadState,
    /// SQL (applier) thread.
    pub sql_thread: ThreadState,
    /// Last IO error number, 0 for none.
    pub last_io_errno: u32,
    /// Last IO error message.
    pub last_io_error: Option<String>,
    /// Last SQL error number, 0 for none.
    pub last_sql_errno: u32,
    /// Last SQL error message.
    pub last_sql_error: Option<String>,
    /// `Seconds_Behind_Source`/`_Master`: whole seconds, and NULL (`None`) whenever
    /// the SQL thread is stopped. Reported, never relied on alone.
    pub seconds_behind: Option<u64>,
    /// Transactions received: `Retrieved_Gtid_Set` (MySQL) or `Gtid_IO_Pos` (MariaDB).
    pub retrieved_gtids: String,
    /// Whether GTID auto-positioning is on.
    pub gtid_auto_position: bool,
    /// Configured apply delay.
    pub sql_delay: Duration,
}

impl ReplicaStatus {
    /// Parses a `SHOW REPLICA STATUS` / `SHOW SLAVE STATUS` row.
    pub fn parse(fields: &Fields, endpoint: &str) -> Result<Self, Error> {
        let missing = |column: &str| Error::UnexpectedResult {
            endpoint: endpoint.to_owned(),
            operation: "SHOW REPLICA STATUS".to_owned(),
            detail: format!("no column {column}"),
        };
        let text = |aliases: &[&str]| lookup(fields, aliases);
        let required = |aliases: &[&str]| {
            if aliases.iter().any(|alias| fields.contains_key(*alias)) {
                Ok(text(aliases))
            } else {
                Err(missing(aliases[0]))
            }
        };
        let io = required(&["replica_io_running", "slave_io_running"])?;
        let sql = required(&["replica_sql_running", "slave_sql_running"])?;
        let host = required(&["source_host", "master_host"])?;
        let port = required(&["source_port", "master_port"])?;
        let non_empty = |value: Option<String>| value.filter(|text| !text.is_empty());
        Ok(Self {
            source_host: host.unwrap_or_default(),
            source_port: port.and_then(|port| port.parse().ok()).unwrap_or(0),
            io_thread: ThreadState::parse(io.as_deref()),
            sql_thread: ThreadState::parse(sql.as_deref()),
            last_io_errno: number(text(&["last_io_errno"])).unwrap_or(0) as u32,
            last_io_error: non_empty(text(&["last_io_error"])),
            last_sql_errno: number(text(&["last_sql_errno"])).unwrap_or(0) as u32,
            last_sql_error: non_empty(text(&["last_sql_error"])),
            seconds_behind: number(text(&["seconds_behind_source", "seconds_behind_master"])),
            retrieved_gtids: text(&["retrieved_gtid_set", "gtid_io_pos"]).unwrap_or_default(),
            gtid_auto_position: match text(&["auto_position", "using_gtid"]).as_deref() {
                Some("1") => true,
                Some(other) => {
                    other.eq_ignore_ascii_case("slave_pos") || other.eq_ignore_ascii_case("current_pos")
                }
                None => false,
            },
            sql_delay: Duration::from_secs(number(text(&["sql_delay"])).unwrap_or(0)),
        })
    }

    /// Whether both threads run.
    pub fn replicating(&self) -> bool {
        self.io_thread == ThreadState::Running && self.sql_thread == ThreadState::Running
    }
}

/// Semi-synchronous replication state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SemiSyncStatus {
    /// The source side is enabled.
    pub source_enabled: bool,
    /// The source side is active: commits wait for an acknowledgement. Turns
    /// off when a source falls back to asynchronous.
    pub source_active: bool,
    /// Semi-sync replicas connected.
    pub clients: u32,
    /// Sessions waiting for an acknowledgement right now.
    pub waiting_sessions: u32,
    /// `AFTER_SYNC` or `AFTER_COMMIT`.
    pub wait_point: Option<String>,
    /// Fallback timeout.
    pub timeout: Option<Duration>,
    /// The replica side is enabled.
    pub replica_enabled: bool,
    /// The replica side is active (its IO thread acknowledges).
    pub replica_active: bool,
}

impl SemiSyncStatus {
    /// Builds it from `SHOW GLOBAL STATUS` and `SHOW GLOBAL VARIABLES` name/value pairs.
    pub fn from_pairs(flavor: Flavor, status: &Fields, variables: &Fields) -> Self {
        let (source, replica) = if flavor.is_mariadb() {
            ("master", "slave")
        } else {
            ("source", "replica")
        };
        let status_of = |name: String| lookup(status, &[name.as_str()]);
        let variable_of = |name: String| lookup(variables, &[name.as_str()]);
        Self {
            source_enabled: truthy(variable_of(format!("rpl_semi_sync_{source}_enabled"))),
            source_active: truthy(status_of(format!("rpl_semi_sync_{source}_status"))),
            clients: number(status_of(format!("rpl_semi_sync_{source}_clients"))).unwrap_or(0) as u32,
            waiting_sessions: number(status_of(format!("rpl_semi_sync_{source}_wait_sessions"))).unwrap_or(0)
                as u32,
            wait_point: variable_of(format!("rpl_semi_sync_{source}_wait_point")),
            timeout: number(variable_of(format!("rpl_semi_sync_{source}_timeout")))
                .map(Duration::from_millis),
            replica_enabled: truthy(variable_of(format!("rpl_semi_sync_{replica}_enabled"))),
            replica_active: truthy(status_of(format!("rpl_semi_sync_{replica}_status"))),
        }
    }

    /// Lossless semi-sync as drmysql configures it: enabled, AFTER_SYNC, and a
    /// timeout of at least a day, so it does not fall back to asynchronous.
    pub fn is_lossless_source(&self) -> bool {
        self.source_enabled
            && self
                .wait_point
                .as_deref()
                .is_some_and(|point| point.eq_ignore_ascii_case("AFTER_SYNC"))
            && self
                .timeout
                .is_some_and(|timeout| timeout >= Duration::from_secs(86_400))
    }
}

/// Parses the server-variables row of [`crate::dialect::Dialect::server_variables`].
pub(crate) fn parse_variables(fields: &Fields, endpoint: &str) -> Result<VariablesRow, Error> {
    let unexpected = |detail: String| Error::UnexpectedResult {
        endpoint: endpoint.to_owned(),
        operation: "read server variables".to_owned(),
        detail,
    };
    let server_id = number(lookup(fields, &["server_id"]))
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| unexpected("server_id is not a number".to_owned()))?;
    Ok(VariablesRow {
        server_id,
        server_uuid: lookup(fields, &["server_uuid"]),
        read_only: truthy(lookup(fields, &["read_only"])),
        super_read_only: lookup(fields, &["super_read_only"]).map(|value| truthy(Some(value))),
        gtid_executed: compact_gtid(lookup(fields, &["gtid_executed"]).unwrap_or_default()),
        gtid_binlog_state: lookup(fields, &["gtid_binlog_state"]).map(compact_gtid),
        gtid_replica_pos: lookup(fields, &["gtid_replica_pos"]).map(compact_gtid),
        settings: BinlogSettings {
            log_bin: truthy(lookup(fields, &["log_bin"])),
            log_replica_updates: truthy(lookup(fields, &["log_replica_updates"])),
            binlog_format: lookup(fields, &["binlog_format"]).unwrap_or_default(),
            gtid_mode: lookup(fields, &["gtid_mode"]),
            enforce_gtid_consistency: lookup(fields, &["enforce_gtid_consistency"]),
            gtid_strict_mode: lookup(fields, &["gtid_strict_mode"]).map(|value| truthy(Some(value))),
        },
    })
}

/// The parts of [`InstanceStatus`] read from server variables.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct VariablesRow {
    pub server_id: u32,
    pub server_uuid: Option<String>,
    pub read_only: bool,
    pub super_read_only: Option<bool>,
    pub gtid_executed: String,
    pub gtid_binlog_state: Option<String>,
    pub gtid_replica_pos: Option<String>,
    pub settings: BinlogSettings,
}

/// Checks the settings GTID replication depends on, naming the first one missing.
pub fn check_prerequisites(flavor: Flavor, settings: &BinlogSettings, endpoint: &str) -> Result<(), Error> {
    let fail = |setting: &str, expected: &str, actual: String| {
        Err(Error::Prerequisite {
            endpoint: endpoint.to_owned(),
            setting: setting.to_owned(),
            expected: expected.to_owned(),
            actual,
        })
    };
    let on_off = |value: bool| if value { "ON" } else { "OFF" }.to_owned();
    if !settings.log_bin {
        return fail("log_bin", "ON", "OFF".to_owned());
    }
    if !settings.log_replica_updates {
        let name = if flavor.is_mariadb() {
            "log_slave_updates"
        } else {
            "log_replica_updates"
        };
        return fail(name, "ON", on_off(false));
    }
    if flavor.is_mariadb() {
        if settings.gtid_strict_mode != Some(true) {
            return fail("gtid_strict_mode", "ON", on_off(false));
        }
    } else {
        let gtid_mode = settings.gtid_mode.clone().unwrap_or_default();
        if !gtid_mode.eq_ignore_ascii_case("ON") {
            return fail("gtid_mode", "ON", gtid_mode);
        }
        let consistency = settings.enforce_gtid_consistency.clone().unwrap_or_default();
        if !consistency.eq_ignore_ascii_case("ON") {
            return fail("enforce_gtid_consistency", "ON", consistency);
        }
    }
    Ok(())
}

fn lookup(fields: &Fields, aliases: &[&str]) -> Option<String> {
    aliases
        .iter()
        .find_map(|alias| fields.get(*alias))
        .cloned()
        .flatten()
}

fn number(value: Option<String>) -> Option<u64> {
    value.and_then(|text| text.trim().parse().ok())
}

fn truthy(value: Option<String>) -> bool {
    value.is_some_and(|text| {
        matches!(
            text.trim().to_ascii_uppercase().as_str(),
            "1" | "ON" | "YES" | "TRUE"
        )
    })
}

/// GTID sets come with newlines after the commas (MySQL); drop all whitespace.
fn compact_gtid(text: String) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, Option<&str>)]) -> Fields {
        pairs
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn mariadb_slave_status_parses_by_name() {
        let row = fields(&[
            ("Slave_IO_State", Some("Waiting for master to send event")),
            ("Master_Host", Some("10.233.64.7")),
            ("Master_Port", Some("3306")),
            ("Slave_IO_Running", Some("Yes")),
            ("Slave_SQL_Running", Some("No")),
            ("Last_SQL_Errno", Some("1062")),
            ("Last_SQL_Error", Some("Duplicate entry")),
            ("Last_IO_Errno", Some("0")),
            ("Last_IO_Error", Some("")),
            ("Seconds_Behind_Master", None),
            ("Using_Gtid", Some("Slave_Pos")),
            ("Gtid_IO_Pos", Some("0-1-42")),
            ("SQL_Delay", Some("2")),
        ]);
        let status = ReplicaStatus::parse(&row, "db:3306").expect("parses");
        assert_eq!(status.source_host, "10.233.64.7");
        assert_eq!(status.source_port, 3306);
        assert_eq!(
            (status.io_thread, status.sql_thread),
            (ThreadState::Running, ThreadState::Stopped)
        );
        assert_eq!(status.last_sql_errno, 1062);
        assert_eq!(status.last_io_error, None);
        assert_eq!(
            status.seconds_behind, None,
            "NULL while the SQL thread is stopped"
        );
        assert_eq!(status.retrieved_gtids, "0-1-42");
        assert!(status.gtid_auto_position);
        assert_eq!(status.sql_delay, Duration::from_secs(2));
        assert!(!status.replicating());
    }

    #[test]
    fn mysql_replica_status_parses_by_name() {
        let row = fields(&[
            ("Source_Host", Some("db-0")),
            ("Source_Port", Some("3306")),
            ("Replica_IO_Running", Some("Connecting")),
            ("Replica_SQL_Running", Some("Yes")),
            ("Seconds_Behind_Source", Some("3")),
            ("Retrieved_Gtid_Set", Some("uuid:1-10")),
            ("Auto_Position", Some("1")),
        ]);
        let status = ReplicaStatus::parse(&row, "db:3306").expect("parses");
        assert_eq!(status.io_thread, ThreadState::Connecting);
        assert_eq!(status.seconds_behind, Some(3));
        assert!(status.gtid_auto_position);
    }

    #[test]
    fn a_status_row_without_thread_columns_is_refused() {
        let error =
            ReplicaStatus::parse(&fields(&[("Master_Host", Some("x"))]), "db:3306").expect_err("refused");
        assert!(error.to_string().contains("replica_io_running"), "{error}");
    }

    #[test]
    fn semi_sync_from_pairs() {
        let status = fields(&[
            ("Rpl_semi_sync_master_status", Some("ON")),
            ("Rpl_semi_sync_master_clients", Some("1")),
            ("Rpl_semi_sync_master_wait_sessions", Some("2")),
        ]);
        let variables = fields(&[
            ("rpl_semi_sync_master_enabled", Some("ON")),
            ("rpl_semi_sync_master_wait_point", Some("AFTER_SYNC")),
            ("rpl_semi_sync_master_timeout", Some("4294967295")),
            ("rpl_semi_sync_slave_enabled", Some("OFF")),
        ]);
        let semi = SemiSyncStatus::from_pairs(Flavor::MariaDb, &status, &variables);
        assert!(semi.source_enabled && semi.source_active && semi.is_lossless_source());
        assert_eq!((semi.clients, semi.waiting_sessions), (1, 2));
        assert!(!semi.replica_enabled);
        let fallback = SemiSyncStatus::from_pairs(
            Flavor::MariaDb,
            &status,
            &fields(&[
                ("rpl_semi_sync_master_enabled", Some("ON")),
                ("rpl_semi_sync_master_timeout", Some("10000")),
            ]),
        );
        assert!(
            !fallback.is_lossless_source(),
            "a 10 s timeout falls back to async"
        );
    }

    #[test]
    fn prerequisites_name_the_missing_setting() {
        let good_mariadb = BinlogSettings {
            log_bin: true,
            log_replica_updates: true,
            binlog_format: "ROW".into(),
            gtid_strict_mode: Some(true),
            ..BinlogSettings::default()
        };
        assert!(check_prerequisites(Flavor::MariaDb, &good_mariadb, "db:1").is_ok());
        let cases = [
            (
                BinlogSettings {
                    log_bin: false,
                    ..good_mariadb.clone()
                },
                "log_bin must be ON",
            ),
            (
                BinlogSettings {
                    log_replica_updates: false,
                    ..good_mariadb.clone()
                },
                "log_slave_updates must be ON",
            ),
            (
                BinlogSettings {
                    gtid_strict_mode: Some(false),
                    ..good_mariadb.clone()
                },
                "gtid_strict_mode must be ON",
            ),
        ];
        for (settings, expected) in cases {
            let error = check_prerequisites(Flavor::MariaDb, &settings, "db:1")
                .expect_err(expected)
                .to_string();
            assert!(error.contains(expected) && error.contains("db:1"), "{error}");
        }
        let mysql = BinlogSettings {
            log_bin: true,
            log_replica_updates: true,
            gtid_mode: Some("OFF_PERMISSIVE".into()),
            enforce_gtid_consistency: Some("ON".into()),
            ..BinlogSettings::default()
        };
        let error = check_prerequisites(Flavor::MySql84, &mysql, "db:1")
            .expect_err("gtid_mode")
            .to_string();
        assert!(
            error.contains("gtid_mode must be ON") && error.contains("OFF_PERMISSIVE"),
            "{error}"
        );
    }
}
