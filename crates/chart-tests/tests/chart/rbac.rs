//! The rendered RBAC grants each component exactly the API calls its code
//! makes, as listed in `drmysql_controller::permissions` and
//! `drmysql_clusterlink::permissions`: nothing missing, nothing more.

use drmysql_chart_tests::rbac::{Need, compare, grants};
use drmysql_chart_tests::render::NAMESPACE;
use drmysql_clusterlink::permissions as clusterlink;
use drmysql_controller::permissions as controller;
use serde_json::Value;

fn controller_needs(leader_election: bool) -> Vec<Need> {
    controller::CONTROLLER
        .iter()
        .filter(|access| leader_election || access.scope != controller::Scope::OwnNamespace)
        .flat_map(|access| {
            let namespace = match access.scope {
                controller::Scope::Cluster => None,
                controller::Scope::OwnNamespace => Some(NAMESPACE),
            };
            Need::each_verb(access.group, access.resource, access.verbs, namespace, &[])
        })
        .collect()
}

fn clusterlink_needs(tables: &[&[clusterlink::ApiAccess]]) -> Vec<Need> {
    tables
        .iter()
        .flat_map(|table| table.iter())
        .flat_map(|access| {
            let namespace = match access.scope {
                clusterlink::Scope::Cluster => None,
                clusterlink::Scope::OwnNamespace => Some(NAMESPACE),
                clusterlink::Scope::Namespace(namespace) => Some(namespace),
            };
            Need::each_verb(
                access.group,
                access.resource,
                access.verbs,
                namespace,
                access.resource_names,
            )
        })
        .collect()
}

fn assert_exact(objects: &[Value], account: &str, needs: &[Need]) {
    let granted = grants(objects, NAMESPACE, account);
    let (missing, excess) = compare(&granted, needs);
    assert!(
        missing.is_empty(),
        "ServiceAccount {account} lacks permissions its code needs: {missing:#?}"
    );
    assert!(
        excess.is_empty(),
        "ServiceAccount {account} is granted what no API call needs: {excess:#?}"
    );
}

#[test]
fn the_controller_is_granted_exactly_its_api_calls() {
    assert_exact(
        crate::rendered_default(),
        "drmysql-controller",
        &controller_needs(true),
    );
    assert_exact(
        crate::rendered_with("clusterlink-host-values.yaml"),
        "drmysql-controller",
        &controller_needs(true),
    );
    // Without leader election there is no Lease, and no Role for it.
    assert_exact(
        crate::rendered_with("single-replica-values.yaml"),
        "drmysql-controller",
        &controller_needs(false),
    );
}

#[test]
fn host_cluster_components_are_granted_exactly_their_api_calls() {
    let objects = crate::rendered_with("clusterlink-host-values.yaml");
    assert_exact(
        objects,
        "drmysql-network-manager",
        &clusterlink_needs(&[clusterlink::NETWORK_MANAGER]),
    );
    // The agents read the PSK from a mounted file, never through the API.
    assert_exact(
        objects,
        "drmysql-clusterlink-agent",
        &clusterlink_needs(&[clusterlink::AGENT_HOST]),
    );
    assert_exact(
        objects,
        "drmysql-discovery",
        &clusterlink_needs(&[clusterlink::DISCOVERY_MEMBER, clusterlink::DISCOVERY_HOST]),
    );
    // Member clusters' identity: their agents' and discovery's host-side calls,
    // and the PSK Secret, by name.
    let mut member = clusterlink_needs(&[clusterlink::AGENT_HOST, clusterlink::DISCOVERY_HOST]);
    let psk = clusterlink::AGENT_PSK_SECRET;
    assert_eq!(psk.scope, clusterlink::Scope::OwnNamespace);
    member.extend(Need::each_verb(
        psk.group,
        psk.resource,
        psk.verbs,
        Some(NAMESPACE),
        &["drmysql-ipsec-psk"],
    ));
    assert_exact(objects, "drmysql-clusterlink-member", &member);
}

#[test]
fn member_cluster_components_are_granted_only_their_local_calls() {
    let objects = crate::rendered_with("clusterlink-member-values.yaml");
    assert_exact(objects, "drmysql-clusterlink-agent", &[]);
    assert_exact(
        objects,
        "drmysql-discovery",
        &clusterlink_needs(&[clusterlink::DISCOVERY_MEMBER]),
    );
}

#[test]
fn a_missing_or_extra_verb_is_caught() {
    let mut objects = crate::rendered_default().to_vec();
    let role = objects
        .iter_mut()
        .find(|object| object["kind"] == "ClusterRole" && object["metadata"]["name"] == "drmysql-controller")
        .expect("the controller's ClusterRole");
    let rules = role["rules"].as_array_mut().expect("rules");
    let pods = rules
        .iter_mut()
        .find(|rule| rule["resources"][0] == "pods")
        .expect("a pods rule");
    pods["verbs"] = serde_json::json!(["list", "watch", "create", "patch", "deletecollection"]);
    let granted = grants(&objects, NAMESPACE, "drmysql-controller");
    let (missing, excess) = compare(&granted, &controller_needs(true));
    assert!(
        missing
            .iter()
            .any(|need| need.resource == "pods" && need.verb == "delete"),
        "{missing:?}"
    );
    assert!(
        excess.iter().any(|grant| grant.contains("deletecollection pods")),
        "{excess:?}"
    );
}
