//! Every Kubernetes API call of the clusterlink components, in tables.
//!
//! The Helm chart grants their RBAC; its tests render the chart and check
//! that the Roles bound to each component's ServiceAccount cover the entries
//! here (and grant nothing else), so that a missing verb fails in CI rather
//! than in a user's cluster. Add a call to a component, add it here.
//!
//! The components talk to two clusters. The network manager runs in the host
//! cluster. Discovery reads its own (member) cluster and writes the host
//! cluster; the agent only ever talks to the host cluster. In the host cluster
//! itself both clients are the same ServiceAccount; in a member cluster the
//! host-side calls are made with the identity of the host kubeconfig, so the
//! host-side tables are what that identity must be granted there.
//!
//! A server-side apply that creates the object is authorized as `create` as
//! well as `patch`, so such calls list both.

/// Where a permission must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Cluster-wide (cluster-scoped resources, or every namespace): a ClusterRole.
    Cluster,
    /// Only in the component's own namespace (`POD_NAMESPACE`): a Role.
    OwnNamespace,
    /// Only in this namespace: a Role there.
    Namespace(&'static str),
}

/// One resource a component calls, and the verbs it needs on it.
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
    /// The only object names used, when the calls name fixed objects; empty
    /// when any name may be used.
    pub resource_names: &'static [&'static str],
    /// The calls, by module, for a reader checking this table against the code.
    pub used_by: &'static str,
}

/// `drmysql network-manager`, in the host cluster.
pub const NETWORK_MANAGER: &[ApiAccess] = &[
    ApiAccess {
        group: "kosmos.io",
        resource: "clusters",
        verbs: &["list", "watch"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "network_manager (list for each sync, watcher as trigger)",
    },
    ApiAccess {
        group: "kosmos.io",
        resource: "clusternodes",
        verbs: &["list", "watch"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "network_manager (list for each sync, watcher as trigger)",
    },
    ApiAccess {
        group: "kosmos.io",
        resource: "nodeconfigs",
        verbs: &["list", "watch", "create", "patch", "delete"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "network_manager (list, watcher, server-side apply of changed NodeConfigs, delete of stale ones)",
    },
];

/// `drmysql agent`: every call goes to the host cluster.
pub const AGENT_HOST: &[ApiAccess] = &[
    ApiAccess {
        group: "kosmos.io",
        resource: "nodeconfigs",
        verbs: &["get", "list", "watch"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "node_agent::sync (its NodeConfig); node_agent::run (watcher by name)",
    },
    ApiAccess {
        group: "kosmos.io",
        resource: "nodeconfigs/status",
        verbs: &["patch"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "node_agent::sync::report (merge patch of the status)",
    },
    ApiAccess {
        group: "kosmos.io",
        resource: "clusters",
        verbs: &["get", "list", "watch"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "node_agent::sync (its Cluster); node_agent::run (watcher by name); agent start (PSK reference)",
    },
    ApiAccess {
        group: "kosmos.io",
        resource: "clusternodes",
        verbs: &["get", "create", "patch"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "node_agent::sync (read, then server-side apply of the detected underlay)",
    },
    ApiAccess {
        group: "events.k8s.io",
        resource: "events",
        verbs: &["create", "patch"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "node_agent::sync (kube's events Recorder on its NodeConfig)",
    },
];

/// The agent's read of the IPsec PSK from a Secret (`--ipsec-psk-secret`, or
/// the Cluster's `ipsecPSKSecretRef`), in the host cluster, in the Secret's
/// namespace. With `--ipsec-psk-file` (a mounted Secret) it is not made.
pub const AGENT_PSK_SECRET: ApiAccess = ApiAccess {
    group: "",
    resource: "secrets",
    verbs: &["get"],
    scope: Scope::OwnNamespace,
    resource_names: &[],
    used_by: "node_agent::psk::load",
};

/// `drmysql discovery`: the calls to the cluster it runs in.
pub const DISCOVERY_MEMBER: &[ApiAccess] = &[
    ApiAccess {
        group: "",
        resource: "nodes",
        verbs: &["list", "watch"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "discovery::run (watcher as trigger); discovery::cidrs::read (list)",
    },
    ApiAccess {
        group: "",
        resource: "configmaps",
        verbs: &["get"],
        scope: Scope::Cluster,
        resource_names: &["kube-flannel-cfg", "cilium-config"],
        used_by: "discovery::cidrs::read (Flannel's net-conf in kube-flannel or kube-system, Cilium's config)",
    },
    ApiAccess {
        group: "",
        resource: "pods",
        verbs: &["list"],
        scope: Scope::Namespace("kube-system"),
        resource_names: &[],
        used_by: "discovery::cidrs::read (the kube-apiserver Pods' --service-cluster-ip-range)",
    },
    ApiAccess {
        group: "crd.projectcalico.org",
        resource: "ippools",
        verbs: &["list", "create", "patch", "delete"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "discovery::cidrs::read (list); discovery::ippools (server-side apply, delete of stale pools)",
    },
    ApiAccess {
        group: "crd.projectcalico.org",
        resource: "blockaffinities",
        verbs: &["list"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "discovery::cidrs::read",
    },
    ApiAccess {
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "create", "patch"],
        scope: Scope::OwnNamespace,
        resource_names: &[],
        used_by: "discovery::lease (kube-lease-manager: the gateway election)",
    },
];

/// `drmysql discovery`: the calls to the host cluster.
pub const DISCOVERY_HOST: &[ApiAccess] = &[
    ApiAccess {
        group: "kosmos.io",
        resource: "clusters",
        verbs: &["get", "list", "watch", "patch"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "discovery::run (watcher, list); discovery::elector (get); discovery::status (merge patch of the CIDRs)",
    },
    ApiAccess {
        group: "kosmos.io",
        resource: "clusternodes",
        verbs: &["list", "create", "patch", "delete"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "discovery::nodes (list, server-side apply, delete of orphans); discovery::elector (list, role patch)",
    },
    ApiAccess {
        group: "kosmos.io",
        resource: "clusternodes/status",
        verbs: &["patch"],
        scope: Scope::Cluster,
        resource_names: &[],
        used_by: "discovery::nodes (server-side apply of the node readiness)",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_well_formed_and_unique() {
        let known = ["get", "list", "watch", "create", "update", "patch", "delete"];
        for table in [NETWORK_MANAGER, AGENT_HOST, DISCOVERY_MEMBER, DISCOVERY_HOST] {
            let mut seen = std::collections::BTreeSet::new();
            for access in table.iter().chain([&AGENT_PSK_SECRET]) {
                assert!(!access.verbs.is_empty(), "{access:?} has no verbs");
                for verb in access.verbs {
                    assert!(known.contains(verb), "{access:?}: unknown verb {verb}");
                }
                if !std::ptr::eq(access, &AGENT_PSK_SECRET) {
                    assert!(
                        seen.insert((access.group, access.resource)),
                        "{}/{} listed twice",
                        access.group,
                        access.resource
                    );
                }
            }
        }
    }
}
