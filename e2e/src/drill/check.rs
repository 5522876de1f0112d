//! The acknowledged-write checker: what a trial's writers were told was
//! committed, against what each server holds afterwards. Pure.
//!
//! - **Lost**: acknowledged ids missing from the new primary.
//! - **Split brain**: acknowledged ids that only the old primary holds: it
//!   took writes the new primary never saw, so both sides hold acknowledged
//!   data the other lacks.
//! - **Unacknowledged divergence**: ids only the old primary holds that no
//!   client was told were committed (a transaction in flight when the
//!   primary died: with semi-sync it reaches the binary log before its
//!   acknowledgement). Not a loss; it is why the old primary is quarantined.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Serialize;

/// One acknowledged insert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The row's unique id.
    pub id: u64,
    /// The server that acknowledged it.
    pub on: IpAddr,
}

/// What a trial's writes came to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteCheck {
    /// Writes acknowledged during the trial.
    pub acknowledged: usize,
    /// Acknowledged ids missing from the new primary.
    pub lost: Vec<u64>,
    /// Acknowledged ids only the old primary holds.
    pub split_brain: Vec<u64>,
    /// Unacknowledged ids only the old primary holds.
    pub unacknowledged_divergence: Vec<u64>,
}

/// Checks `acks` against the ids on the new primary and, when it could be
/// read before being rebuilt, on the old one.
pub fn check(acks: &[Ack], new_primary: &BTreeSet<u64>, old_primary: Option<&BTreeSet<u64>>) -> WriteCheck {
    let acknowledged: BTreeSet<u64> = acks.iter().map(|ack| ack.id).collect();
    let lost = acknowledged.difference(new_primary).copied().collect();
    let (split_brain, unacknowledged_divergence) = match old_primary {
        Some(old) => old
            .difference(new_primary)
            .partition(|id| acknowledged.contains(id)),
        None => (Vec::new(), Vec::new()),
    };
    WriteCheck {
        acknowledged: acks.len(),
        lost,
        split_brain,
        unacknowledged_divergence,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn ack(id: u64, host: u8) -> Ack {
        Ack {
            id,
            on: IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)),
        }
    }

    fn ids(list: &[u64]) -> BTreeSet<u64> {
        list.iter().copied().collect()
    }

    #[test]
    fn every_acknowledged_write_on_the_new_primary_is_clean() {
        let acks = [ack(1, 1), ack(2, 1), ack(4, 2)];
        let checked = check(&acks, &ids(&[1, 2, 3, 4]), Some(&ids(&[1, 2, 3])));
        assert_eq!(
            checked,
            WriteCheck {
                acknowledged: 3,
                ..WriteCheck::default()
            }
        );
    }

    #[test]
    fn missing_writes_are_lost_and_old_only_writes_are_split_brain_or_in_flight() {
        let acks = [ack(1, 1), ack(2, 1), ack(3, 1), ack(5, 2)];
        let checked = check(&acks, &ids(&[1, 5]), Some(&ids(&[1, 2, 3, 4])));
        assert_eq!(checked.lost, [2, 3]);
        assert_eq!(checked.split_brain, [2, 3]);
        assert_eq!(checked.unacknowledged_divergence, [4]);
        let unread = check(&acks, &ids(&[1, 5]), None);
        assert_eq!((unread.lost.len(), unread.split_brain.len()), (2, 0));
    }
}
