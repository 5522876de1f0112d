//! Discovery documents: `/api`, `/api/v1`, `/apis`, `/apis/<group>`,
//! `/apis/<group>/<version>` and `/version`.
//!
//! kube's `Discovery` and kubectl's REST mapper find resources here, so a CRD
//! appears as soon as it is created. Only the unaggregated (legacy) documents
//! are served: kubectl asks for the aggregated `apidiscovery.k8s.io/v2` form
//! first but lists plain `application/json` as acceptable, and falls back to
//! the per-group documents when it gets that, as it does with older servers.
//! Subresources are listed only where implemented (`status`, `pods/binding`).

use super::registry::{Extra, Registry, ResourceType};
use serde_json::{Value, json};

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn group_version(group: &str, version: &str) -> Value {
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({"groupVersion": gv, "version": version})
}

/// `/api`.
pub(crate) fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn api_group(group: &str, versions: &[String]) -> Value {
    let listed: Vec<Value> = versions.iter().map(|v| group_version(group, v)).collect();
    let preferred = listed.first().cloned().unwrap_or_else(|| json!({}));
    json!({"name": group, "versions": listed, "preferredVersion": preferred})
}

/// `/apis`.
pub(crate) fn groups(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .map(|(group, versions)| api_group(group, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, when served.
pub(crate) fn group(registry: &Registry, name: &str) -> Option<Value> {
    let (group, versions) = registry.groups().into_iter().find(|(group, _)| group == name)?;
    let mut document = api_group(&group, &versions);
    document["kind"] = json!("APIGroup");
    document["apiVersion"] = json!("v1");
    Some(document)
}

fn resource_entry(rt: &ResourceType) -> Value {
    let mut entry = json!({
        "name": rt.resource,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": VERBS,
    });
    if !rt.short_names.is_empty() {
        entry["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        entry["categories"] = json!(rt.categories);
    }
    entry
}

/// `/api/v1` or `/apis/<group>/<version>`, when served.
pub(crate) fn resources(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    if !registry.serves_version(group, version) {
        return None;
    }
    let mut resources = Vec::new();
    for rt in registry.resources_of(group, version) {
        resources.push(resource_entry(rt));
        if rt.status {
            resources.push(json!({
                "name": format!("{}/status", rt.resource),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        for extra in &rt.extras {
            match extra {
                Extra::Binding => resources.push(json!({
                    "name": format!("{}/binding", rt.resource),
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": "Binding",
                    "verbs": ["create"],
                })),
            }
        }
    }
    let gv = group_version(group, version)["groupVersion"].clone();
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

/// The Kubernetes version the simulator answers `/version` with: the API
/// surface it implements is a subset of this release's.
pub(crate) const EMULATED_MINOR: &str = "32";

/// `/version`.
pub(crate) fn version() -> Value {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    json!({
        "major": "1",
        "minor": EMULATED_MINOR,
        "gitVersion": format!("v1.{EMULATED_MINOR}.0+drmysql-e2e-simulator"),
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "",
        "goVersion": "",
        "compiler": "",
        "platform": format!("{}/{arch}", std::env::consts::OS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_resources_list_status_and_binding_subresources() {
        let registry = Registry::new();
        let document = resources(&registry, "", "v1").expect("core");
        let names: Vec<&str> = document["resources"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        for expected in [
            "pods",
            "pods/status",
            "pods/binding",
            "services",
            "namespaces",
            "events",
            "endpoints",
        ] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        assert!(!names.contains(&"pods/log"));
        assert_eq!(document["groupVersion"], "v1");
    }

    #[test]
    fn groups_list_the_built_in_groups() {
        let registry = Registry::new();
        let document = groups(&registry);
        let names: Vec<&str> = document["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .filter_map(|g| g["name"].as_str())
            .collect();
        assert_eq!(
            names,
            vec![
                "discovery.k8s.io",
                "coordination.k8s.io",
                "events.k8s.io",
                "apiextensions.k8s.io"
            ]
        );
        assert_eq!(
            group(&registry, "events.k8s.io").expect("group")["preferredVersion"]["version"],
            "v1"
        );
        assert!(group(&registry, "apps").is_none());
        assert!(resources(&registry, "apps", "v1").is_none());
    }
}
