//! What a ServiceAccount may do according to the rendered RBAC objects, and
//! the check of that against what the code needs (the permission tables of
//! `drmysql_controller::permissions` and `drmysql_clusterlink::permissions`):
//! every need covered, and nothing granted that no need asks for.

use serde_json::Value;

/// One permission a component needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    /// API group (`""` for core).
    pub group: String,
    /// Resource, with `/subresource`.
    pub resource: String,
    /// One verb.
    pub verb: String,
    /// `None`: in every namespace (or cluster-scoped); `Some`: in that namespace.
    pub namespace: Option<String>,
    /// Object names the calls use; empty when any.
    pub names: Vec<String>,
}

impl Need {
    /// Every verb of one table entry as needs.
    pub fn each_verb(
        group: &str,
        resource: &str,
        verbs: &[&str],
        namespace: Option<&str>,
        names: &[&str],
    ) -> Vec<Need> {
        verbs
            .iter()
            .map(|verb| Need {
                group: group.to_owned(),
                resource: resource.to_owned(),
                verb: (*verb).to_owned(),
                namespace: namespace.map(str::to_owned),
                names: names.iter().map(|name| (*name).to_owned()).collect(),
            })
            .collect()
    }
}

/// One rule granted to a subject, and where it holds.
#[derive(Clone, Debug)]
pub struct Grant {
    /// Where the binding comes from, for messages.
    pub source: String,
    /// `None` through a ClusterRoleBinding; the RoleBinding's namespace otherwise.
    pub namespace: Option<String>,
    /// `apiGroups`.
    pub groups: Vec<String>,
    /// `resources`.
    pub resources: Vec<String>,
    /// `verbs`.
    pub verbs: Vec<String>,
    /// `resourceNames`.
    pub names: Vec<String>,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn binds(binding: &Value, namespace: &str, account: &str) -> bool {
    binding["subjects"].as_array().is_some_and(|subjects| {
        subjects.iter().any(|subject| {
            subject["kind"] == "ServiceAccount"
                && subject["name"] == account
                && subject["namespace"] == namespace
        })
    })
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str, namespace: Option<&str>) -> Option<&'a Value> {
    objects.iter().find(|object| {
        object["kind"] == kind
            && object["metadata"]["name"] == name
            && namespace.is_none_or(|namespace| object["metadata"]["namespace"] == namespace)
    })
}

/// Every rule the rendered objects grant to the ServiceAccount
/// `namespace/account`. A binding to a role the chart does not render fails.
pub fn grants(objects: &[Value], namespace: &str, account: &str) -> Vec<Grant> {
    let mut grants = Vec::new();
    for binding in objects {
        let kind = binding["kind"].as_str().unwrap_or_default();
        if !matches!(kind, "ClusterRoleBinding" | "RoleBinding") || !binds(binding, namespace, account) {
            continue;
        }
        let binding_namespace = binding["metadata"]["namespace"].as_str();
        let role_kind = binding["roleRef"]["kind"].as_str().unwrap_or_default();
        let role_name = binding["roleRef"]["name"].as_str().unwrap_or_default();
        let role = match role_kind {
            "ClusterRole" => find(objects, "ClusterRole", role_name, None),
            _ => find(objects, "Role", role_name, binding_namespace),
        }
        .unwrap_or_else(|| panic!("{kind} {role_name}: the {role_kind} it binds is not rendered"));
        let scope = (kind == "RoleBinding").then(|| binding_namespace.unwrap_or_default().to_owned());
        for rule in role["rules"].as_array().into_iter().flatten() {
            grants.push(Grant {
                source: format!("{role_kind} {role_name} via {kind}"),
                namespace: scope.clone(),
                groups: strings(&rule["apiGroups"]),
                resources: strings(&rule["resources"]),
                verbs: strings(&rule["verbs"]),
                names: strings(&rule["resourceNames"]),
            });
        }
    }
    grants
}

fn matches(list: &[String], wanted: &str) -> bool {
    list.iter().any(|item| item == wanted || item == "*")
}

/// Whether `grant` allows `need`.
pub fn covers(grant: &Grant, need: &Need) -> bool {
    matches(&grant.groups, &need.group)
        && matches(&grant.resources, &need.resource)
        && matches(&grant.verbs, &need.verb)
        && match (&grant.namespace, &need.namespace) {
            (None, _) => true,
            (Some(granted), Some(needed)) => granted == needed,
            (Some(_), None) => false,
        }
        && (grant.names.is_empty()
            || (!need.names.is_empty() && need.names.iter().all(|name| grant.names.contains(name))))
}

/// Needs no grant covers, and grants (group, resource, verb) no need asks
/// for (wildcards included); both empty means the RBAC is exactly right.
pub fn compare(grants: &[Grant], needs: &[Need]) -> (Vec<Need>, Vec<String>) {
    let missing = needs
        .iter()
        .filter(|need| !grants.iter().any(|grant| covers(grant, need)))
        .cloned()
        .collect();
    let mut excess = Vec::new();
    for grant in grants {
        for group in &grant.groups {
            for resource in &grant.resources {
                for verb in &grant.verbs {
                    let asked = needs
                        .iter()
                        .any(|need| &need.group == group && &need.resource == resource && &need.verb == verb);
                    if !asked {
                        excess.push(format!("{}: {verb} {resource} in group {group:?}", grant.source));
                    }
                }
            }
        }
    }
    (missing, excess)
}
