//! Every Kubernetes API call the controller makes, in one table.
//!
//! The Helm chart grants the controller's RBAC; its tests render the chart and
//! check that the ClusterRole and Role cover each entry here, so that a verb
//! the code needs but the chart forgets fails in CI, not in a user's cluster.
//! When a call is added to the controller, add it here too (each entry says
//! where its calls are made).
//!
//! Two rules of the API server shape the verbs: a server-side apply that
//! creates the object is authorized as `create` as well as `patch`; and
//! setting `blockOwnerDeletion` in an ownerReference (kube's
//! `controller_owner_ref` does) needs `update` on the owner's `finalizers`
//! subresource where the `OwnerReferencesPermissionEnforcement` admission
//! plugin runs.

/// Where a permission must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// In every namespace (or for a cluster-scoped resource): a ClusterRole.
    Cluster,
    /// Only in the controller's own namespace (`POD_NAMESPACE`): a Role.
    OwnNamespace,
}

/// One resource the controller calls, and the verbs it needs on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiAccess {
    /// API group; `""` for the core group.
    pub group: &'static str,
    /// Plural resource name, with `/subresource` when the call targets one.
    pub resource: &'static str,
    /// The verbs, as RBAC spells them.
    pub verbs: &'static [&'static str],
    /// Where the verbs are needed.
    pub scope: Scope,
    /// The calls, by module, for a reader checking this table against the code.
    pub used_by: &'static str,
}

/// Every API call of `drmysql controller`.
pub const CONTROLLER: &[ApiAccess] = &[
    ApiAccess {
        group: "drmysql.io",
        resource: "drmysqls",
        verbs: &["list", "watch", "patch"],
        scope: Scope::Cluster,
        used_by: "runner (watcher of every DRMySQL); reconcile (finalizer added and removed by JSON patch); \
                  reconcile::write (request annotations removed by merge patch)",
    },
    ApiAccess {
        group: "drmysql.io",
        resource: "drmysqls/status",
        verbs: &["patch"],
        scope: Scope::Cluster,
        used_by: "reconcile::write::StatusWriter (merge patch and server-side apply of the status)",
    },
    ApiAccess {
        group: "drmysql.io",
        resource: "drmysqls/finalizers",
        verbs: &["update"],
        scope: Scope::Cluster,
        used_by: "build (owned objects carry a controller ownerReference with blockOwnerDeletion)",
    },
    ApiAccess {
        group: "",
        resource: "pods",
        verbs: &["list", "watch", "create", "patch", "delete"],
        scope: Scope::Cluster,
        used_by: "runner (watcher of owned Pods); reconcile::dereference (list by label); \
                  reconcile::apply (create, role label); reconcile::write::label_pod; reconcile::rebuild (delete)",
    },
    ApiAccess {
        group: "",
        resource: "secrets",
        verbs: &["get", "create"],
        scope: Scope::Cluster,
        used_by: "reconcile::dereference (credentials and sidecar Secrets); reconcile::apply::ensure_secrets",
    },
    ApiAccess {
        group: "",
        resource: "nodes",
        verbs: &["get"],
        scope: Scope::Cluster,
        used_by: "reconcile::dereference (each instance's node)",
    },
    ApiAccess {
        group: "",
        resource: "configmaps",
        verbs: &["get", "create", "patch"],
        scope: Scope::Cluster,
        used_by: "reconcile::apply (read, then server-side apply of the my.cnf ConfigMaps)",
    },
    ApiAccess {
        group: "",
        resource: "persistentvolumeclaims",
        verbs: &["get", "create", "patch", "delete"],
        scope: Scope::Cluster,
        used_by: "reconcile::apply (read, then server-side apply); reconcile::rebuild (delete)",
    },
    ApiAccess {
        group: "",
        resource: "services",
        verbs: &["get", "create", "patch"],
        scope: Scope::Cluster,
        used_by: "reconcile::apply (read, then server-side apply of the writer, reader and headless Services)",
    },
    ApiAccess {
        group: "events.k8s.io",
        resource: "events",
        verbs: &["create", "patch"],
        scope: Scope::Cluster,
        used_by: "reconcile, transition (kube's events Recorder: create, then patch of a repeated Event's series)",
    },
    ApiAccess {
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "create", "patch"],
        scope: Scope::OwnNamespace,
        used_by: "leader (kube-lease-manager: read, create when missing, apply and patch to hold and release)",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_well_formed_and_unique() {
        let known = ["get", "list", "watch", "create", "update", "patch", "delete"];
        let mut seen = std::collections::BTreeSet::new();
        for access in CONTROLLER {
            assert!(!access.verbs.is_empty(), "{access:?} has no verbs");
            for verb in access.verbs {
                assert!(known.contains(verb), "{access:?}: unknown verb {verb}");
            }
            assert!(
                seen.insert((access.group, access.resource)),
                "{}/{} listed twice",
                access.group,
                access.resource
            );
        }
    }
}
