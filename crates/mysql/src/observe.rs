//! Reading a server's state into an [`InstanceStatus`].
//!
//! Four round trips: server variables, replica status, status counters and
//! semi-sync variables. The benchmark records what one observation costs.

use std::time::Duration;

use crate::error::Error;
use crate::server::Server;
use crate::status::{InstanceStatus, ReplicaStatus, SemiSyncStatus, parse_variables};

impl Server {
    /// A snapshot of this server.
    pub async fn observe(&mut self) -> Result<InstanceStatus, Error> {
        let dialect = self.dialect();
        let variables_row = self
            .fields(&dialect.server_variables())
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::UnexpectedResult {
                endpoint: self.endpoint().to_owned(),
                operation: "read server variables".to_owned(),
                detail: "no row".to_owned(),
            })?;
        let variables = parse_variables(&variables_row, self.endpoint())?;
        let replica = self.replica_status().await?;
        let status = self.name_value_pairs(&dialect.global_status()).await?;
        let semi_sync_variables = self.name_value_pairs(&dialect.semi_sync_variables()).await?;
        let uptime = status
            .get("uptime")
            .cloned()
            .flatten()
            .and_then(|text| text.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or_default();
        Ok(InstanceStatus {
            version: self.version().clone(),
            server_id: variables.server_id,
            server_uuid: variables.server_uuid,
            read_only: variables.read_only,
            super_read_only: variables.super_read_only,
            gtid_executed: variables.gtid_executed,
            gtid_binlog_state: variables.gtid_binlog_state,
            gtid_replica_pos: variables.gtid_replica_pos,
            settings: variables.settings,
            replica,
            semi_sync: SemiSyncStatus::from_pairs(self.flavor(), &status, &semi_sync_variables),
            uptime,
        })
    }

    /// The replica status, or `None` when the server has no source configured.
    pub async fn replica_status(&mut self) -> Result<Option<ReplicaStatus>, Error> {
        let statement = self.dialect().replica_status();
        let Some(row) = self.fields(&statement).await?.into_iter().next() else {
            return Ok(None);
        };
        let status = ReplicaStatus::parse(&row, self.endpoint())?;
        Ok((!status.source_host.is_empty()).then_some(status))
    }
}
