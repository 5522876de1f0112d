//! OpenAPI v3 documents listing the simulator's paths, operations and query
//! parameters, without schemas.
//!
//! `kubectl apply` (with its default `--validate=strict`) reads
//! `/openapi/v3` to learn whether the server honours `fieldValidation` on
//! PATCH for the kind it applies, and refuses to apply when it cannot find
//! out. The simulator does honour it (for custom resources; built-in kinds
//! are not schema-validated), so it publishes, for every served group
//! version, the operations it implements with the query parameters it reads
//! and the `x-kubernetes-group-version-kind` and `x-kubernetes-action`
//! extensions clients look for. The documents carry no component schemas:
//! `kubectl explain` and schema-driven clients get nothing from them. The
//! OpenAPI v2 endpoint is not implemented.

use super::registry::{Registry, ResourceType};
use serde_json::{Map, Value, json};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn all_group_versions(registry: &Registry) -> Vec<(String, String)> {
    let mut versions = vec![(String::new(), "v1".to_owned())];
    for (group, group_versions) in registry.groups() {
        versions.extend(group_versions.into_iter().map(|version| (group.clone(), version)));
    }
    versions
}

/// `/openapi/v3`: one entry per served group version.
pub(crate) fn root(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, version) in all_group_versions(registry) {
        let Some(document) = group_version(registry, &group, &version) else {
            continue;
        };
        let mut hasher = DefaultHasher::new();
        document.to_string().hash(&mut hasher);
        let path = gv_path(&group, &version);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={:016X}", hasher.finish())}),
        );
    }
    json!({"paths": paths})
}

fn query(name: &str, type_: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": type_}, "uniqueItems": true})
}

fn path_parameter(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}, "uniqueItems": true})
}

fn write_parameters(patch: bool) -> Vec<Value> {
    let mut parameters = vec![
        query("dryRun", "string", "All: validate and answer without storing"),
        query("fieldManager", "string", "the manager recorded in managedFields"),
        query(
            "fieldValidation",
            "string",
            "Ignore, Warn (default) or Strict; enforced for custom resources only",
        ),
    ];
    if patch {
        parameters.push(query(
            "force",
            "boolean",
            "server-side apply: take over conflicting fields",
        ));
    }
    parameters
}

fn read_parameters() -> Vec<Value> {
    vec![
        query("labelSelector", "string", "=, ==, !=, in, notin, exists, !exists"),
        query(
            "fieldSelector",
            "string",
            "metadata.name, metadata.namespace and the fields of the resource",
        ),
        query("resourceVersion", "string", "see the simulator's README"),
        query(
            "resourceVersionMatch",
            "string",
            "NotOlderThan, or Exact for the current version",
        ),
        query("watch", "boolean", "stream changes"),
        query("allowWatchBookmarks", "boolean", "send BOOKMARK events"),
        query("sendInitialEvents", "boolean", "streaming list"),
        query("timeoutSeconds", "integer", "end the watch after this long"),
        query("limit", "integer", "accepted; lists are never paged"),
    ]
}

fn operation(
    rt: &ResourceType,
    action: &str,
    verb_name: &str,
    mut parameters: Vec<Value>,
    scoped: bool,
) -> Value {
    let mut all = Vec::new();
    if scoped {
        all.push(path_parameter("namespace"));
    }
    all.append(&mut parameters);
    json!({
        "operationId": format!("{verb_name}{}{}", rt.kind, if scoped { "Namespaced" } else { "" }),
        "parameters": all,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
    })
}

fn with_name(mut operation: Value) -> Value {
    if let Some(parameters) = operation["parameters"].as_array_mut() {
        parameters.insert(0, path_parameter("name"));
    }
    operation
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`, when served.
pub(crate) fn group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    if !registry.serves_version(group, version) {
        return None;
    }
    let prefix = format!("/{}", gv_path(group, version));
    let mut paths = Map::new();
    for rt in registry.resources_of(group, version) {
        let scoped = rt.namespaced;
        let base = if scoped {
            format!("{prefix}/namespaces/{{namespace}}/{}", rt.resource)
        } else {
            format!("{prefix}/{}", rt.resource)
        };
        paths.insert(
            base.clone(),
            json!({
                "get": operation(rt, "list", "list", read_parameters(), scoped),
                "post": operation(rt, "post", "create", write_parameters(false), scoped),
                "delete": operation(rt, "deletecollection", "deleteCollection", read_parameters(), scoped),
            }),
        );
        if scoped {
            paths.insert(
                format!("{prefix}/{}", rt.resource),
                json!({"get": operation(rt, "list", "listAllNamespaces", read_parameters(), false)}),
            );
        }
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "get": with_name(operation(rt, "get", "read", Vec::new(), scoped)),
                "put": with_name(operation(rt, "put", "replace", write_parameters(false), scoped)),
                "patch": with_name(operation(rt, "patch", "patch", write_parameters(true), scoped)),
                "delete": with_name(operation(rt, "delete", "delete", vec![query("dryRun", "string", "All")], scoped)),
            }),
        );
        if rt.status {
            paths.insert(
                format!("{base}/{{name}}/status"),
                json!({
                    "get": with_name(operation(rt, "get", "readStatus", Vec::new(), scoped)),
                    "put": with_name(operation(rt, "put", "replaceStatus", write_parameters(false), scoped)),
                    "patch": with_name(operation(rt, "patch", "patchStatus", write_parameters(true), scoped)),
                }),
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {
            "title": "Kubernetes API simulator (drmysql e2e)",
            "version": format!("v1.{}.0", super::discovery::EMULATED_MINOR),
            "description": "Paths, operations and query parameters only; no schemas.",
        },
        "paths": paths,
        "components": {},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_lists_every_group_version() {
        let registry = Registry::new();
        let root = root(&registry);
        let url = root["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .expect("core");
        assert!(url.starts_with("/openapi/v3/api/v1?hash="), "{url}");
        assert!(root["paths"]["apis/coordination.k8s.io/v1"].is_object());
    }

    #[test]
    fn patch_operations_declare_field_validation_and_their_kind() {
        let registry = Registry::new();
        let document = group_version(&registry, "coordination.k8s.io", "v1").expect("served");
        let patch =
            &document["paths"]["/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Lease");
        let names: Vec<&str> = patch["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(names.contains(&"fieldValidation"), "{names:?}");
        assert!(group_version(&registry, "apps", "v1").is_none());
    }
}
