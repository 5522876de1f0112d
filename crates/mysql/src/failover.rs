//! The steps of a failover and a switchover: fencing the old primary, waiting
//! for a replica to catch up, promoting it, and the errant-transaction check
//! that decides whether a server may be promoted or re-attached.
//!
//! Every step reads back its effect. A tool that trusts `SET GLOBAL
//! read_only = OFF` without reading it back can report success while the
//! server stayed read-only (orchestrator did exactly that against MariaDB).

use std::time::{Duration, Instant};

use crate::dialect::Dialect;
use crate::error::Error;
use crate::gtid::{ErrantReport, mariadb_errant, mysql_errant};
use crate::server::Server;
use crate::status::InstanceStatus;

/// What a fence achieved. Fencing is best effort: every step is tried, and the
/// report says which succeeded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FenceReport {
    /// Whether `read_only` was read back as ON.
    pub read_only: bool,
    /// Whether `super_read_only` was read back as ON (MySQL only).
    pub super_read_only: Option<bool>,
    /// Client connections ended.
    pub killed_connections: u32,
    /// Steps that failed, with their errors.
    pub errors: Vec<String>,
}

impl FenceReport {
    /// Whether ordinary clients can no longer write: read-only read back, and on
    /// MySQL super-read-only too.
    pub fn fenced(&self) -> bool {
        self.read_only && self.super_read_only != Some(false)
    }
}

/// The result of a promotion.
#[derive(Clone, Debug, PartialEq)]
pub struct Promotion {
    /// Executed GTIDs at the moment the server became writable: everything it
    /// will ever have from its old source.
    pub gtid_executed: String,
    /// Time spent waiting for the relay log to be applied.
    pub apply_wait: Duration,
    /// Whether the server was a replica (false when promotion was repeated on an
    /// already promoted server).
    pub was_replica: bool,
}

impl Server {
    /// Fences a (former) primary: ends client connections, sets `read_only` (and
    /// `super_read_only` on MySQL), ends the connections that slipped in
    /// meanwhile, and reads the result back. Idempotent; never fails as a whole.
    pub async fn fence(&mut self) -> FenceReport {
        let mut report = FenceReport::default();
        report.killed_connections += self.kill_client_connections(&mut report.errors).await;
        let dialect = self.dialect();
        let mut steps = vec![Dialect::set_read_only(true)];
        steps.extend(dialect.set_super_read_only(true));
        for step in steps {
            if let Err(error) = self.run(&step).await {
                report.errors.push(error.to_string());
            }
        }
        report.killed_connections += self.kill_client_connections(&mut report.errors).await;
        match self.observe().await {
            Ok(status) => {
                report.read_only = status.read_only;
                report.super_read_only = status.super_read_only;
            }
            Err(error) => report.errors.push(error.to_string()),
        }
        report
    }

    async fn kill_client_connections(&mut self, errors: &mut Vec<String>) -> u32 {
        let ids: Vec<u64> = match self.fields(&Dialect::client_connections()).await {
            Ok(rows) => rows
                .into_iter()
                .filter_map(|row| row.get("id").cloned().flatten())
                .filter_map(|id| id.parse().ok())
                .collect(),
            Err(error) => {
                errors.push(error.to_string());
                return 0;
            }
        };
        let mut killed = 0;
        for id in ids {
            match self.run(&Dialect::kill_connection(id)).await {
                Ok(()) => killed += 1,
                // The connection ended on its own between the list and the kill.
                Err(error) if error.server_code() == Some(1094) => {}
                Err(error) => errors.push(error.to_string()),
            }
        }
        killed
    }

    /// Turns `read_only` (and `super_read_only`) off and reads it back.
    pub async fn make_writable(&mut self) -> Result<(), Error> {
        let dialect = self.dialect();
        if let Some(statement) = dialect.set_super_read_only(false) {
            self.run(&statement).await?;
        }
        self.run(&Dialect::set_read_only(false)).await?;
        let status = self.observe().await?;
        if status.writable() {
            Ok(())
        } else {
            Err(Error::NotApplied {
                endpoint: self.endpoint().to_owned(),
                what: "still read-only after turning read_only off (does the user lack READ ONLY ADMIN or SUPER?)"
                    .to_owned(),
            })
        }
    }

    /// Waits until this replica has applied `position`, for at most `wait`.
    /// On MariaDB this is `MASTER_GTID_WAIT`, which follows the replication
    /// position only: call it on a replica, not on the primary that wrote it.
    pub async fn wait_for_position(&mut self, position: &str, wait: Duration) -> Result<(), Error> {
        if position.is_empty() {
            return Ok(());
        }
        let statement = self.dialect().wait_for_position(position, wait);
        let rows = self.rows_within(&statement, wait + self.timeout()).await?;
        let result = rows
            .into_iter()
            .next()
            .and_then(|row| row.unwrap().into_iter().next())
            .and_then(crate::server::value_text);
        match result.as_deref() {
            Some("0") => Ok(()),
            Some(_) => Err(Error::CatchUpTimeout {
                endpoint: self.endpoint().to_owned(),
                position: position.to_owned(),
                after: wait,
            }),
            None => Err(Error::UnexpectedResult {
                endpoint: self.endpoint().to_owned(),
                operation: statement.operation().to_owned(),
                detail: "NULL (is the position valid?)".to_owned(),
            }),
        }
    }

    /// Promotes this replica, idempotently: stops the IO thread so nothing more
    /// arrives, waits (at most `apply_wait`) until everything received is
    /// applied, stops and forgets replication, and makes the server writable.
    /// If the relay log is not applied in time the server is left a read-only
    /// replica with its IO thread stopped, and the error says so.
    pub async fn promote(&mut self, apply_wait: Duration) -> Result<Promotion, Error> {
        let dialect = self.dialect();
        let started = Instant::now();
        let was_replica = match self.replica_status().await? {
            Some(_) => {
                self.run(&dialect.stop_io_thread()).await?;
                // Read the received position only after the IO thread stopped.
                let received = self
                    .replica_status()
                    .await?
                    .map(|status| status.retrieved_gtids)
                    .unwrap_or_default();
                self.wait_for_position(&received, apply_wait).await?;
                self.run(&dialect.stop_replica()).await?;
                self.run(&dialect.reset_replica_all()).await?;
                true
            }
            None => false,
        };
        let apply_wait = started.elapsed();
        self.make_writable().await?;
        let status = self.observe().await?;
        Ok(Promotion {
            gtid_executed: status.gtid_executed,
            apply_wait,
            was_replica,
        })
    }

    /// Which transactions this server has that `source` lacks. This server is
    /// read first and the source second, so a transaction committed on the
    /// source in between cannot look errant; one that did originate on the
    /// source is reported as in flight anyway, and tolerated.
    pub async fn errant_transactions(&mut self, source: &mut Server) -> Result<ErrantReport, Error> {
        let mine = self.observe().await?;
        let theirs = source.observe().await?;
        errant_between(&mine, &theirs)
    }
}

/// The errant-transaction comparison on two snapshots, `candidate` taken
/// before `source`.
pub fn errant_between(candidate: &InstanceStatus, source: &InstanceStatus) -> Result<ErrantReport, Error> {
    if candidate.version.flavor.is_mariadb() {
        mariadb_errant(
            candidate.gtid_binlog_state.as_deref().unwrap_or_default(),
            source.gtid_binlog_state.as_deref().unwrap_or_default(),
            source.server_id,
        )
    } else {
        mysql_errant(
            &candidate.gtid_executed,
            &source.gtid_executed,
            source.server_uuid.as_deref().unwrap_or_default(),
        )
    }
}
