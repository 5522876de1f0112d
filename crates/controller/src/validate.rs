//! The **validate** stage: what the CRD's CEL rules cannot see.
//!
//! CEL checks a DRMySQL on its own. Whether the Secret it names exists and
//! holds usable passwords, whether each pinned node exists, and whether its
//! taints are tolerated depend on other objects, which the dereference stage
//! fetched. Each problem names the field and says what to do; the reconcile
//! turns problems into the Ready condition and Events, and tears nothing down.

use std::collections::BTreeMap;

use drmysql_api::drmysql::{DRMySQL, InitialRole, Instance};
use k8s_openapi::api::core::v1::{Node, Taint, Toleration};

use crate::build::config::instance_server_id;
use crate::credentials::check_credentials;

/// The other objects a DRMySQL refers to, as the dereference stage found them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dereferenced {
    /// Data of the credentials Secret, if it exists.
    pub credentials: Option<BTreeMap<String, Vec<u8>>>,
    /// Nodes named by `node` placements that exist, by name.
    pub nodes: BTreeMap<String, Node>,
}

/// One thing wrong with a DRMySQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// PascalCase reason, for the condition and the Event.
    pub reason: &'static str,
    /// The field at fault, e.g. `spec.replicas[0].node`.
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Every problem of `drmysql`, given what it refers to.
pub fn validate(drmysql: &DRMySQL, dereferenced: &Dereferenced) -> Vec<Problem> {
    let mut problems = Vec::new();
    check_secret(drmysql, dereferenced, &mut problems);
    let instances = drmysql.instances();
    for instance in &instances {
        check_node(instance, dereferenced, &mut problems);
    }
    check_server_ids(drmysql, &instances, &mut problems);
    problems
}

fn check_secret(drmysql: &DRMySQL, dereferenced: &Dereferenced, problems: &mut Vec<Problem>) {
    let namespace = drmysql.metadata.namespace.clone().unwrap_or_default();
    let name = drmysql.credentials_secret_name();
    match (&drmysql.spec.credentials_secret, &dereferenced.credentials) {
        (Some(_), None) => problems.push(Problem {
            reason: "CredentialsSecretMissing",
            field: "spec.credentialsSecret".to_owned(),
            message: format!(
                "Secret {namespace}/{name} named in spec.credentialsSecret does not exist; create it with the keys \
                 root-password, replication-password and heartbeat-password, or remove spec.credentialsSecret to \
                 have drmysql generate one"
            ),
        }),
        (_, Some(data)) => {
            let issues = check_credentials(data);
            if !issues.is_empty() {
                problems.push(Problem {
                    reason: "CredentialsSecretInvalid",
                    field: "spec.credentialsSecret".to_owned(),
                    message: format!("Secret {namespace}/{name}: {}", issues.join("; ")),
                });
            }
        }
        (None, None) => {}
    }
}

fn field_of(instance: &Instance<'_>) -> String {
    match instance.initial_role {
        InitialRole::Primary => "spec.primary".to_owned(),
        InitialRole::Replica => format!("spec.replicas[{}]", instance.index - 1),
    }
}

fn check_node(instance: &Instance<'_>, dereferenced: &Dereferenced, problems: &mut Vec<Problem>) {
    let Some(node_name) = &instance.spec.node else {
        return;
    };
    let field = field_of(instance);
    let Some(node) = dereferenced.nodes.get(node_name) else {
        problems.push(Problem {
            reason: "NodeNotFound",
            field: format!("{field}.node"),
            message: format!(
                "{field}.node: node {node_name} does not exist (for a Kosmos member cluster the virtual node is \
                 kosmos-<cluster>; check kubectl get nodes)"
            ),
        });
        return;
    };
    let tolerations = instance.spec.effective_tolerations();
    let blocking: Vec<String> = node
        .spec
        .as_ref()
        .and_then(|spec| spec.taints.clone())
        .unwrap_or_default()
        .iter()
        .filter(|taint| matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute"))
        .filter(|taint| !tolerations.iter().any(|toleration| tolerates(toleration, taint)))
        .map(describe_taint)
        .collect();
    if !blocking.is_empty() {
        problems.push(Problem {
            reason: "TaintNotTolerated",
            field: format!("{field}.tolerations"),
            message: format!(
                "{field}: node {node_name} has taints the instance does not tolerate: {}; add tolerations for them",
                blocking.join(", ")
            ),
        });
    }
}

fn check_server_ids(drmysql: &DRMySQL, instances: &[Instance<'_>], problems: &mut Vec<Problem>) {
    let mut seen: BTreeMap<u32, &Instance<'_>> = BTreeMap::new();
    for instance in instances {
        if let Some(other) = seen.insert(instance_server_id(drmysql, &instance.name), instance) {
            problems.push(Problem {
                reason: "ServerIdCollision",
                field: format!("{}.name", field_of(instance)),
                message: format!(
                    "instances {} and {} would get the same server_id; rename one of them",
                    other.name, instance.name
                ),
            });
        }
    }
}

/// Kubernetes' rule for whether `toleration` tolerates `taint`.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|effect| !effect.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    if let Some(key) = toleration.key.as_deref().filter(|key| !key.is_empty())
        && key != taint.key
    {
        return false;
    }
    match toleration.operator.as_deref() {
        Some("Exists") => true,
        Some("Equal") | None | Some("") => {
            // An empty key only matches everything together with Exists.
            toleration.key.as_deref().is_some_and(|key| !key.is_empty())
                && toleration.value.as_deref().unwrap_or_default()
                    == taint.value.as_deref().unwrap_or_default()
        }
        Some(_) => false,
    }
}

fn describe_taint(taint: &Taint) -> String {
    match taint.value.as_deref() {
        Some(value) if !value.is_empty() => format!("{}={}:{}", taint.key, value, taint.effect),
        _ => format!("{}:{}", taint.key, taint.effect),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::orders;
    use k8s_openapi::api::core::v1::NodeSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde_json::json;

    fn node(name: &str, taints: &[(&str, Option<&str>, &str)]) -> (String, Node) {
        let taints = taints
            .iter()
            .map(|(key, value, effect)| Taint {
                key: (*key).to_owned(),
                value: value.map(str::to_owned),
                effect: (*effect).to_owned(),
                time_added: None,
            })
            .collect();
        (
            name.to_owned(),
            Node {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    ..ObjectMeta::default()
                },
                spec: Some(NodeSpec {
                    taints: Some(taints),
                    ..NodeSpec::default()
                }),
                status: None,
            },
        )
    }

    fn all_credentials() -> BTreeMap<String, Vec<u8>> {
        ["root-password", "replication-password", "heartbeat-password"]
            .iter()
            .map(|key| ((*key).to_owned(), b"secret".to_vec()))
            .collect()
    }

    fn seed() -> DRMySQL {
        orders(json!({
            "engine": {"image": "mariadb:11.4"},
            "primary": {"node": "vm-0-7"},
            "replicas": [{"node": "kosmos-member-tencent"}]
        }))
    }

    fn healthy() -> Dereferenced {
        Dereferenced {
            credentials: Some(all_credentials()),
            nodes: BTreeMap::from([
                node("vm-0-7", &[]),
                node(
                    "kosmos-member-tencent",
                    &[("kosmos.io/node", Some("true"), "NoSchedule")],
                ),
            ]),
        }
    }

    #[test]
    fn the_seed_scenario_has_no_problem() {
        assert_eq!(validate(&seed(), &healthy()), []);
        // Without spec.credentialsSecret a missing Secret is generated, not a problem.
        let fresh = Dereferenced {
            credentials: None,
            ..healthy()
        };
        assert_eq!(validate(&seed(), &fresh), []);
    }

    #[test]
    fn a_named_secret_that_is_missing_or_incomplete_is_a_problem() {
        let mut drmysql = seed();
        drmysql.spec.credentials_secret = Some("vault-synced".to_owned());
        let missing = validate(
            &drmysql,
            &Dereferenced {
                credentials: None,
                ..healthy()
            },
        );
        assert_eq!(missing.len(), 1);
        assert_eq!(
            (missing[0].reason, missing[0].field.as_str()),
            ("CredentialsSecretMissing", "spec.credentialsSecret")
        );
        assert!(
            missing[0].message.contains("shop/vault-synced"),
            "{}",
            missing[0].message
        );

        let mut partial = all_credentials();
        partial.remove("heartbeat-password");
        let incomplete = validate(
            &drmysql,
            &Dereferenced {
                credentials: Some(partial),
                ..healthy()
            },
        );
        assert_eq!(incomplete[0].reason, "CredentialsSecretInvalid");
        assert!(
            incomplete[0]
                .message
                .contains("key heartbeat-password is missing")
        );
    }

    #[test]
    fn a_missing_node_names_the_field() {
        let mut dereferenced = healthy();
        dereferenced.nodes.remove("kosmos-member-tencent");
        let problems = validate(&seed(), &dereferenced);
        assert_eq!(problems.len(), 1);
        assert_eq!(
            (problems[0].reason, problems[0].field.as_str()),
            ("NodeNotFound", "spec.replicas[0].node")
        );
        assert!(
            problems[0]
                .message
                .contains("kosmos-member-tencent does not exist")
        );
    }

    #[test]
    fn untolerated_taints_are_named() {
        let mut drmysql = seed();
        drmysql.spec.replicas[0].tolerations = Some(Vec::new());
        let mut dereferenced = healthy();
        dereferenced.nodes.extend([node(
            "kosmos-member-tencent",
            &[
                ("kosmos.io/node", Some("true"), "NoSchedule"),
                ("maintenance", None, "NoExecute"),
                ("soft", Some("x"), "PreferNoSchedule"),
            ],
        )]);
        let problems = validate(&drmysql, &dereferenced);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field, "spec.replicas[0].tolerations");
        assert!(
            problems[0]
                .message
                .contains("kosmos.io/node=true:NoSchedule, maintenance:NoExecute"),
            "{}",
            problems[0].message
        );
        assert!(
            !problems[0].message.contains("soft"),
            "PreferNoSchedule does not block scheduling"
        );
    }

    #[test]
    fn toleration_matching_follows_kubernetes() {
        let taint = Taint {
            key: "kosmos.io/node".into(),
            value: Some("true".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        };
        let toleration = |key: Option<&str>,
                          operator: Option<&str>,
                          value: Option<&str>,
                          effect: Option<&str>| Toleration {
            key: key.map(str::to_owned),
            operator: operator.map(str::to_owned),
            value: value.map(str::to_owned),
            effect: effect.map(str::to_owned),
            toleration_seconds: None,
        };
        let cases = [
            (
                toleration(
                    Some("kosmos.io/node"),
                    Some("Equal"),
                    Some("true"),
                    Some("NoSchedule"),
                ),
                true,
            ),
            (toleration(Some("kosmos.io/node"), None, Some("true"), None), true),
            (
                toleration(Some("kosmos.io/node"), Some("Exists"), None, None),
                true,
            ),
            (toleration(None, Some("Exists"), None, None), true),
            (toleration(None, Some("Exists"), None, Some("NoExecute")), false),
            (
                toleration(Some("kosmos.io/node"), Some("Equal"), Some("false"), None),
                false,
            ),
            (toleration(Some("other"), Some("Exists"), None, None), false),
            (toleration(None, Some("Equal"), Some("true"), None), false),
        ];
        for (toleration, expected) in cases {
            assert_eq!(tolerates(&toleration, &taint), expected, "{toleration:?}");
        }
    }

    #[test]
    fn instances_placed_by_selector_or_affinity_need_no_node_lookup() {
        let drmysql = orders(json!({
            "engine": {"image": "mariadb:11.4"},
            "primary": {"nodeSelector": {"zone": "a"}},
            "replicas": [{"nodeSelector": {"zone": "b"}}]
        }));
        let dereferenced = Dereferenced {
            credentials: None,
            nodes: BTreeMap::new(),
        };
        assert_eq!(validate(&drmysql, &dereferenced), []);
    }
}
