//! Making a server ready to replicate, pointing it at a source, and choosing
//! between asynchronous and lossless (semi-synchronous) replication.

use std::fmt;

use crate::dialect::{AccountKind, Dialect, SourceConfig, Statement};
use crate::error::Error;
use crate::server::Server;
use crate::status::{SemiSyncStatus, check_prerequisites, parse_variables};

/// A database account drmysql creates on every instance.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl Account {
    /// An account.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The accounts every instance gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accounts {
    /// The account replicas stream the binary log as.
    pub replication: Account,
    /// The account the sidecar writes heartbeats and reads status as.
    pub heartbeat: Account,
}

/// Replication durability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Asynchronous: semi-sync off.
    Async,
    /// Semi-sync with AFTER_SYNC and no fallback to asynchronous.
    Lossless,
}

/// Checks that the server's own replication client can log in with `password`.
///
/// MySQL and MariaDB keep a replica's source password in a `utf8mb3` column (or
/// a C string), so a NUL byte or a character outside the Basic Multilingual
/// Plane (an emoji, for example) is silently mangled: the account is created,
/// but the replica's IO thread is then refused with error 1045 forever. Such a
/// password is refused here, before anything is changed. Quotes, backslashes
/// and other Unicode characters are fine.
pub fn check_replication_password(account: &Account) -> Result<(), Error> {
    let unusable = |reason: &str| {
        Err(Error::UnusablePassword {
            user: account.user.clone(),
            reason: reason.to_owned(),
        })
    };
    if account.password.is_empty() {
        return unusable("it is empty");
    }
    if account.password.contains('\0') {
        return unusable("it contains a NUL byte");
    }
    if account.password.chars().any(|c| c.len_utf8() > 3) {
        return unusable("it contains a character outside the Basic Multilingual Plane (such as an emoji)");
    }
    Ok(())
}

impl Server {
    /// Checks the GTID and binary-log prerequisites, then creates or updates
    /// drmysql's schema, heartbeat table and accounts. Idempotent. The changes
    /// are made with binary logging off for the session, so they create no
    /// GTID that could later look errant; every instance is prepared itself.
    pub async fn prepare(&mut self, accounts: &Accounts) -> Result<(), Error> {
        check_replication_password(&accounts.replication)?;
        let dialect = self.dialect();
        let row = self
            .fields(&dialect.server_variables())
            .await?
            .into_iter()
            .next()
            .unwrap_or_default();
        let variables = parse_variables(&row, self.endpoint())?;
        check_prerequisites(self.flavor(), &variables.settings, self.endpoint())?;

        let mut statements: Vec<Statement> = Dialect::create_heartbeat_schema().into();
        statements.extend(dialect.ensure_account(
            AccountKind::Replication,
            &accounts.replication.user,
            &accounts.replication.password,
        ));
        statements.extend(dialect.ensure_account(
            AccountKind::Heartbeat,
            &accounts.heartbeat.user,
            &accounts.heartbeat.password,
        ));
        self.run(&Dialect::session_binlog(false)).await?;
        let mut outcome = Ok(());
        for statement in &statements {
            outcome = self.run(statement).await;
            if outcome.is_err() {
                break;
            }
        }
        let restored = self.run(&Dialect::session_binlog(true)).await;
        outcome.and(restored)
    }

    /// Points this server at `source` with GTID auto-positioning and starts
    /// replication, then reads back that it took effect.
    ///
    /// On MariaDB the replica's GTID position is first set to everything it has
    /// executed, which lets a former primary rejoin; any transaction the source
    /// lacks would then make replication fail, so check
    /// [`Server::errant_transactions`] before re-attaching a former primary.
    pub async fn replicate_from(&mut self, source: &SourceConfig) -> Result<(), Error> {
        check_replication_password(&Account::new(source.user.clone(), source.password.clone()))?;
        let dialect = self.dialect();
        self.run(&dialect.stop_replica()).await?;
        self.run(&dialect.set_net_timeout(source.net_timeout)).await?;
        if let Some(align) = dialect.align_replica_position() {
            self.run(&align).await?;
        }
        self.run(&dialect.change_source(source)).await?;
        self.run(&dialect.start_replica()).await?;
        match self.replica_status().await? {
            Some(status) if status.source_host == source.host && status.source_port == source.port => Ok(()),
            Some(status) => Err(Error::NotApplied {
                endpoint: self.endpoint().to_owned(),
                what: format!(
                    "replication source is {}:{} after pointing it at {}:{}",
                    status.source_host, status.source_port, source.host, source.port
                ),
            }),
            None => Err(Error::NotApplied {
                endpoint: self.endpoint().to_owned(),
                what: "no replication source configured after CHANGE SOURCE".to_owned(),
            }),
        }
    }

    /// Configures the source side of semi-sync for `durability` and returns
    /// the resulting state, read back.
    pub async fn configure_source_durability(
        &mut self,
        durability: Durability,
    ) -> Result<SemiSyncStatus, Error> {
        let dialect = self.dialect();
        self.ensure_semi_sync_plugins().await?;
        match durability {
            Durability::Lossless => {
                for statement in dialect.enable_semi_sync_source() {
                    self.run(&statement).await?;
                }
            }
            Durability::Async => self.run(&dialect.disable_semi_sync_source()).await?,
        }
        let semi_sync = self.observe().await?.semi_sync;
        let applied = match durability {
            Durability::Lossless => semi_sync.is_lossless_source(),
            Durability::Async => !semi_sync.source_enabled,
        };
        if applied {
            Ok(semi_sync)
        } else {
            Err(Error::NotApplied {
                endpoint: self.endpoint().to_owned(),
                what: format!("semi-sync source state {semi_sync:?} does not match {durability:?}"),
            })
        }
    }

    /// Configures the replica side of semi-sync for `durability`, restarting
    /// the IO thread when it runs so the change takes effect.
    pub async fn configure_replica_durability(
        &mut self,
        durability: Durability,
    ) -> Result<SemiSyncStatus, Error> {
        let dialect = self.dialect();
        self.ensure_semi_sync_plugins().await?;
        let enabled = durability == Durability::Lossless;
        self.run(&dialect.set_semi_sync_replica(enabled)).await?;
        if let Some(status) = self.replica_status().await?
            && status.io_thread != crate::status::ThreadState::Stopped
        {
            self.run(&dialect.stop_io_thread()).await?;
            self.run(&dialect.start_io_thread()).await?;
        }
        let semi_sync = self.observe().await?.semi_sync;
        if semi_sync.replica_enabled == enabled {
            Ok(semi_sync)
        } else {
            Err(Error::NotApplied {
                endpoint: self.endpoint().to_owned(),
                what: format!(
                    "semi-sync replica side is not {}",
                    if enabled { "on" } else { "off" }
                ),
            })
        }
    }

    async fn ensure_semi_sync_plugins(&mut self) -> Result<(), Error> {
        let dialect = self.dialect();
        let Some(list) = dialect.loaded_semi_sync_plugins() else {
            return Ok(());
        };
        let loaded: Vec<String> = self
            .fields(&list)
            .await?
            .into_iter()
            .filter_map(|row| row.get("plugin_name").cloned().flatten())
            .collect();
        for statement in dialect.install_semi_sync_plugins(&loaded) {
            self.run(&statement).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_passwords_the_replica_cannot_use_are_refused() {
        for good in [
            "plain",
            "q'uo\"te\\back",
            "pä-密码",
            "0123456789012345678901234567890123456789",
        ] {
            assert!(
                check_replication_password(&Account::new("r", good)).is_ok(),
                "{good:?}"
            );
        }
        for (bad, reason) in [
            ("emoji-🔑", "Basic Multilingual Plane"),
            ("nul\0byte", "NUL"),
            ("", "empty"),
        ] {
            let error = check_replication_password(&Account::new("r", bad))
                .expect_err(bad)
                .to_string();
            assert!(error.contains(reason) && error.contains("\"r\""), "{error}");
        }
    }
}
