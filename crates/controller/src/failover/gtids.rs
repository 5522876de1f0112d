//! GTID comparisons the decision needs, for MySQL and MariaDB alike.
//!
//! `drmysql_mysql::gtid` parses both notations and finds errant
//! transactions; this module adds what choosing a candidate needs on top:
//! whether one server holds everything another holds (the "most advanced"
//! rule), whether a replica applied everything it received (Lossless mode's
//! promotion gate), and how much a server holds (the fallback order). MySQL
//! compares interval sets per origin. MariaDB compares, per (domain, server),
//! the newest sequence number, exactly as the errant check does.

use std::collections::BTreeMap;

use drmysql_mysql::Flavor;
use drmysql_mysql::gtid::{ErrantReport, MariaDbGtidList, MySqlGtidSet, mariadb_errant, mysql_errant};
use serde::{Deserialize, Serialize};

/// How GTIDs are written.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GtidFlavor {
    /// `uuid[:tag]:interval` sets.
    MySql,
    /// `domain-server-sequence` lists.
    MariaDb,
}

impl From<Flavor> for GtidFlavor {
    fn from(flavor: Flavor) -> Self {
        if flavor.is_mariadb() {
            Self::MariaDb
        } else {
            Self::MySql
        }
    }
}

/// The origin of a primary's own transactions, which the errant check needs to
/// tell a transaction in flight from a write taken elsewhere.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub enum GtidOrigin {
    /// MySQL `server_uuid`.
    ServerUuid(String),
    /// MariaDB `server_id`.
    ServerId(u32),
}

/// The transactions one server holds, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holdings {
    /// A MySQL set.
    MySql(MySqlGtidSet),
    /// MariaDB: newest sequence per (domain, server).
    MariaDb(BTreeMap<(u32, u32), u64>),
}

impl Holdings {
    /// Parses the union of `texts` (e.g. executed and received).
    pub fn parse(flavor: GtidFlavor, texts: &[&str]) -> Result<Self, String> {
        let joined = texts
            .iter()
            .map(|text| text.trim())
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join(",");
        match flavor {
            GtidFlavor::MySql => MySqlGtidSet::parse(&joined)
                .map(Self::MySql)
                .map_err(|error| error.to_string()),
            GtidFlavor::MariaDb => MariaDbGtidList::parse(&joined)
                .map(|list| {
                    Self::MariaDb(
                        list.entries()
                            .map(|(domain, server, sequence)| ((domain, server), sequence))
                            .collect(),
                    )
                })
                .map_err(|error| error.to_string()),
        }
    }

    /// Whether `self` holds every transaction `other` holds.
    pub fn covers(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::MySql(mine), Self::MySql(theirs)) => theirs.subtract(mine).is_empty(),
            (Self::MariaDb(mine), Self::MariaDb(theirs)) => theirs
                .iter()
                .all(|(key, sequence)| mine.get(key).is_some_and(|held| held >= sequence)),
            _ => false,
        }
    }

    /// What `other` holds that `self` lacks, for reasons.
    pub fn lacking(&self, other: &Self) -> String {
        match (self, other) {
            (Self::MySql(mine), Self::MySql(theirs)) => theirs.subtract(mine).to_string(),
            (Self::MariaDb(mine), Self::MariaDb(theirs)) => theirs
                .iter()
                .filter(|(key, sequence)| mine.get(*key).is_none_or(|held| held < *sequence))
                .map(|((domain, server), sequence)| format!("{domain}-{server}-{sequence}"))
                .collect::<Vec<_>>()
                .join(","),
            _ => "(GTIDs of different flavors)".to_owned(),
        }
    }

    /// A measure of how much the server holds: the transaction count (MySQL) or
    /// the sum of the newest sequence numbers (MariaDB). Only an order among
    /// servers of one DRMySQL, for when none holds everything.
    pub fn size(&self) -> u64 {
        match self {
            Self::MySql(set) => set.transaction_count(),
            Self::MariaDb(entries) => entries.values().copied().fold(0, u64::saturating_add),
        }
    }
}

/// The transactions `candidate_executed` has that the primary's known set
/// lacks and that did not originate on the primary.
pub fn errant(
    flavor: GtidFlavor,
    candidate_executed: &str,
    primary_gtids: &str,
    primary_origin: &GtidOrigin,
) -> Result<ErrantReport, String> {
    match (flavor, primary_origin) {
        (GtidFlavor::MySql, GtidOrigin::ServerUuid(uuid)) => {
            mysql_errant(candidate_executed, primary_gtids, uuid).map_err(|error| error.to_string())
        }
        (GtidFlavor::MariaDb, GtidOrigin::ServerId(id)) => {
            mariadb_errant(candidate_executed, primary_gtids, *id).map_err(|error| error.to_string())
        }
        _ => Err("the primary's GTID origin does not match the server flavor".to_owned()),
    }
}

/// Whether a replica has applied everything it received: its executed set
/// covers its received set.
pub fn relay_log_applied(flavor: GtidFlavor, executed: &str, received: &str) -> Result<bool, String> {
    Ok(Holdings::parse(flavor, &[executed])?.covers(&Holdings::parse(flavor, &[received])?))
}
