//! Which role each instance has, and so which Service it is in.
//!
//! The role label is how clients follow the primary, so it must never put a
//! server that might hold writes the primary lacks in front of them. The
//! rules, first match wins:
//!
//! 1. the old primary of a failover or switchover in progress is `Fenced`,
//!    although it stays `status.currentPrimary` until the writer moves: from
//!    the first step on it must be in no Service;
//! 2. the current primary (`status.currentPrimary`) is `Primary`;
//! 3. an instance being rebuilt starts over as a `Replica`;
//! 4. a `Quarantined` instance stays quarantined (only a rebuild lifts it), and
//!    an instance the failover decision quarantines now becomes one;
//! 5. a former primary (`Primary` in the previous status, or `Fenced`) stays
//!    `Fenced` until it is seen replicating: wiring attaches it to the new
//!    primary only after its errant-transaction check passed, so a running
//!    replication is the proof that it rejoined cleanly;
//! 6. everyone else is a `Replica`.
//!
//! Pure, so each rule is a unit test.

use std::collections::BTreeMap;

use drmysql_api::drmysql::{FailoverProgress, InstanceRole, InstanceStatus};
use drmysql_api::names;

/// What the role assignment reads.
#[derive(Clone, Copy, Debug)]
pub struct RoleInputs<'a> {
    /// Every instance name, in spec order.
    pub instances: &'a [String],
    /// The current primary.
    pub current_primary: &'a str,
    /// The previous status's instances, with their roles.
    pub previous: &'a [InstanceStatus],
    /// The failover or switchover in progress.
    pub in_progress: Option<&'a FailoverProgress>,
    /// Instances seen with both replication threads running, this reconcile.
    pub replicating: &'a [String],
    /// The instance the failover decision quarantines now, if any.
    pub quarantine: Option<&'a str>,
    /// The instance being rebuilt, if any.
    pub rebuilt: Option<&'a str>,
}

/// The role of every instance.
pub fn assign(inputs: &RoleInputs<'_>) -> BTreeMap<String, InstanceRole> {
    inputs
        .instances
        .iter()
        .map(|name| (name.clone(), role_of(name, inputs)))
        .collect()
}

fn role_of(name: &str, inputs: &RoleInputs<'_>) -> InstanceRole {
    if inputs.in_progress.is_some_and(|progress| progress.from == name) {
        return InstanceRole::Fenced;
    }
    if name == inputs.current_primary {
        return InstanceRole::Primary;
    }
    if inputs.rebuilt == Some(name) {
        return InstanceRole::Replica;
    }
    let previous = inputs
        .previous
        .iter()
        .find(|instance| instance.name == name)
        .and_then(|instance| instance.role);
    if previous == Some(InstanceRole::Quarantined) || inputs.quarantine == Some(name) {
        return InstanceRole::Quarantined;
    }
    let former_primary = matches!(previous, Some(InstanceRole::Primary | InstanceRole::Fenced));
    if former_primary && !inputs.replicating.iter().any(|replicating| replicating == name) {
        return InstanceRole::Fenced;
    }
    InstanceRole::Replica
}

/// The `drmysql.io/role` label value of a role.
pub fn label(role: InstanceRole) -> &'static str {
    match role {
        InstanceRole::Primary => names::ROLE_PRIMARY,
        InstanceRole::Replica => names::ROLE_REPLICA,
        InstanceRole::Fenced => names::ROLE_FENCED,
        InstanceRole::Quarantined => names::ROLE_QUARANTINED,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use drmysql_api::drmysql::{TransitionKind, TransitionStep};

    use super::*;

    fn names() -> Vec<String> {
        vec!["db-0".into(), "db-1".into(), "db-2".into()]
    }

    fn was(name: &str, role: InstanceRole) -> InstanceStatus {
        InstanceStatus {
            name: name.into(),
            role: Some(role),
            ..InstanceStatus::default()
        }
    }

    fn inputs<'a>(names: &'a [String], primary: &'a str, previous: &'a [InstanceStatus]) -> RoleInputs<'a> {
        RoleInputs {
            instances: names,
            current_primary: primary,
            previous,
            in_progress: None,
            replicating: &[],
            quarantine: None,
            rebuilt: None,
        }
    }

    fn progress(from: &str, to: &str) -> FailoverProgress {
        FailoverProgress {
            kind: TransitionKind::Failover,
            from: from.into(),
            target: to.into(),
            step: TransitionStep::FenceOldPrimary,
            started_at: Utc::now(),
            reason: "test".into(),
            forced: false,
            fenced_at: None,
            promoted_at: None,
            old_primary_gtids: None,
            promoted_gtids: None,
            lag_at_start_seconds: None,
        }
    }

    #[test]
    fn a_fresh_cluster_has_one_primary_and_replicas() {
        let names = names();
        let roles = assign(&inputs(&names, "db-0", &[]));
        assert_eq!(roles["db-0"], InstanceRole::Primary);
        assert_eq!(roles["db-1"], InstanceRole::Replica);
        assert_eq!(roles["db-2"], InstanceRole::Replica);
    }

    #[test]
    fn the_old_primary_is_fenced_during_a_transition_and_after_it_until_it_replicates() {
        let names = names();
        let previous = [
            was("db-0", InstanceRole::Primary),
            was("db-1", InstanceRole::Replica),
        ];
        let running = progress("db-0", "db-1");
        let during = assign(&RoleInputs {
            in_progress: Some(&running),
            ..inputs(&names, "db-0", &previous)
        });
        assert_eq!(
            during["db-0"],
            InstanceRole::Fenced,
            "out of the writer Service from the first step, though still current"
        );
        assert_eq!(during["db-1"], InstanceRole::Replica);
        let moved = assign(&RoleInputs {
            in_progress: Some(&running),
            ..inputs(&names, "db-1", &previous)
        });
        assert_eq!(moved["db-0"], InstanceRole::Fenced);
        assert_eq!(moved["db-1"], InstanceRole::Primary);
        // Finished: the previous status still calls db-0 the primary.
        let after = assign(&inputs(&names, "db-1", &previous));
        assert_eq!(after["db-0"], InstanceRole::Fenced);
        let fenced = [was("db-0", InstanceRole::Fenced)];
        assert_eq!(
            assign(&inputs(&names, "db-1", &fenced))["db-0"],
            InstanceRole::Fenced
        );
        let rejoined = ["db-0".to_owned()];
        let released = assign(&RoleInputs {
            replicating: &rejoined,
            ..inputs(&names, "db-1", &fenced)
        });
        assert_eq!(released["db-0"], InstanceRole::Replica);
    }

    #[test]
    fn quarantine_is_sticky_until_a_rebuild() {
        let names = names();
        let quarantined = assign(&RoleInputs {
            quarantine: Some("db-2"),
            ..inputs(&names, "db-0", &[])
        });
        assert_eq!(quarantined["db-2"], InstanceRole::Quarantined);
        let previous = [was("db-2", InstanceRole::Quarantined)];
        let replicating = ["db-2".to_owned()];
        let kept = assign(&RoleInputs {
            replicating: &replicating,
            ..inputs(&names, "db-0", &previous)
        });
        assert_eq!(
            kept["db-2"],
            InstanceRole::Quarantined,
            "replicating does not lift it"
        );
        let rebuilt = assign(&RoleInputs {
            rebuilt: Some("db-2"),
            ..inputs(&names, "db-0", &previous)
        });
        assert_eq!(rebuilt["db-2"], InstanceRole::Replica);
    }

    #[test]
    fn the_current_primary_wins_over_every_other_rule() {
        let names = names();
        let previous = [was("db-1", InstanceRole::Quarantined)];
        let roles = assign(&RoleInputs {
            quarantine: Some("db-1"),
            ..inputs(&names, "db-1", &previous)
        });
        assert_eq!(roles["db-1"], InstanceRole::Primary);
        assert_eq!(
            roles
                .values()
                .filter(|role| **role == InstanceRole::Primary)
                .count(),
            1
        );
    }

    #[test]
    fn labels_name_every_role() {
        assert_eq!(label(InstanceRole::Primary), "primary");
        assert_eq!(label(InstanceRole::Replica), "replica");
        assert_eq!(label(InstanceRole::Fenced), "fenced");
        assert_eq!(label(InstanceRole::Quarantined), "quarantined");
    }
}
