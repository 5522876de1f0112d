//! GTID sets and positions, and the errant-transaction comparison.
//!
//! A server has an *errant* transaction when it executed something its source
//! never had: a write made on a replica, or a write a former primary took after
//! it was replaced. Promoting such a server, or re-attaching it, makes the data
//! diverge silently. MySQL names transactions `uuid[:tag]:n`, and its GTID sets
//! are interval sets per origin; MariaDB names them `domain-server-seq`, and
//! `gtid_binlog_state` keeps the newest sequence number per (domain, server).
//! Both comparisons are pure functions here, so the controller can run them on
//! observations it already has.
//!
//! One case is tolerated, as MOCO learned (its PR #491): a transaction that
//! *originated on the source* and that the source's snapshot lacks is in
//! flight between the two reads (or the source lost it), not a write on the
//! candidate. It is reported apart from the errant ones.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::Error;

/// A MySQL GTID set: for each origin (server UUID and optional tag), a sorted
/// list of disjoint, non-adjacent closed intervals of transaction numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MySqlGtidSet {
    intervals: BTreeMap<(String, String), Vec<(u64, u64)>>,
}

impl MySqlGtidSet {
    /// Parses `gtid_executed` text such as
    /// `3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,\nuuid2:tag:1-3`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::InvalidGtid {
            text: text.to_owned(),
            reason: why.to_owned(),
        };
        let mut set = Self::default();
        for member in text.split(',').map(str::trim).filter(|member| !member.is_empty()) {
            let mut parts = member.split(':');
            let uuid = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            if uuid.len() != 36 || !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                return Err(invalid("a member does not start with a server UUID"));
            }
            let mut tag = String::new();
            let mut saw_interval = false;
            for part in parts {
                let part = part.trim();
                if part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    tag = part.to_ascii_lowercase();
                    continue;
                }
                let (start, end) = match part.split_once('-') {
                    Some((start, end)) => (start.parse::<u64>(), end.parse::<u64>()),
                    None => (part.parse::<u64>(), part.parse::<u64>()),
                };
                let (Ok(start), Ok(end)) = (start, end) else {
                    return Err(invalid("an interval is not N or N-M"));
                };
                if start == 0 || end < start {
                    return Err(invalid("an interval is empty or starts at 0"));
                }
                set.insert(&uuid, &tag, start, end);
                saw_interval = true;
            }
            if !saw_interval {
                return Err(invalid("a member has no interval"));
            }
        }
        Ok(set)
    }

    fn insert(&mut self, uuid: &str, tag: &str, start: u64, end: u64) {
        let intervals = self
            .intervals
            .entry((uuid.to_owned(), tag.to_owned()))
            .or_default();
        intervals.push((start, end));
        intervals.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(intervals.len());
        for &(start, end) in intervals.iter() {
            match merged.last_mut() {
                Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        *intervals = merged;
    }

    /// Whether the set holds no transaction.
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// Everything in `self` that is not in `other` (MySQL's `GTID_SUBTRACT`).
    pub fn subtract(&self, other: &Self) -> Self {
        let mut result = Self::default();
        for (origin, intervals) in &self.intervals {
            let removed = other.intervals.get(origin).map(Vec::as_slice).unwrap_or_default();
            let mut remaining = Vec::new();
            for &(start, end) in intervals {
                let mut cursor = start;
                for &(cut_start, cut_end) in removed {
                    if cut_end < cursor || cut_start > end {
                        continue;
                    }
                    if cut_start > cursor {
                        remaining.push((cursor, cut_start - 1));
                    }
                    cursor = cut_end.saturating_add(1);
                    if cursor > end {
                        break;
                    }
                }
                if cursor <= end && cursor >= start {
                    remaining.push((cursor, end));
                }
            }
            if !remaining.is_empty() {
                result.intervals.insert(origin.clone(), remaining);
            }
        }
        result
    }

    /// Splits the set into the transactions that originated on `uuid` and the rest.
    pub fn partition_by_origin(&self, uuid: &str) -> (Self, Self) {
        let uuid = uuid.to_ascii_lowercase();
        let (mine, others): (BTreeMap<_, _>, BTreeMap<_, _>) = self
            .intervals
            .clone()
            .into_iter()
            .partition(|((origin, _), _)| *origin == uuid);
        (Self { intervals: mine }, Self { intervals: others })
    }

    /// Number of transactions in the set.
    pub fn transaction_count(&self) -> u64 {
        self.intervals
            .values()
            .flatten()
            .map(|(start, end)| end - start + 1)
            .sum()
    }
}

impl fmt::Display for MySqlGtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for ((uuid, tag), intervals) in &self.intervals {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            f.write_str(uuid)?;
            if !tag.is_empty() {
                write!(f, ":{tag}")?;
            }
            for (start, end) in intervals {
                if start == end {
                    write!(f, ":{start}")?;
                } else {
                    write!(f, ":{start}-{end}")?;
                }
            }
        }
        Ok(())
    }
}

/// A MariaDB GTID list such as `gtid_binlog_state` or `gtid_current_pos`:
/// `domain-server-seq` entries. For a binlog state, one entry per (domain,
/// server); for a position, one per domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MariaDbGtidList {
    entries: BTreeMap<(u32, u32), u64>,
}

impl MariaDbGtidList {
    /// Parses `0-1-100,1-2-7`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut list = Self::default();
        for entry in text.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let numbers: Vec<&str> = entry.split('-').collect();
            let parsed = match numbers.as_slice() {
                [domain, server, sequence] => (
                    domain.parse::<u32>(),
                    server.parse::<u32>(),
                    sequence.parse::<u64>(),
                ),
                _ => {
                    return Err(Error::InvalidGtid {
                        text: text.to_owned(),
                        reason: "an entry is not DOMAIN-SERVER-SEQUENCE".to_owned(),
                    });
                }
            };
            let (Ok(domain), Ok(server), Ok(sequence)) = parsed else {
                return Err(Error::InvalidGtid {
                    text: text.to_owned(),
                    reason: "an entry has a non-numeric part".to_owned(),
                });
            };
            let newest = list.entries.entry((domain, server)).or_insert(sequence);
            *newest = (*newest).max(sequence);
        }
        Ok(list)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries `(domain, server, sequence)`.
    pub fn entries(&self) -> impl Iterator<Item = (u32, u32, u64)> + '_ {
        self.entries
            .iter()
            .map(|(&(domain, server), &sequence)| (domain, server, sequence))
    }
}

impl fmt::Display for MariaDbGtidList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries: Vec<String> = self
            .entries()
            .map(|(domain, server, sequence)| format!("{domain}-{server}-{sequence}"))
            .collect();
        f.write_str(&entries.join(","))
    }
}

/// What a candidate has that its source lacks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrantReport {
    /// Transactions that originated elsewhere than on the source: writes the
    /// candidate took itself. Empty means the candidate is safe to attach or promote.
    pub errant: String,
    /// Transactions that originated on the source and that the source's
    /// snapshot lacks: in flight between the two reads. Tolerated.
    pub in_flight: String,
}

impl ErrantReport {
    /// Whether the candidate has errant transactions.
    pub fn has_errant(&self) -> bool {
        !self.errant.is_empty()
    }
}

/// MySQL: which transactions of `candidate_executed` are missing from
/// `source_executed`, split by whether they originated on the source (`source_uuid`).
pub fn mysql_errant(
    candidate_executed: &str,
    source_executed: &str,
    source_uuid: &str,
) -> Result<ErrantReport, Error> {
    let missing = MySqlGtidSet::parse(candidate_executed)?.subtract(&MySqlGtidSet::parse(source_executed)?);
    let (in_flight, errant) = missing.partition_by_origin(source_uuid);
    Ok(ErrantReport {
        errant: errant.to_string(),
        in_flight: in_flight.to_string(),
    })
}

/// MariaDB: compares two `gtid_binlog_state` values per (domain, server). A
/// candidate entry newer than the source's entry for the same pair, or a pair
/// the source has never seen, is missing on the source; it is in flight when the
/// server is the source's `source_server_id`, errant otherwise.
pub fn mariadb_errant(
    candidate_binlog_state: &str,
    source_binlog_state: &str,
    source_server_id: u32,
) -> Result<ErrantReport, Error> {
    let candidate = MariaDbGtidList::parse(candidate_binlog_state)?;
    let source = MariaDbGtidList::parse(source_binlog_state)?;
    let mut errant = Vec::new();
    let mut in_flight = Vec::new();
    for (domain, server, sequence) in candidate.entries() {
        let known = source.entries.get(&(domain, server)).copied();
        if known.is_some_and(|known| known >= sequence) {
            continue;
        }
        let entry = format!("{domain}-{server}-{sequence}");
        if server == source_server_id {
            in_flight.push(entry);
        } else {
            errant.push(entry);
        }
    }
    Ok(ErrantReport {
        errant: errant.join(","),
        in_flight: in_flight.join(","),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const B: &str = "7a07cd08-ac1b-11e2-9fcd-0800279c4fd9";

    #[test]
    fn mysql_sets_parse_normalise_and_print() {
        let set = MySqlGtidSet::parse(&format!("{A}:1-5:7:6, \n{B}:3,{A}:10-12")).expect("parses");
        assert_eq!(set.to_string(), format!("{A}:1-7:10-12,{B}:3"));
        assert_eq!(set.transaction_count(), 11);
        assert!(MySqlGtidSet::parse("").expect("empty parses").is_empty());
        let tagged = MySqlGtidSet::parse(&format!("{A}:drmysql:1-3:5")).expect("tagged parses");
        assert_eq!(tagged.to_string(), format!("{A}:drmysql:1-3:5"));
    }

    #[test]
    fn malformed_mysql_sets_are_refused() {
        for text in [
            "nonsense",
            A,
            &format!("{A}:0-3"),
            &format!("{A}:5-3"),
            &format!("{A}:x-y1"),
        ] {
            assert!(MySqlGtidSet::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn mysql_subtraction() {
        let left = MySqlGtidSet::parse(&format!("{A}:1-10:20-30,{B}:1-5")).expect("parses");
        let right = MySqlGtidSet::parse(&format!("{A}:3-4:8-22,{B}:1-5")).expect("parses");
        assert_eq!(left.subtract(&right).to_string(), format!("{A}:1-2:5-7:23-30"));
        assert!(right.subtract(&right).is_empty());
    }

    #[test]
    fn mysql_errant_separates_in_flight_from_errant() {
        let report = mysql_errant(&format!("{A}:1-11,{B}:1-2"), &format!("{A}:1-10"), A).expect("compares");
        assert_eq!(report.in_flight, format!("{A}:11"));
        assert_eq!(report.errant, format!("{B}:1-2"));
        assert!(report.has_errant());
        let clean = mysql_errant(&format!("{A}:1-9"), &format!("{A}:1-10"), A).expect("compares");
        assert!(!clean.has_errant() && clean.in_flight.is_empty());
    }

    #[test]
    fn mariadb_errant_compares_per_domain_and_server() {
        // Old primary 1 wrote 0-1-101 after primary 2 took over at 0-1-100.
        let report = mariadb_errant("0-1-101,0-2-90", "0-1-100,0-2-105", 2).expect("compares");
        assert_eq!(report.errant, "0-1-101");
        // A replica that is behind has nothing the source lacks.
        let behind = mariadb_errant("0-1-100", "0-1-100,0-2-105", 2).expect("compares");
        assert!(!behind.has_errant() && behind.in_flight.is_empty());
        // The source's own newest write, read after the candidate's: in flight.
        let racing = mariadb_errant("0-2-106", "0-2-105", 2).expect("compares");
        assert_eq!(
            (racing.errant.as_str(), racing.in_flight.as_str()),
            ("", "0-2-106")
        );
        // A domain the source never saw.
        let other_domain = mariadb_errant("0-2-105,7-3-1", "0-2-105", 2).expect("compares");
        assert_eq!(other_domain.errant, "7-3-1");
        assert!(MariaDbGtidList::parse("0-1").is_err());
        assert!(MariaDbGtidList::parse("a-b-c").is_err());
        assert_eq!(
            MariaDbGtidList::parse(" 0-1-5, 1-2-7 ")
                .expect("parses")
                .to_string(),
            "0-1-5,1-2-7"
        );
    }

    fn interval_set() -> impl Strategy<Value = Vec<(u64, u64)>> {
        prop::collection::vec((1u64..200, 0u64..20), 0..8).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(start, len)| (start, start + len))
                .collect()
        })
    }

    fn build(intervals: &[(u64, u64)]) -> MySqlGtidSet {
        let text: Vec<String> = intervals.iter().map(|(s, e)| format!("{A}:{s}-{e}")).collect();
        MySqlGtidSet::parse(&text.join(",")).expect("generated set parses")
    }

    fn members(intervals: &[(u64, u64)]) -> std::collections::BTreeSet<u64> {
        intervals.iter().flat_map(|&(s, e)| s..=e).collect()
    }

    proptest! {
        #[test]
        fn subtraction_matches_set_difference(left in interval_set(), right in interval_set()) {
            let difference = build(&left).subtract(&build(&right));
            let expected: std::collections::BTreeSet<u64> =
                members(&left).difference(&members(&right)).copied().collect();
            let reparsed = MySqlGtidSet::parse(&difference.to_string()).expect("output parses");
            let got: std::collections::BTreeSet<u64> = reparsed
                .intervals
                .values()
                .flatten()
                .flat_map(|&(s, e)| s..=e)
                .collect();
            prop_assert_eq!(got, expected);
        }
    }
}
