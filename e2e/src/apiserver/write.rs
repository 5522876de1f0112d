//! Creates, replaces, patches and server-side applies, through one pipeline.
//!
//! Every write ends in [`commit_update`] or [`create`], which do what the real
//! server's registry does around storage: preconditions (409 on a stale
//! resourceVersion or uid), keeping the main resource and `/status` apart
//! (a write to one never changes the other), restoring the metadata the
//! server owns, the built-in kinds' rules, schema and CEL admission of custom
//! objects, `metadata.generation` (bumped when anything outside `metadata`,
//! and outside `status` for kinds with a status subresource, changes),
//! `managedFields`, no-op detection (an unchanged object is not rewritten and
//! keeps its resourceVersion), and deletion once the last finalizer is gone.
//! After a committed write the built-in controllers settle.

use super::apply::{self, ApplyRequest};
use super::builtin;
use super::controllers;
use super::convert::{to_storage, to_wire};
use super::delete;
use super::error::{ApiError, Cause};
use super::fields::{self, Entry, Part, Writer};
use super::meta;
use super::patch::{self, PatchType};
use super::registry::{self, ResourceType, StorageKey};
use super::store::Store;
use super::validation::{self, FieldValidation};
use serde_json::{Value, json};

/// Query parameters of a write.
#[derive(Clone, Debug)]
pub(crate) struct WriteOptions {
    pub dry_run: bool,
    pub field_validation: FieldValidation,
    /// `fieldManager`, or the user agent's product name.
    pub manager: String,
    pub force: bool,
}

/// The answer to a write.
#[derive(Debug)]
pub(crate) struct Written {
    pub code: u16,
    pub body: Value,
    pub warnings: Vec<String>,
}

/// The object a request addresses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    pub rt: &'a ResourceType,
    /// "" for cluster-scoped resources.
    pub namespace: &'a str,
    pub name: &'a str,
    pub part: Part,
}

/// How `managedFields` changes with a write.
#[derive(Debug)]
pub(crate) enum Ownership {
    /// A non-apply write: the writer takes what it changed.
    Update,
    /// Server-side apply: ownership as computed by `apply`.
    Apply(Vec<Entry>),
}

const CRD_STORAGE: (&str, &str) = ("apiextensions.k8s.io", "customresourcedefinitions");

fn crd_storage() -> StorageKey {
    StorageKey::new(CRD_STORAGE.0, CRD_STORAGE.1)
}

fn is_crd(rt: &ResourceType) -> bool {
    rt.group == CRD_STORAGE.0 && rt.resource == CRD_STORAGE.1
}

fn writer(rt: &ResourceType, part: Part, opts: &WriteOptions) -> Writer {
    Writer {
        manager: opts.manager.clone(),
        api_version: rt.api_version(),
        subresource: if part == Part::Status {
            "status".to_owned()
        } else {
            String::new()
        },
        time: meta::now(),
    }
}

/// The part of an object a request on the main resource writes.
pub(crate) fn main_part(rt: &ResourceType) -> Part {
    if rt.status { Part::Main } else { Part::Whole }
}

fn check_type(rt: &ResourceType, body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the request body is not a JSON object"));
    }
    if let Some(api_version) = body.get("apiVersion").and_then(Value::as_str)
        && !api_version.is_empty()
        && api_version != rt.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    if let Some(kind) = body.get("kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    Ok(())
}

fn crd_causes(store: &Store, crd: &Value, old: Option<&Value>) -> Vec<Cause> {
    let invalid = |(field, message): (String, String)| Cause {
        reason: "FieldValueInvalid".to_owned(),
        message,
        field,
    };
    if let Some(old) = old {
        let immutable: Vec<Cause> = [
            ("spec.group", &["group"][..]),
            ("spec.scope", &["scope"][..]),
            ("spec.names.plural", &["names", "plural"][..]),
        ]
        .iter()
        .filter(|(_, path)| {
            let at = |object: &Value| {
                path.iter()
                    .fold(object["spec"].clone(), |value, key| value[*key].clone())
            };
            at(old) != at(crd)
        })
        .map(|(field, path)| {
            let value = path
                .iter()
                .fold(crd["spec"].clone(), |value, key| value[*key].clone());
            invalid((
                (*field).to_owned(),
                format!("Invalid value: {value}: field is immutable"),
            ))
        })
        .collect();
        if !immutable.is_empty() {
            return immutable;
        }
    }
    match registry::custom_types(crd) {
        Err(errors) => errors.into_iter().map(invalid).collect(),
        Ok(types) => types
            .first()
            .filter(|t| {
                store
                    .registry
                    .taken_by_other(meta::name(crd), &t.group, &t.resource)
            })
            .map(|t| {
                vec![invalid((
                    "spec.names.plural".to_owned(),
                    format!(
                        "Invalid value: \"{}\": is already served in group \"{}\"",
                        t.resource, t.group
                    ),
                ))]
            })
            .unwrap_or_default(),
    }
}

fn admit(
    store: &Store,
    rt: &ResourceType,
    object: &mut Value,
    old: Option<&Value>,
    opts: &WriteOptions,
) -> Result<Vec<String>, ApiError> {
    let warnings = validation::admit_custom(rt, object, old, opts.field_validation)?;
    if is_crd(rt) {
        let causes = crd_causes(store, object, old);
        if !causes.is_empty() {
            return Err(ApiError::invalid(rt, meta::name(object), causes));
        }
    }
    Ok(warnings)
}

/// Creates an object posted to `namespace` ("" for cluster-scoped kinds).
/// `ownership` is given by a server-side apply that creates.
pub(crate) fn create(
    store: &mut Store,
    rt: &ResourceType,
    namespace: &str,
    body: Value,
    opts: &WriteOptions,
    ownership: Option<Vec<Entry>>,
) -> Result<Written, ApiError> {
    check_type(rt, &body)?;
    let mut object = to_storage(rt, body);
    let body_namespace = meta::namespace(&object).to_owned();
    if rt.namespaced {
        if !body_namespace.is_empty() && body_namespace != namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        meta::metadata_mut(&mut object).insert("namespace".to_owned(), json!(namespace));
    } else {
        meta::metadata_mut(&mut object).remove("namespace");
    }
    if meta::meta_str(&object, "resourceVersion").is_some_and(|rv| !rv.is_empty()) {
        return Err(ApiError::internal(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let name = resolve_name(store, rt, namespace, &object)?;
    meta::metadata_mut(&mut object).insert("name".to_owned(), json!(name));
    let name_causes = meta::name_causes(rt, &name);
    if !name_causes.is_empty() {
        return Err(ApiError::invalid(rt, &name, name_causes));
    }
    if rt.namespaced {
        match store.get(&StorageKey::new("", "namespaces"), "", namespace) {
            None => return Err(ApiError::namespace_not_found(namespace)),
            Some(ns) if meta::is_deleting(ns) => {
                return Err(ApiError::forbidden(format!(
                    "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                    rt.qualified_resource()
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(custom) = &rt.custom
        && store
            .get(&crd_storage(), "", &custom.crd_name)
            .is_some_and(meta::is_deleting)
    {
        return Err(ApiError::method_not_allowed(
            "create not allowed while custom resource definition is terminating",
        ));
    }
    if store.get(&rt.storage, namespace, &name).is_some() {
        return Err(ApiError::already_exists(rt, &name));
    }
    let metadata = meta::metadata_mut(&mut object);
    metadata.insert("uid".to_owned(), json!(meta::new_uid()?));
    metadata.insert("creationTimestamp".to_owned(), json!(meta::now()));
    metadata.insert("generation".to_owned(), json!(1));
    for server_owned in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "managedFields",
        "resourceVersion",
    ] {
        metadata.remove(server_owned);
    }
    builtin::on_create(store, &rt.group, &rt.resource, &mut object)?;
    if rt.status && rt.custom.is_some() {
        meta::ensure_object(&mut object).remove("status");
    }
    let warnings = admit(store, rt, &mut object, None, opts)?;
    let mut entries = match ownership {
        Some(entries) => entries,
        None => {
            let mut entries = Vec::new();
            fields::record_update(&mut entries, None, &object, &writer(rt, main_part(rt), opts));
            entries
        }
    };
    fields::prune_missing(&mut entries, &object);
    fields::write(&mut object, &entries);
    if opts.dry_run {
        return Ok(Written {
            code: 201,
            body: to_wire(rt, &object),
            warnings,
        });
    }
    let stored = store.insert(&rt.storage, object);
    controllers::settle(store);
    Ok(Written {
        code: 201,
        body: to_wire(rt, &stored),
        warnings,
    })
}

fn resolve_name(
    store: &Store,
    rt: &ResourceType,
    namespace: &str,
    object: &Value,
) -> Result<String, ApiError> {
    let name = meta::name(object);
    if !name.is_empty() {
        return Ok(name.to_owned());
    }
    let prefix = meta::meta_str(object, "generateName").unwrap_or_default();
    if prefix.is_empty() {
        return Err(ApiError::invalid(
            rt,
            "",
            vec![Cause {
                reason: "FieldValueRequired".to_owned(),
                message: "Required value: name or generateName is required".to_owned(),
                field: "metadata.name".to_owned(),
            }],
        ));
    }
    // Kubernetes keeps the generated name within 63 characters.
    let prefix: String = prefix.chars().take(58).collect();
    for _ in 0..16 {
        let candidate = format!("{prefix}{}", meta::random_suffix()?);
        if store.get(&rt.storage, namespace, &candidate).is_none() {
            return Ok(candidate);
        }
    }
    Err(ApiError::already_exists(rt, &format!("{prefix}*")))
}

/// Everything but `metadata` (and `status`, when it is a subresource): what
/// `metadata.generation` counts changes of.
fn generation_content(object: &Value, status_separate: bool) -> Value {
    let mut content = object.clone();
    if let Some(map) = content.as_object_mut() {
        map.remove("metadata");
        if status_separate {
            map.remove("status");
        }
    }
    content
}

/// `object` without what does not make a write worth storing.
fn comparable(object: &Value) -> Value {
    let mut copy = object.clone();
    let metadata = meta::metadata_mut(&mut copy);
    metadata.remove("resourceVersion");
    if let Some(Value::Array(entries)) = metadata.get_mut("managedFields") {
        for entry in entries {
            if let Some(entry) = entry.as_object_mut() {
                entry.remove("time");
            }
        }
    }
    copy
}

/// Stores `candidate` (in stored form) as the new state of the target.
pub(crate) fn commit_update(
    store: &mut Store,
    target: Target<'_>,
    candidate: Value,
    ownership: Ownership,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let rt = target.rt;
    let old = store
        .get(&rt.storage, target.namespace, target.name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(rt, target.name))?;
    if let Some(rv) = meta::meta_str(&candidate, "resourceVersion").filter(|rv| !rv.is_empty())
        && Some(rv) != meta::meta_str(&old, "resourceVersion")
    {
        return Err(ApiError::stale(rt, target.name));
    }
    if let Some(uid) = meta::meta_str(&candidate, "uid").filter(|uid| !uid.is_empty())
        && uid != meta::uid(&old)
    {
        return Err(ApiError::conflict(
            rt,
            target.name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::uid(&old)
            ),
        ));
    }
    let candidate_name = meta::name(&candidate);
    if !candidate_name.is_empty() && candidate_name != target.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({candidate_name}) does not match the name on the URL ({})",
            target.name
        )));
    }
    let candidate_namespace = meta::namespace(&candidate);
    if rt.namespaced && !candidate_namespace.is_empty() && candidate_namespace != target.namespace {
        return Err(ApiError::bad_request(format!(
            "the namespace of the object ({candidate_namespace}) does not match the namespace on the URL ({})",
            target.namespace
        )));
    }
    let mut new = match target.part {
        Part::Status => {
            let mut new = old.clone();
            let root = meta::ensure_object(&mut new);
            match candidate.get("status") {
                Some(status) => root.insert("status".to_owned(), status.clone()),
                None => root.remove("status"),
            };
            new
        }
        Part::Main => {
            let mut new = candidate;
            let root = meta::ensure_object(&mut new);
            match old.get("status") {
                Some(status) => root.insert("status".to_owned(), status.clone()),
                None => root.remove("status"),
            };
            new
        }
        Part::Whole => candidate,
    };
    restore_server_metadata(&old, &mut new);
    let old_finalizers = meta::finalizers(&old);
    if meta::is_deleting(&old) {
        let added: Vec<String> = meta::finalizers(&new)
            .into_iter()
            .filter(|f| !old_finalizers.contains(f))
            .collect();
        if !added.is_empty() {
            return Err(ApiError::invalid(
                rt,
                target.name,
                vec![Cause {
                    reason: "FieldValueForbidden".to_owned(),
                    message: "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers [\""
                        .to_owned()
                        + &added.join("\" \"")
                        + "\"]",
                    field: "metadata.finalizers".to_owned(),
                }],
            ));
        }
    }
    if rt.custom.is_none() {
        builtin::on_update(store, &rt.group, &rt.resource, &old, &mut new)?;
    }
    let warnings = admit(store, rt, &mut new, Some(&old), opts)?;
    if generation_content(&old, rt.status) != generation_content(&new, rt.status) {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        meta::metadata_mut(&mut new).insert("generation".to_owned(), json!(generation));
    }
    let mut entries = match ownership {
        Ownership::Update => {
            let mut entries = fields::read(&old);
            fields::record_update(&mut entries, Some(&old), &new, &writer(rt, target.part, opts));
            entries
        }
        Ownership::Apply(entries) => entries,
    };
    fields::prune_missing(&mut entries, &new);
    fields::write(&mut new, &entries);
    if comparable(&new) == comparable(&old) {
        return Ok(Written {
            code: 200,
            body: to_wire(rt, &old),
            warnings,
        });
    }
    if meta::is_deleting(&new) && !delete::blocked(rt, &new) {
        if opts.dry_run {
            return Ok(Written {
                code: 200,
                body: to_wire(rt, &new),
                warnings,
            });
        }
        store.update(&rt.storage, new);
        let removed = store.remove(&rt.storage, target.namespace, target.name);
        controllers::settle(store);
        return Ok(Written {
            code: 200,
            body: removed
                .map(|removed| to_wire(rt, &removed))
                .unwrap_or(Value::Null),
            warnings,
        });
    }
    if opts.dry_run {
        return Ok(Written {
            code: 200,
            body: to_wire(rt, &new),
            warnings,
        });
    }
    let stored = store.update(&rt.storage, new);
    controllers::settle(store);
    Ok(Written {
        code: 200,
        body: to_wire(rt, &stored),
        warnings,
    })
}

/// Metadata clients cannot change through an update.
fn restore_server_metadata(old: &Value, new: &mut Value) {
    let old_metadata = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let metadata = meta::metadata_mut(new);
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "resourceVersion",
        "managedFields",
    ] {
        match old_metadata.get(field) {
            Some(value) => metadata.insert(field.to_owned(), value.clone()),
            None => metadata.remove(field),
        };
    }
    metadata.remove("selfLink");
}

/// PUT of the main resource or of `/status`.
pub(crate) fn update(
    store: &mut Store,
    target: Target<'_>,
    body: Value,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    check_type(target.rt, &body)?;
    let candidate = to_storage(target.rt, body);
    commit_update(store, target, candidate, Ownership::Update, opts)
}

/// PATCH of the main resource or of `/status`; `path` is the request's, for a 501.
pub(crate) fn patch(
    store: &mut Store,
    target: Target<'_>,
    kind: PatchType,
    body: &[u8],
    opts: &WriteOptions,
    path: &str,
) -> Result<Written, ApiError> {
    let rt = target.rt;
    if kind == PatchType::Apply {
        return server_side_apply(store, target, body, opts);
    }
    let current = store
        .get(&rt.storage, target.namespace, target.name)
        .ok_or_else(|| ApiError::not_found(rt, target.name))?;
    let mut document = to_wire(rt, current);
    patch::patch(kind, &mut document, body, path)?;
    check_type(rt, &document)?;
    commit_update(store, target, to_storage(rt, document), Ownership::Update, opts)
}

/// The body of an apply: YAML or JSON, one object.
fn parse_apply_body(body: &[u8]) -> Result<Value, ApiError> {
    let parsed: Result<Value, String> = serde_json::from_slice(body).or_else(|_| {
        let text = std::str::from_utf8(body).map_err(|error| error.to_string())?;
        serde_saphyr::from_str(text).map_err(|error| error.to_string())
    });
    match parsed {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err(ApiError::bad_request(
            "the applied configuration is not an object",
        )),
        Err(error) => Err(ApiError::bad_request(format!("error decoding YAML: {error}"))),
    }
}

fn server_side_apply(
    store: &mut Store,
    target: Target<'_>,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let rt = target.rt;
    let mut config = parse_apply_body(body)?;
    for field in ["apiVersion", "kind"] {
        if config
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::bad_request(format!(
                "{field} must be set in an applied configuration"
            )));
        }
    }
    check_type(rt, &config)?;
    if opts.manager.is_empty() {
        return Err(ApiError::bad_request(
            "PATCH with application/apply-patch+yaml requires the fieldManager query parameter",
        ));
    }
    let name = meta::name(&config).to_owned();
    if !name.is_empty() && name != target.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            target.name
        )));
    }
    meta::metadata_mut(&mut config).insert("name".to_owned(), json!(target.name));
    if rt.namespaced {
        let namespace = meta::namespace(&config).to_owned();
        if !namespace.is_empty() && namespace != target.namespace {
            return Err(ApiError::bad_request(format!(
                "the namespace of the object ({namespace}) does not match the namespace on the URL ({})",
                target.namespace
            )));
        }
        meta::metadata_mut(&mut config).insert("namespace".to_owned(), json!(target.namespace));
    }
    let writer = writer(rt, target.part, opts);
    let current = store
        .get(&rt.storage, target.namespace, target.name)
        .map(|current| to_wire(rt, current));
    let request = ApplyRequest {
        rt,
        name: target.name,
        part: target.part,
        writer: &writer,
        force: opts.force,
    };
    let applied = apply::apply(&request, current.as_ref(), config)?;
    match current {
        None if target.part == Part::Status => Err(ApiError::not_found(rt, target.name)),
        None => create(
            store,
            rt,
            target.namespace,
            applied.object,
            opts,
            Some(applied.entries),
        ),
        Some(_) => commit_update(
            store,
            target,
            to_storage(rt, applied.object),
            Ownership::Apply(applied.entries),
            opts,
        ),
    }
}

/// POST `pods/<name>/binding`.
pub(crate) fn bind(
    store: &mut Store,
    target: Target<'_>,
    body: &Value,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let rt = target.rt;
    let mut pod = store
        .get(&rt.storage, target.namespace, target.name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(rt, target.name))?;
    if let Some(name) = body["metadata"]["name"].as_str()
        && name != target.name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            target.name
        )));
    }
    builtin::bind(&mut pod, body).map_err(|message| {
        if message.contains("already assigned") {
            ApiError::conflict(rt, target.name, &message)
        } else {
            ApiError::invalid(
                rt,
                target.name,
                vec![Cause {
                    reason: "FieldValueInvalid".to_owned(),
                    message,
                    field: "target".to_owned(),
                }],
            )
        }
    })?;
    let whole = Target {
        part: Part::Whole,
        ..target
    };
    commit_update(store, whole, pod, Ownership::Update, opts)?;
    Ok(Written {
        code: 201,
        body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        warnings: Vec::new(),
    })
}
