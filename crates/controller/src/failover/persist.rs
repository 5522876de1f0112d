//! The decision's [`Memory`] as it is kept in `status.failoverMemory`.
//!
//! The status carries a typed mirror ([`FailoverMemory`] in `drmysql-api`)
//! rather than an opaque string: the CRD schema validates it, `kubectl get -o
//! yaml` shows it as it is, and the API crate does not depend on the
//! controller. The two conversions here are lossless for every memory the
//! decision can produce (a unit test round-trips one of each shape).

use drmysql_api::drmysql::{
    FailoverApproval, FailoverMemory, FailoverSuspicion, GtidNotation, PrimaryGtids, VantageKind,
};

use super::evidence::VantagePoint;
use super::gtids::{GtidFlavor, GtidOrigin};
use super::memory::{Approval, GtidSnapshot, Memory, Suspicion};

/// The memory recorded in a status (the empty memory when there is none).
pub fn from_status(stored: Option<&FailoverMemory>) -> Memory {
    let Some(stored) = stored else {
        return Memory::default();
    };
    Memory {
        primary: stored.primary.clone(),
        suspicions: stored
            .suspicions
            .iter()
            .filter_map(|suspicion| {
                let vantage = match (suspicion.vantage, &suspicion.instance) {
                    (VantageKind::Host, _) => VantagePoint::Host,
                    (VantageKind::Replica, Some(instance)) => VantagePoint::Replica(instance.clone()),
                    // A replica suspicion without its replica is unusable: forget it
                    // (the suspicion restarts, which only delays a declaration).
                    (VantageKind::Replica, None) => return None,
                };
                Some(Suspicion {
                    vantage,
                    since: suspicion.since,
                })
            })
            .collect(),
        primary_gtids: stored.primary_gtids.as_ref().and_then(|gtids| {
            let (flavor, origin) = match gtids.notation {
                GtidNotation::MySql => (
                    GtidFlavor::MySql,
                    GtidOrigin::ServerUuid(gtids.server_uuid.clone()?),
                ),
                GtidNotation::MariaDb => (GtidFlavor::MariaDb, GtidOrigin::ServerId(gtids.server_id?)),
            };
            Some(GtidSnapshot {
                flavor,
                gtids: gtids.gtids.clone(),
                origin,
                observed_at: gtids.observed_at,
            })
        }),
        newest_heartbeat: stored.newest_heartbeat,
        approval: stored.approval.as_ref().map(|approval| Approval {
            to: approval.to.clone(),
            force: approval.force,
            requested_at: approval.requested_at,
        }),
    }
}

/// The memory as the status records it; `None` for the empty memory, so that
/// a DRMySQL with nothing to remember carries no field.
pub fn to_status(memory: &Memory) -> Option<FailoverMemory> {
    if memory == &Memory::default() {
        return None;
    }
    Some(FailoverMemory {
        primary: memory.primary.clone(),
        suspicions: memory
            .suspicions
            .iter()
            .map(|suspicion| {
                let (vantage, instance) = match &suspicion.vantage {
                    VantagePoint::Host => (VantageKind::Host, None),
                    VantagePoint::Replica(name) => (VantageKind::Replica, Some(name.clone())),
                };
                FailoverSuspicion {
                    vantage,
                    instance,
                    since: suspicion.since,
                }
            })
            .collect(),
        primary_gtids: memory.primary_gtids.as_ref().map(|snapshot| {
            let (server_uuid, server_id) = match &snapshot.origin {
                GtidOrigin::ServerUuid(uuid) => (Some(uuid.clone()), None),
                GtidOrigin::ServerId(id) => (None, Some(*id)),
            };
            PrimaryGtids {
                notation: match snapshot.flavor {
                    GtidFlavor::MySql => GtidNotation::MySql,
                    GtidFlavor::MariaDb => GtidNotation::MariaDb,
                },
                gtids: snapshot.gtids.clone(),
                server_uuid,
                server_id,
                observed_at: snapshot.observed_at,
            }
        }),
        newest_heartbeat: memory.newest_heartbeat,
        approval: memory.approval.as_ref().map(|approval| FailoverApproval {
            to: approval.to.clone(),
            force: approval.force,
            requested_at: approval.requested_at,
        }),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn at(second: i64) -> chrono::DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + second, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn every_shape_of_memory_round_trips_through_the_status() {
        let memories = [
            Memory {
                primary: Some("orders-0".into()),
                suspicions: vec![
                    Suspicion {
                        vantage: VantagePoint::Host,
                        since: at(1),
                    },
                    Suspicion {
                        vantage: VantagePoint::Replica("orders-1".into()),
                        since: at(2),
                    },
                ],
                primary_gtids: Some(GtidSnapshot {
                    flavor: GtidFlavor::MariaDb,
                    gtids: "0-1-42".into(),
                    origin: GtidOrigin::ServerId(1),
                    observed_at: at(0),
                }),
                newest_heartbeat: Some(at(0)),
                approval: Some(Approval {
                    to: "orders-1".into(),
                    force: true,
                    requested_at: at(3),
                }),
            },
            Memory {
                primary: Some("orders-0".into()),
                primary_gtids: Some(GtidSnapshot {
                    flavor: GtidFlavor::MySql,
                    gtids: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5".into(),
                    origin: GtidOrigin::ServerUuid("3e11fa47-71ca-11e1-9e33-c80aa9429562".into()),
                    observed_at: at(0),
                }),
                ..Memory::default()
            },
        ];
        for memory in memories {
            let stored = to_status(&memory).expect("stored");
            let json = serde_json::to_value(&stored).expect("serializes");
            let read: FailoverMemory = serde_json::from_value(json).expect("deserializes");
            assert_eq!(from_status(Some(&read)), memory);
        }
    }

    #[test]
    fn the_empty_memory_is_no_field_and_no_field_is_the_empty_memory() {
        assert_eq!(to_status(&Memory::default()), None);
        assert_eq!(from_status(None), Memory::default());
    }

    #[test]
    fn a_replica_suspicion_without_its_replica_is_dropped() {
        let stored = FailoverMemory {
            primary: Some("orders-0".into()),
            suspicions: vec![FailoverSuspicion {
                vantage: VantageKind::Replica,
                instance: None,
                since: at(0),
            }],
            ..FailoverMemory::default()
        };
        assert!(from_status(Some(&stored)).suspicions.is_empty());
    }
}
