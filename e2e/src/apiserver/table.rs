//! Server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`).
//!
//! `kubectl get` asks the server for a Table and prints its cells. Custom
//! resources get the Name column and their CRD's `additionalPrinterColumns`
//! (or Name and Age when the CRD declares none), evaluated from simple JSON
//! paths (`.a.b`, `.a[0].b`); a CRD column using any other JSONPath syntax
//! makes the Table request answer 501. Pods, Nodes and Services get the
//! columns of the real server (with a simplified STATUS for Pods: the
//! phase, a container's waiting or terminated reason, or Terminating);
//! every other built-in kind gets Name and Age.

use super::error::ApiError;
use super::registry::{PrinterColumn, ResourceType};
use serde_json::{Value, json};

/// `includeObject`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parses the query parameter (default `Metadata`).
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("") | Some("Metadata") => Ok(Self::Metadata),
            Some("None") => Ok(Self::None),
            Some("Object") => Ok(Self::Object),
            Some(other) => Err(ApiError::bad_request(format!(
                "includeObject: Unsupported value: \"{other}\": supported values: \"None\", \"Metadata\", \"Object\""
            ))),
        }
    }
}

/// How long ago `timestamp` was, as kubectl's AGE column shows it.
pub(crate) fn human_age(timestamp: Option<&str>) -> String {
    let Some(parsed) = timestamp.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) else {
        return "<unknown>".to_owned();
    };
    let seconds = (chrono::Utc::now() - parsed.with_timezone(&chrono::Utc)).num_seconds();
    human_duration(seconds)
}

/// Kubernetes' `duration.HumanDuration`.
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let rest = seconds % 60;
        return if rest == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{rest}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let rest = minutes % 60;
        return if rest == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{rest}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let rest = hours % 24;
        return if rest == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{rest}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

struct Column {
    name: &'static str,
    type_: &'static str,
    format: &'static str,
    priority: i64,
}

const fn column(name: &'static str, type_: &'static str, format: &'static str, priority: i64) -> Column {
    Column {
        name,
        type_,
        format,
        priority,
    }
}

const NAME: Column = column("Name", "string", "name", 0);
const AGE: Column = column("Age", "string", "", 0);

/// One path segment of a simple JSON path.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Field(String),
    Index(usize),
}

/// Parses `.a.b[0].c`; `None` for any other JSONPath syntax.
fn parse_path(path: &str) -> Option<Vec<Step>> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut steps = Vec::new();
    for part in path.split('.').skip(1) {
        let (field, mut rest) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        if field.is_empty()
            || !field
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return None;
        }
        steps.push(Step::Field(field.to_owned()));
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let index: usize = rest.get(1..close)?.parse().ok()?;
            steps.push(Step::Index(index));
            rest = &rest[close + 1..];
        }
    }
    if steps.is_empty() || !path.starts_with('.') {
        return None;
    }
    Some(steps)
}

fn evaluate<'a>(object: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(object, |current, step| match step {
        Step::Field(name) => current.get(name),
        Step::Index(index) => current.get(*index),
    })
}

/// A CRD column's cell, as the apiextensions table convertor renders it.
fn custom_cell(column: &PrinterColumn, value: Option<&Value>) -> Value {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Value::Null;
    };
    match column.type_.as_str() {
        "integer" => value.as_i64().map_or(Value::Null, Value::from),
        "number" => value.as_f64().map_or(Value::Null, Value::from),
        "boolean" => value.as_bool().map_or(Value::Null, Value::from),
        "date" => match value.as_str() {
            Some(text) if chrono::DateTime::parse_from_rfc3339(text).is_ok() => json!(human_age(Some(text))),
            Some(_) => json!("<invalid>"),
            None => Value::Null,
        },
        _ => match value {
            Value::String(text) => json!(text),
            other => json!(other.to_string()),
        },
    }
}

fn definition(name: &str, type_: &str, format: &str, description: &str, priority: i64) -> Value {
    json!({"name": name, "type": type_, "format": format, "description": description, "priority": priority})
}

fn builtin_definitions(columns: &[Column]) -> Vec<Value> {
    columns
        .iter()
        .map(|c| {
            let description = if c.name == "Name" {
                "Name must be unique within a namespace."
            } else {
                ""
            };
            definition(c.name, c.type_, c.format, description, c.priority)
        })
        .collect()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn or_none(value: String) -> String {
    if value.is_empty() {
        "<none>".to_owned()
    } else {
        value
    }
}

fn pod_row(pod: &Value) -> Vec<Value> {
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let total = pod["spec"]["containers"].as_array().map_or(0, Vec::len);
    let ready = statuses.iter().filter(|s| s["ready"] == true).count();
    let restarts: i64 = statuses.iter().filter_map(|s| s["restartCount"].as_i64()).sum();
    let mut status = pod["status"]["reason"]
        .as_str()
        .or_else(|| pod["status"]["phase"].as_str())
        .unwrap_or("Unknown")
        .to_owned();
    for container in &statuses {
        if let Some(reason) = container["state"]["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            status = reason.to_owned();
        } else if let Some(reason) = container["state"]["terminated"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            status = reason.to_owned();
        }
    }
    if pod["metadata"]["deletionTimestamp"].is_string() {
        status = "Terminating".to_owned();
    }
    let gates = pod["spec"]["readinessGates"].as_array().map_or(0, Vec::len);
    let gates_text = if gates == 0 {
        "<none>".to_owned()
    } else {
        let conditions = pod["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let met = pod["spec"]["readinessGates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| {
                conditions
                    .iter()
                    .any(|c| c["type"] == g["conditionType"] && c["status"] == "True")
            })
            .count();
        format!("{met}/{gates}")
    };
    vec![
        json!(text(&pod["metadata"]["name"])),
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(restarts.to_string()),
        json!(human_age(pod["metadata"]["creationTimestamp"].as_str())),
        json!(or_none(text(&pod["status"]["podIP"]))),
        json!(or_none(text(&pod["spec"]["nodeName"]))),
        json!(or_none(text(&pod["status"]["nominatedNodeName"]))),
        json!(gates_text),
    ]
}

fn node_row(node: &Value) -> Vec<Value> {
    let ready = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| match c["status"].as_str() {
            Some("True") => "Ready",
            Some("False") => "NotReady",
            _ => "Unknown",
        })
        .unwrap_or("Unknown");
    let mut status = ready.to_owned();
    if node["spec"]["unschedulable"] == true {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = node["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| {
            key.strip_prefix("node-role.kubernetes.io/")
                .filter(|role| !role.is_empty())
                .map(str::to_owned)
                .or_else(|| (key == "kubernetes.io/role").then(|| text(value)))
        })
        .collect();
    roles.sort();
    let address = |kind: &str| {
        node["status"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["type"] == kind)
            .map(|a| text(&a["address"]))
            .unwrap_or_default()
    };
    let info = &node["status"]["nodeInfo"];
    vec![
        json!(text(&node["metadata"]["name"])),
        json!(status),
        json!(or_none(roles.join(","))),
        json!(human_age(node["metadata"]["creationTimestamp"].as_str())),
        json!(text(&info["kubeletVersion"])),
        json!(or_none(address("InternalIP"))),
        json!(or_none(address("ExternalIP"))),
        json!(or_none(text(&info["osImage"]))),
        json!(or_none(text(&info["kernelVersion"]))),
        json!(or_none(text(&info["containerRuntimeVersion"]))),
    ]
}

fn service_row(service: &Value) -> Vec<Value> {
    let spec = &service["spec"];
    let service_type = spec["type"].as_str().unwrap_or("ClusterIP");
    let mut external: Vec<String> = spec["externalIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let external_text = match service_type {
        "ExternalName" => text(&spec["externalName"]),
        "LoadBalancer" => {
            external.extend(
                service["status"]["loadBalancer"]["ingress"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| {
                        i["ip"]
                            .as_str()
                            .or_else(|| i["hostname"].as_str())
                            .unwrap_or_default()
                            .to_owned()
                    }),
            );
            if external.is_empty() {
                "<pending>".to_owned()
            } else {
                external.join(",")
            }
        }
        _ => or_none(external.join(",")),
    };
    let ports: Vec<String> = spec["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let protocol = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_u64() {
                Some(node_port) => format!("{}:{node_port}/{protocol}", p["port"]),
                None => format!("{}/{protocol}", p["port"]),
            }
        })
        .collect();
    let selector: Vec<String> = spec["selector"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    vec![
        json!(text(&service["metadata"]["name"])),
        json!(service_type),
        json!(or_none(text(&spec["clusterIP"]))),
        json!(external_text),
        json!(or_none(ports.join(","))),
        json!(human_age(service["metadata"]["creationTimestamp"].as_str())),
        json!(or_none(selector.join(","))),
    ]
}

fn partial_metadata(object: &Value, include: IncludeObject) -> Option<Value> {
    match include {
        IncludeObject::None => None,
        IncludeObject::Object => Some(object.clone()),
        IncludeObject::Metadata => Some(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
        })),
    }
}

/// The Table of `objects` (as served by `rt`), with `api_version` being
/// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`.
pub(crate) fn table(
    rt: &ResourceType,
    objects: &[Value],
    include: IncludeObject,
    list_rv: Option<String>,
    api_version: &str,
    request: (&str, &str),
) -> Result<Value, ApiError> {
    let (definitions, rows): (Vec<Value>, Vec<Vec<Value>>) = match (
        rt.group.as_str(),
        rt.resource.as_str(),
        &rt.custom,
    ) {
        (_, _, Some(custom)) if !custom.columns.is_empty() => {
            let mut paths = Vec::new();
            for column in &custom.columns {
                let steps = parse_path(&column.json_path).ok_or_else(|| {
                    ApiError::not_implemented(
                        request.0,
                        request.1,
                        &format!(
                            "Table output with the printer column {:?} (JSONPath {:?}) is not implemented; only simple paths like .a.b[0].c are",
                            column.name, column.json_path
                        ),
                    )
                })?;
                paths.push(steps);
            }
            let mut definitions = vec![definition(
                "Name",
                "string",
                "name",
                "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
                0,
            )];
            definitions.extend(
                custom
                    .columns
                    .iter()
                    .map(|c| definition(&c.name, &c.type_, &c.format, &c.description, c.priority)),
            );
            let rows = objects
                .iter()
                .map(|object| {
                    let mut cells = vec![json!(text(&object["metadata"]["name"]))];
                    cells.extend(
                        custom
                            .columns
                            .iter()
                            .zip(&paths)
                            .map(|(column, steps)| custom_cell(column, evaluate(object, steps))),
                    );
                    cells
                })
                .collect();
            (definitions, rows)
        }
        ("", "pods", None) => (
            builtin_definitions(&[
                NAME,
                column("Ready", "string", "", 0),
                column("Status", "string", "", 0),
                column("Restarts", "string", "", 0),
                AGE,
                column("IP", "string", "", 1),
                column("Node", "string", "", 1),
                column("Nominated Node", "string", "", 1),
                column("Readiness Gates", "string", "", 1),
            ]),
            objects.iter().map(pod_row).collect(),
        ),
        ("", "nodes", None) => (
            builtin_definitions(&[
                NAME,
                column("Status", "string", "", 0),
                column("Roles", "string", "", 0),
                AGE,
                column("Version", "string", "", 0),
                column("Internal-IP", "string", "", 1),
                column("External-IP", "string", "", 1),
                column("OS-Image", "string", "", 1),
                column("Kernel-Version", "string", "", 1),
                column("Container-Runtime", "string", "", 1),
            ]),
            objects.iter().map(node_row).collect(),
        ),
        ("", "services", None) => (
            builtin_definitions(&[
                NAME,
                column("Type", "string", "", 0),
                column("Cluster-IP", "string", "", 0),
                column("External-IP", "string", "", 0),
                column("Port(s)", "string", "", 0),
                AGE,
                column("Selector", "string", "", 1),
            ]),
            objects.iter().map(service_row).collect(),
        ),
        _ => (
            builtin_definitions(&[NAME, AGE]),
            objects
                .iter()
                .map(|object| {
                    vec![
                        json!(text(&object["metadata"]["name"])),
                        json!(human_age(object["metadata"]["creationTimestamp"].as_str())),
                    ]
                })
                .collect(),
        ),
    };
    let rows: Vec<Value> = objects
        .iter()
        .zip(rows)
        .map(|(object, cells)| {
            let mut row = json!({"cells": cells});
            if let Some(included) = partial_metadata(object, include) {
                row["object"] = included;
            }
            row
        })
        .collect();
    let mut metadata = json!({});
    if let Some(rv) = list_rv {
        metadata["resourceVersion"] = json!(rv);
    }
    Ok(json!({
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::registry::{Registry, custom_types};

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 120), "3h2m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
        assert_eq!(human_duration(-5), "<invalid>");
    }

    #[test]
    fn simple_paths_parse_and_others_do_not() {
        assert_eq!(
            parse_path(".status.instances[1].lag"),
            Some(vec![
                Step::Field("status".to_owned()),
                Step::Field("instances".to_owned()),
                Step::Index(1),
                Step::Field("lag".to_owned()),
            ])
        );
        assert!(parse_path(".status.conditions[?(@.type==\"Ready\")].status").is_none());
        assert!(parse_path("status").is_none());
    }

    #[test]
    fn crd_columns_fill_the_cells() {
        let crd = json!({"metadata": {"name": "widgets.example.io"},
            "spec": {"group": "example.io", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true, "additionalPrinterColumns": [
                         {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                         {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "priority": 1}]}]}});
        let rt = custom_types(&crd).expect("valid").remove(0);
        let object = json!({"metadata": {"name": "w"}, "spec": {"size": 3}});
        let table = table(
            &rt,
            &[object],
            IncludeObject::None,
            Some("7".to_owned()),
            "meta.k8s.io/v1",
            ("GET", "/x"),
        )
        .expect("table");
        assert_eq!(table["columnDefinitions"][1]["name"], "Size");
        assert_eq!(table["columnDefinitions"][2]["priority"], 1);
        assert_eq!(table["rows"][0]["cells"], json!(["w", 3, null]));
        assert!(table["rows"][0].get("object").is_none());
        assert_eq!(table["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn pods_show_readiness_node_and_ip() {
        let registry = Registry::new();
        let pods = registry.find("", "v1", "pods").expect("pods");
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"nodeName": "n1", "containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1",
                       "containerStatuses": [{"ready": true, "restartCount": 1}, {"ready": false, "restartCount": 2}]}});
        let table = table(
            pods,
            &[pod],
            IncludeObject::Metadata,
            None,
            "meta.k8s.io/v1",
            ("GET", "/x"),
        )
        .expect("table");
        let cells = &table["rows"][0]["cells"];
        assert_eq!(cells[0], "p");
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[2], "Running");
        assert_eq!(cells[3], "3");
        assert_eq!(cells[5], "10.0.0.1");
        assert_eq!(cells[6], "n1");
        assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }
}
