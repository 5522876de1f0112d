//! Which resources the simulator serves, and how each one behaves.
//!
//! Discovery, routing, validation, printing and storage all ask the same
//! question ("what is `drmysqls` in `drmysql.io/v1alpha1`?"), so the answer
//! lives in one place: the built-in kinds the project uses, plus one entry per
//! served version of every CustomResourceDefinition created through the API.
//! Nothing outside this registry is served; the router answers 501 (built-in
//! groups) or 404 (custom groups) for the rest.

use serde_json::Value;

/// Where objects of a resource are kept: one storage per group and resource,
/// shared by all versions (and, for Events, by `v1` and `events.k8s.io/v1`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StorageKey {
    pub group: String,
    pub resource: String,
}

impl StorageKey {
    pub fn new(group: &str, resource: &str) -> Self {
        Self {
            group: group.to_owned(),
            resource: resource.to_owned(),
        }
    }
}

/// How a served version's objects differ from the stored ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Representation {
    /// Same fields; only `apiVersion` is rewritten (CRD `None` conversion).
    Native,
    /// core/v1 Event, stored as events.k8s.io/v1 Event.
    CoreEvent,
}

/// A printer column of a CRD version.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// The parts of a resource that come from its CustomResourceDefinition.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CustomType {
    /// `metadata.name` of the CRD.
    pub crd_name: String,
    /// The version's openAPIV3Schema.
    pub schema: Option<Value>,
    pub columns: Vec<PrinterColumn>,
    /// JSON paths of the version's `selectableFields`.
    pub selectable_fields: Vec<String>,
}

/// Subresources the simulator implements besides `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extra {
    /// `pods/binding`, the scheduler's way to set `spec.nodeName`.
    Binding,
}

/// One served resource in one version.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ResourceType {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Whether `status` is a subresource (written apart from the main resource).
    pub status: bool,
    pub extras: Vec<Extra>,
    pub storage: StorageKey,
    /// `apiVersion` of stored objects.
    pub storage_api_version: String,
    pub representation: Representation,
    /// Field selectors accepted besides `metadata.name` and `metadata.namespace`.
    pub field_labels: Vec<String>,
    pub custom: Option<CustomType>,
}

impl ResourceType {
    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `drmysqls.drmysql.io`, as error messages name a resource.
    pub fn qualified_resource(&self) -> String {
        qualify(&self.resource, &self.group)
    }

    /// `Pod` or `DRMySQL.drmysql.io`, as validation errors name a kind.
    pub fn qualified_kind(&self) -> String {
        qualify(&self.kind, &self.group)
    }

    /// The schema CRD objects are admitted against.
    pub fn schema(&self) -> Option<&Value> {
        self.custom.as_ref().and_then(|custom| custom.schema.as_ref())
    }

    /// Whether `field` may be used in a field selector.
    pub fn accepts_field_label(&self, field: &str) -> bool {
        matches!(field, "metadata.name" | "metadata.namespace")
            || self.field_labels.iter().any(|known| known == field)
            || self.custom.as_ref().is_some_and(|custom| {
                custom
                    .selectable_fields
                    .iter()
                    .any(|path| path.trim_start_matches('.') == field)
            })
    }
}

fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_owned()
    } else {
        format!("{name}.{group}")
    }
}

struct Builtin {
    group: &'static str,
    resource: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    field_labels: &'static [&'static str],
}

const OBJECT_REFERENCE_FIELDS: [&str; 7] = [
    "kind",
    "namespace",
    "name",
    "uid",
    "apiVersion",
    "resourceVersion",
    "fieldPath",
];

fn builtin(spec: &Builtin) -> ResourceType {
    let version = "v1";
    let api_version = qualify_version(spec.group, version);
    ResourceType {
        group: spec.group.to_owned(),
        version: version.to_owned(),
        resource: spec.resource.to_owned(),
        singular: spec.singular.to_owned(),
        kind: spec.kind.to_owned(),
        namespaced: spec.namespaced,
        short_names: spec.short_names.iter().map(|s| (*s).to_owned()).collect(),
        categories: spec.categories.iter().map(|s| (*s).to_owned()).collect(),
        status: spec.status,
        extras: Vec::new(),
        storage: StorageKey::new(spec.group, spec.resource),
        storage_api_version: api_version,
        representation: Representation::Native,
        field_labels: spec.field_labels.iter().map(|s| (*s).to_owned()).collect(),
        custom: None,
    }
}

fn qualify_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

/// The built-in kinds the project uses.
fn builtins() -> Vec<ResourceType> {
    let table = [
        Builtin {
            group: "",
            resource: "pods",
            singular: "pod",
            kind: "Pod",
            namespaced: true,
            short_names: &["po"],
            categories: &["all"],
            status: true,
            field_labels: &[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ],
        },
        Builtin {
            group: "",
            resource: "services",
            singular: "service",
            kind: "Service",
            namespaced: true,
            short_names: &["svc"],
            categories: &["all"],
            status: true,
            field_labels: &[],
        },
        Builtin {
            group: "",
            resource: "secrets",
            singular: "secret",
            kind: "Secret",
            namespaced: true,
            short_names: &[],
            categories: &[],
            status: false,
            field_labels: &["type"],
        },
        Builtin {
            group: "",
            resource: "configmaps",
            singular: "configmap",
            kind: "ConfigMap",
            namespaced: true,
            short_names: &["cm"],
            categories: &[],
            status: false,
            field_labels: &[],
        },
        Builtin {
            group: "",
            resource: "persistentvolumeclaims",
            singular: "persistentvolumeclaim",
            kind: "PersistentVolumeClaim",
            namespaced: true,
            short_names: &["pvc"],
            categories: &[],
            status: true,
            field_labels: &[],
        },
        Builtin {
            group: "",
            resource: "nodes",
            singular: "node",
            kind: "Node",
            namespaced: false,
            short_names: &["no"],
            categories: &[],
            status: true,
            field_labels: &["spec.unschedulable"],
        },
        Builtin {
            group: "",
            resource: "namespaces",
            singular: "namespace",
            kind: "Namespace",
            namespaced: false,
            short_names: &["ns"],
            categories: &[],
            status: true,
            field_labels: &["status.phase"],
        },
        Builtin {
            group: "",
            resource: "endpoints",
            singular: "endpoints",
            kind: "Endpoints",
            namespaced: true,
            short_names: &["ep"],
            categories: &[],
            status: false,
            field_labels: &[],
        },
        Builtin {
            group: "discovery.k8s.io",
            resource: "endpointslices",
            singular: "endpointslice",
            kind: "EndpointSlice",
            namespaced: true,
            short_names: &[],
            categories: &[],
            status: false,
            field_labels: &[],
        },
        Builtin {
            group: "coordination.k8s.io",
            resource: "leases",
            singular: "lease",
            kind: "Lease",
            namespaced: true,
            short_names: &[],
            categories: &[],
            status: false,
            field_labels: &[],
        },
        Builtin {
            group: "events.k8s.io",
            resource: "events",
            singular: "event",
            kind: "Event",
            namespaced: true,
            short_names: &["ev"],
            categories: &[],
            status: false,
            field_labels: &["reason", "reportingController", "type"],
        },
        Builtin {
            group: "apiextensions.k8s.io",
            resource: "customresourcedefinitions",
            singular: "customresourcedefinition",
            kind: "CustomResourceDefinition",
            namespaced: false,
            short_names: &["crd", "crds"],
            categories: &["api-extensions"],
            status: true,
            field_labels: &[],
        },
    ];
    let mut types: Vec<ResourceType> = table.iter().map(builtin).collect();
    for resource in &mut types {
        match (resource.group.as_str(), resource.resource.as_str()) {
            ("", "pods") => resource.extras.push(Extra::Binding),
            ("events.k8s.io", "events") => resource.field_labels.extend(
                OBJECT_REFERENCE_FIELDS
                    .iter()
                    .map(|field| format!("regarding.{field}")),
            ),
            _ => {}
        }
    }
    // core/v1 Events are the events.k8s.io/v1 objects, in the older shape.
    let mut core_events = builtin(&Builtin {
        group: "",
        resource: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        status: false,
        field_labels: &["reason", "reportingComponent", "type"],
    });
    core_events.storage = StorageKey::new("events.k8s.io", "events");
    core_events.storage_api_version = "events.k8s.io/v1".to_owned();
    core_events.representation = Representation::CoreEvent;
    core_events.field_labels.extend(
        OBJECT_REFERENCE_FIELDS
            .iter()
            .map(|field| format!("involvedObject.{field}")),
    );
    types.push(core_events);
    types
}

/// Groups whose resources Kubernetes defines itself: a resource of these that
/// the simulator does not serve is a gap of the simulator (501), while an
/// unknown resource of any other group simply does not exist (404), as on a
/// real server without that CRD.
pub(crate) fn is_builtin_group(group: &str) -> bool {
    const GROUPS: [&str; 6] = ["", "apps", "batch", "autoscaling", "policy", "extensions"];
    GROUPS.contains(&group) || group.ends_with(".k8s.io") || group.ends_with(".kubernetes.io")
}

/// Every served resource.
#[derive(Clone, Debug)]
pub(crate) struct Registry {
    types: Vec<ResourceType>,
}

impl Registry {
    /// The built-in kinds, without any CRD.
    pub fn new() -> Self {
        Self { types: builtins() }
    }

    /// The resource `resource` of `group/version`.
    pub fn find(&self, group: &str, version: &str, resource: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.resource == resource)
    }

    /// The served version that stores objects in `storage` in their stored shape.
    pub fn storage_type(&self, storage: &StorageKey) -> Option<&ResourceType> {
        let native: Vec<&ResourceType> = self
            .types
            .iter()
            .filter(|t| &t.storage == storage && t.representation == Representation::Native)
            .collect();
        native
            .iter()
            .find(|t| t.api_version() == t.storage_api_version)
            .or(native.first())
            .copied()
    }

    /// Whether `group/version` is served.
    pub fn serves_version(&self, group: &str, version: &str) -> bool {
        self.types
            .iter()
            .any(|t| t.group == group && t.version == version)
    }

    /// The resources of `group/version`.
    pub fn resources_of(&self, group: &str, version: &str) -> Vec<&ResourceType> {
        self.types
            .iter()
            .filter(|t| t.group == group && t.version == version)
            .collect()
    }

    /// Non-core groups with their versions, preferred (first-registered) first.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.types.iter().filter(|t| !t.group.is_empty()) {
            match groups.iter_mut().find(|(group, _)| group == &t.group) {
                Some((_, versions)) if !versions.contains(&t.version) => versions.push(t.version.clone()),
                Some(_) => {}
                None => groups.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        groups
    }

    /// Replaces the resources defined by the CRD `crd_name` with `types`.
    pub fn set_custom(&mut self, crd_name: &str, types: Vec<ResourceType>) {
        self.remove_custom(crd_name);
        self.types.extend(types);
    }

    /// Stops serving the resources defined by the CRD `crd_name`.
    pub fn remove_custom(&mut self, crd_name: &str) {
        self.types
            .retain(|t| t.custom.as_ref().is_none_or(|custom| custom.crd_name != crd_name));
    }

    /// Whether a resource other than the CRD `crd_name`'s already uses `group` and `resource`.
    pub fn taken_by_other(&self, crd_name: &str, group: &str, resource: &str) -> bool {
        self.types.iter().any(|t| {
            t.group == group
                && t.resource == resource
                && t.custom.as_ref().is_none_or(|custom| custom.crd_name != crd_name)
        })
    }

    /// Custom resources with their stores, for CRD cleanup.
    pub fn custom_storage(&self, crd_name: &str) -> Option<StorageKey> {
        self.types
            .iter()
            .find(|t| {
                t.custom
                    .as_ref()
                    .is_some_and(|custom| custom.crd_name == crd_name)
            })
            .map(|t| t.storage.clone())
    }
}

/// The served resource types a CustomResourceDefinition defines, or why it
/// cannot be served.
pub(crate) fn custom_types(crd: &Value) -> Result<Vec<ResourceType>, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let crd_name = crd["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default().to_owned();
    let names = &spec["names"];
    let plural = names["plural"].as_str().unwrap_or_default().to_owned();
    let kind = names["kind"].as_str().unwrap_or_default().to_owned();
    if group.is_empty() {
        errors.push(("spec.group".to_owned(), "Required value".to_owned()));
    } else if !group.contains('.') {
        errors.push((
            "spec.group".to_owned(),
            format!("Invalid value: \"{group}\": should be a domain with at least one dot"),
        ));
    }
    if plural.is_empty() {
        errors.push(("spec.names.plural".to_owned(), "Required value".to_owned()));
    }
    if kind.is_empty() {
        errors.push(("spec.names.kind".to_owned(), "Required value".to_owned()));
    }
    let expected_name = format!("{plural}.{group}");
    if !plural.is_empty() && !group.is_empty() && crd_name != expected_name {
        errors.push((
            "metadata.name".to_owned(),
            format!("Invalid value: \"{crd_name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let namespaced = match spec["scope"].as_str() {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        other => {
            errors.push((
                "spec.scope".to_owned(),
                format!(
                    "Unsupported value: {}: supported values: \"Cluster\", \"Namespaced\"",
                    other.map_or_else(|| "\"\"".to_owned(), |s| format!("\"{s}\""))
                ),
            ));
            true
        }
    };
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        errors.push((
            "spec.versions".to_owned(),
            "Invalid value: null: must have exactly one version marked as storage version".to_owned(),
        ));
    }
    let storage_versions: Vec<&str> = versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .filter_map(|v| v["name"].as_str())
        .collect();
    if !versions.is_empty() && storage_versions.len() != 1 {
        errors.push((
            "spec.versions".to_owned(),
            "Invalid value: must have exactly one version marked as storage version".to_owned(),
        ));
    }
    if let Some(strategy) = spec["conversion"]["strategy"].as_str()
        && strategy != "None"
    {
        errors.push((
            "spec.conversion.strategy".to_owned(),
            format!(
                "Unsupported value: \"{strategy}\": the API simulator implements only \"None\" conversion"
            ),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let storage_version = storage_versions.first().copied().unwrap_or_default();
    let strings = |value: &Value| -> Vec<String> {
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
    };
    let singular = names["singular"]
        .as_str()
        .map_or_else(|| kind.to_lowercase(), str::to_owned);
    Ok(versions
        .iter()
        .filter(|v| v["served"].as_bool() != Some(false))
        .map(|v| {
            let version = v["name"].as_str().unwrap_or_default().to_owned();
            let columns = v["additionalPrinterColumns"]
                .as_array()
                .map(|columns| columns.iter().map(printer_column).collect())
                .unwrap_or_default();
            let selectable_fields = v["selectableFields"]
                .as_array()
                .map(|fields| {
                    fields
                        .iter()
                        .filter_map(|field| field["jsonPath"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            ResourceType {
                group: group.clone(),
                version,
                resource: plural.clone(),
                singular: singular.clone(),
                kind: kind.clone(),
                namespaced,
                short_names: strings(&names["shortNames"]),
                categories: strings(&names["categories"]),
                status: v["subresources"]["status"].is_object(),
                extras: Vec::new(),
                storage: StorageKey::new(&group, &plural),
                storage_api_version: format!("{group}/{storage_version}"),
                representation: Representation::Native,
                field_labels: Vec::new(),
                custom: Some(CustomType {
                    crd_name: crd_name.clone(),
                    schema: v["schema"]["openAPIV3Schema"]
                        .as_object()
                        .map(|s| Value::Object(s.clone())),
                    columns,
                    selectable_fields,
                }),
            }
        })
        .collect())
}

fn printer_column(column: &Value) -> PrinterColumn {
    let text = |key: &str| column[key].as_str().unwrap_or_default().to_owned();
    PrinterColumn {
        name: text("name"),
        type_: text("type"),
        format: text("format"),
        description: text("description"),
        priority: column["priority"].as_i64().unwrap_or(0),
        json_path: text("jsonPath"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_events_share_the_events_k8s_io_storage() {
        let registry = Registry::new();
        let core = registry.find("", "v1", "events").expect("core events");
        let new = registry
            .find("events.k8s.io", "v1", "events")
            .expect("events.k8s.io events");
        assert_eq!(core.storage, new.storage);
        assert_eq!(core.representation, Representation::CoreEvent);
        assert_eq!(
            registry.storage_type(&core.storage).expect("stored shape").group,
            "events.k8s.io"
        );
        assert!(core.accepts_field_label("involvedObject.name"));
        assert!(new.accepts_field_label("regarding.uid"));
    }

    #[test]
    fn a_crd_defines_one_type_per_served_version() {
        let crd = json!({
            "metadata": {"name": "widgets.example.io"},
            "spec": {
                "group": "example.io",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                     "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]},
                    {"name": "v0", "served": false, "storage": false}
                ]
            }
        });
        let types = custom_types(&crd).expect("valid CRD");
        assert_eq!(types.len(), 1);
        let widget = &types[0];
        assert_eq!(widget.api_version(), "example.io/v1");
        assert_eq!(widget.singular, "widget");
        assert!(widget.status);
        assert_eq!(widget.qualified_kind(), "Widget.example.io");
        assert_eq!(
            widget.custom.as_ref().expect("custom").columns[0].json_path,
            ".spec.size"
        );
    }

    #[test]
    fn a_crd_whose_name_does_not_match_is_refused() {
        let crd = json!({
            "metadata": {"name": "gadgets.example.io"},
            "spec": {"group": "example.io", "scope": "Cluster",
                     "names": {"plural": "widgets", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true}]}
        });
        let errors = custom_types(&crd).expect_err("name mismatch");
        assert_eq!(errors[0].0, "metadata.name");
    }

    #[test]
    fn builtin_groups_are_told_apart_from_custom_ones() {
        assert!(is_builtin_group("apps"));
        assert!(is_builtin_group("rbac.authorization.k8s.io"));
        assert!(is_builtin_group(""));
        assert!(!is_builtin_group("drmysql.io"));
        assert!(!is_builtin_group("crd.projectcalico.org"));
    }
}
