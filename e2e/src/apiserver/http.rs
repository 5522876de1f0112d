//! HTTP routing: from method, path, query and headers to a handler.
//!
//! Paths follow the Kubernetes layout (`/api/v1/namespaces/<ns>/<resource>/
//! <name>/<subresource>`, `/apis/<group>/<version>/...`). The verbs are mapped
//! as the real server maps them (GET on a collection is list, or watch with
//! `watch=true`; DELETE on a collection is deletecollection). Responses are
//! JSON only; Table and PartialObjectMetadata are served when asked for in
//! `Accept`. Whatever is not implemented — other subresources (logs, exec,
//! eviction, scale...), the deprecated `/watch/` paths, built-in resources not
//! listed in the registry, protobuf, other endpoints — is a 501 naming the
//! method and the path.

use super::convert::to_wire;
use super::delete::{self, DeleteOptions};
use super::discovery;
use super::error::ApiError;
use super::fields::Part;
use super::meta;
use super::openapi;
use super::patch::PatchType;
use super::registry::{Extra, ResourceType, is_builtin_group};
use super::selectors::{FieldSelector, LabelSelector};
use super::server::{Body, Shared, json_response};
use super::table::{self, IncludeObject};
use super::validation::FieldValidation;
use super::watch::{self, WatchRequest};
use super::write::{self, Target, WriteOptions};
use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Query parameters, decoded.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: &str) -> Self {
        Self {
            pairs: form_urlencoded::parse(raw.as_bytes()).into_owned().collect(),
        }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

/// A resource path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// What a path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Version,
    Health,
    CoreVersions,
    GroupVersion { group: String, version: String },
    Groups,
    Group(String),
    Resource(ResourcePath),
    OpenApiRoot,
    OpenApi { group: String, version: String },
    Unknown,
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// Parses a request path.
pub(crate) fn route(path: &str) -> Route {
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    match parts.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "readyz" | "livez"] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["api", version] => Route::GroupVersion {
            group: String::new(),
            version: (*version).to_owned(),
        },
        ["api", version, rest @ ..] => resource_route("", version, rest),
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group((*group).to_owned()),
        ["apis", group, version] => Route::GroupVersion {
            group: (*group).to_owned(),
            version: (*version).to_owned(),
        },
        ["apis", group, version, rest @ ..] => resource_route(group, version, rest),
        ["openapi", "v3"] => Route::OpenApiRoot,
        ["openapi", "v3", "api", version] => Route::OpenApi {
            group: String::new(),
            version: (*version).to_owned(),
        },
        ["openapi", "v3", "apis", group, version] => Route::OpenApi {
            group: (*group).to_owned(),
            version: (*version).to_owned(),
        },
        _ => Route::Unknown,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let path = |namespace: Option<&str>, resource: &str, name: Option<&str>, subresource: Option<&str>| {
        Route::Resource(ResourcePath {
            group: group.to_owned(),
            version: version.to_owned(),
            namespace: namespace.map(str::to_owned),
            resource: resource.to_owned(),
            name: name.map(str::to_owned),
            subresource: subresource.map(str::to_owned),
        })
    };
    match rest {
        ["watch", ..] => Route::Unknown,
        // Namespaces are cluster-scoped; their own subresources look like a namespaced path.
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            path(None, "namespaces", Some(name), Some(sub))
        }
        ["namespaces", namespace, resource] => path(Some(namespace), resource, None, None),
        ["namespaces", namespace, resource, name] => path(Some(namespace), resource, Some(name), None),
        ["namespaces", namespace, resource, name, sub] => {
            path(Some(namespace), resource, Some(name), Some(sub))
        }
        [resource] => path(None, resource, None, None),
        [resource, name] => path(None, resource, Some(name), None),
        [resource, name, sub] => path(None, resource, Some(name), Some(sub)),
        _ => Route::Unknown,
    }
}

/// What a client accepts back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    Json,
    /// `meta.k8s.io/<version>` Table.
    Table(String),
    /// `meta.k8s.io/<version>` PartialObjectMetadata(List).
    Metadata(String),
}

/// Picks the first acceptable media type of `Accept`.
pub(crate) fn negotiate(accept: Option<&str>, allow_as: bool) -> Result<Output, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Output::Json);
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let params: Vec<(String, String)> = parts
            .filter_map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            })
            .collect();
        let param = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        if !matches!(media.as_str(), "application/json" | "*/*" | "application/*") {
            continue;
        }
        match param("as") {
            None => return Ok(Output::Json),
            Some(kind) if allow_as && param("g") == Some("meta.k8s.io") => {
                let version = param("v").unwrap_or("v1");
                if !matches!(version, "v1" | "v1beta1") {
                    continue;
                }
                match kind {
                    "Table" => return Ok(Output::Table(format!("meta.k8s.io/{version}"))),
                    "PartialObjectMetadata" | "PartialObjectMetadataList" => {
                        return Ok(Output::Metadata(format!("meta.k8s.io/{version}")));
                    }
                    _ => continue,
                }
            }
            Some(_) => continue,
        }
    }
    Err(ApiError::not_acceptable(format!(
        "only the following media types are accepted: application/json (and, for reads, the meta.k8s.io Table and PartialObjectMetadata forms); asked for {accept}"
    )))
}

/// Media types a real API server speaks that the simulator does not.
const UNIMPLEMENTED_MEDIA: [&str; 4] = [
    "application/vnd.kubernetes.protobuf",
    "application/cbor",
    "application/apply-patch+cbor",
    "application/yaml",
];

fn unimplemented_media(header: &str) -> Option<&'static str> {
    UNIMPLEMENTED_MEDIA.iter().copied().find(|media| {
        header.split(',').any(|range| {
            range
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case(media)
        })
    })
}

/// Everything a handler needs from the request.
struct Call {
    shared: Arc<Shared>,
    method: Method,
    path: String,
    query: Query,
    accept: Option<String>,
    content_type: String,
    user_agent: String,
    body: Bytes,
}

/// Answers one request.
pub(crate) async fn handle(shared: Arc<Shared>, request: Request<hyper::body::Incoming>) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = Query::parse(request.uri().query().unwrap_or_default());
    let header = |name: http::header::HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let accept = header(http::header::ACCEPT);
    let content_type = header(http::header::CONTENT_TYPE).unwrap_or_default();
    let user_agent = header(http::header::USER_AGENT).unwrap_or_default();
    let limit = shared.config.max_body_bytes;
    let body = match http_body_util::Limited::new(request.into_body(), limit)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            let error = if error.is::<http_body_util::LengthLimitError>() {
                ApiError::too_large(format!("the request body exceeds {limit} bytes"))
            } else {
                ApiError::bad_request(format!("the request body could not be read: {error}"))
            };
            return error_response(&method, &path, &error);
        }
    };
    let call = Call {
        shared,
        method: method.clone(),
        path: path.clone(),
        query,
        accept,
        content_type,
        user_agent,
        body,
    };
    match dispatch(call).await {
        Ok(response) => {
            tracing::debug!(%method, %path, status = response.status().as_u16(), "API simulator request");
            response
        }
        Err(error) => error_response(&method, &path, &error),
    }
}

fn error_response(method: &Method, path: &str, error: &ApiError) -> Response<Body> {
    tracing::debug!(%method, %path, status = error.code, message = %error.message, "API simulator refusal");
    json_response(error.code, &error.status(), &[])
}

impl Call {
    /// The response form; a media type a real server would serve but the
    /// simulator does not is a 501, anything else unacceptable a 406.
    fn output(&self, allow_as: bool) -> Result<Output, ApiError> {
        negotiate(self.accept.as_deref(), allow_as).map_err(|error| {
            match self.accept.as_deref().and_then(unimplemented_media) {
                Some(media) => ApiError::not_implemented(
                    self.method.as_str(),
                    &self.path,
                    &format!("responses in {media} (the simulator answers application/json only)"),
                ),
                None => error,
            }
        })
    }

    /// Refuses request bodies in a media type a real server would accept but
    /// the simulator does not implement.
    fn check_body_media(&self) -> Result<(), ApiError> {
        match unimplemented_media(&self.content_type) {
            Some(media) if media != "application/yaml" => Err(ApiError::not_implemented(
                self.method.as_str(),
                &self.path,
                &format!("request bodies in {media} (send application/json or YAML)"),
            )),
            _ => Ok(()),
        }
    }
}

async fn dispatch(call: Call) -> Result<Response<Body>, ApiError> {
    let plain_get = call.method == Method::GET;
    match route(&call.path) {
        Route::Version if plain_get => Ok(json_response(200, &discovery::version(), &[])),
        Route::Health if plain_get => Ok(super::server::text_response(200, "ok")),
        Route::CoreVersions if plain_get => {
            call.output(false)?;
            Ok(json_response(
                200,
                &discovery::core_versions(&call.shared.address.to_string()),
                &[],
            ))
        }
        Route::Groups if plain_get => {
            call.output(false)?;
            let store = call.shared.store.read().await;
            Ok(json_response(200, &discovery::groups(&store.registry), &[]))
        }
        Route::Group(group) if plain_get => {
            call.output(false)?;
            let store = call.shared.store.read().await;
            match discovery::group(&store.registry, &group) {
                Some(document) => Ok(json_response(200, &document, &[])),
                None => Err(unserved(&call, &group, None, None)),
            }
        }
        Route::GroupVersion { group, version } if plain_get => {
            call.output(false)?;
            let store = call.shared.store.read().await;
            match discovery::resources(&store.registry, &group, &version) {
                Some(document) => Ok(json_response(200, &document, &[])),
                None => Err(unserved(&call, &group, Some(&version), None)),
            }
        }
        Route::OpenApiRoot if plain_get => {
            let store = call.shared.store.read().await;
            Ok(json_response(200, &openapi::root(&store.registry), &[]))
        }
        Route::OpenApi { group, version } if plain_get => {
            let store = call.shared.store.read().await;
            match openapi::group_version(&store.registry, &group, &version) {
                Some(document) => Ok(json_response(200, &document, &[])),
                None => Err(ApiError::no_such_resource()),
            }
        }
        Route::Resource(path) => resource(call, path).await,
        _ => Err(ApiError::not_implemented(
            call.method.as_str(),
            &call.path,
            "this endpoint is not implemented",
        )),
    }
}

/// 501 for a built-in group's resource the simulator does not serve, 404 for
/// anything of another group (no such CRD).
fn unserved(call: &Call, group: &str, version: Option<&str>, resource: Option<&str>) -> ApiError {
    if is_builtin_group(group) {
        let what = match (version, resource) {
            (Some(version), Some(resource)) => {
                format!(
                    "the resource {resource} of {} is not served by the simulator",
                    gv(group, version)
                )
            }
            (Some(version), None) => format!(
                "the API version {} is not served by the simulator",
                gv(group, version)
            ),
            _ => format!("the API group {group:?} is not served by the simulator"),
        };
        ApiError::not_implemented(call.method.as_str(), &call.path, &what)
    } else {
        ApiError::no_such_resource()
    }
}

fn gv(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

fn write_options(call: &Call) -> Result<WriteOptions, ApiError> {
    let dry_run = match call.query.get("dryRun") {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            )));
        }
    };
    let manager = match call.query.get("fieldManager") {
        Some(manager) if !manager.is_empty() => {
            if manager.len() > 128 {
                return Err(ApiError::bad_request(
                    "fieldManager: Too long: may not be more than 128 bytes".to_owned(),
                ));
            }
            manager.to_owned()
        }
        _ => call.user_agent.split('/').next().unwrap_or_default().to_owned(),
    };
    Ok(WriteOptions {
        dry_run,
        field_validation: FieldValidation::parse(call.query.get("fieldValidation"))?,
        manager,
        force: call.query.flag("force"),
    })
}

/// A create or update body: JSON or YAML.
fn parse_body(call: &Call) -> Result<Value, ApiError> {
    let media = call.content_type.split(';').next().unwrap_or_default().trim();
    let value: Value = match media {
        "" | "application/json" => serde_json::from_slice(&call.body).map_err(|error| {
            ApiError::bad_request(format!("error decoding the request body as JSON: {error}"))
        })?,
        "application/yaml" => {
            let text = std::str::from_utf8(&call.body)
                .map_err(|error| ApiError::bad_request(format!("the request body is not UTF-8: {error}")))?;
            serde_saphyr::from_str(text).map_err(|error| {
                ApiError::bad_request(format!("error decoding the request body as YAML: {error}"))
            })?
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::bad_request("the request body is not a JSON object"))
    }
}

async fn resource(call: Call, path: ResourcePath) -> Result<Response<Body>, ApiError> {
    let rt = {
        let store = call.shared.store.read().await;
        store
            .registry
            .find(&path.group, &path.version, &path.resource)
            .cloned()
    };
    let Some(rt) = rt else {
        return Err(unserved(
            &call,
            &path.group,
            Some(&path.version),
            Some(&path.resource),
        ));
    };
    if (!rt.namespaced && path.namespace.is_some())
        || (rt.namespaced && path.namespace.is_none() && (path.name.is_some() || call.method != Method::GET))
    {
        return Err(ApiError::no_such_resource());
    }
    if matches!(call.method, Method::POST | Method::PUT | Method::PATCH) {
        call.check_body_media()?;
    }
    let namespace = path.namespace.clone().unwrap_or_default();
    let sub = path.subresource.as_deref();
    if sub == Some("status") && !rt.status {
        return Err(ApiError::no_such_resource());
    }
    let part = if sub == Some("status") {
        Part::Status
    } else {
        write::main_part(&rt)
    };
    let method = call.method.clone();
    match (&method, path.name.as_deref(), sub) {
        (&Method::GET, None, None) if call.query.flag("watch") => {
            watch_collection(&call, rt, path.namespace).await
        }
        (&Method::GET, None, None) => list(&call, &rt, path.namespace.as_deref()).await,
        (&Method::GET, Some(name), None | Some("status")) if !call.query.flag("watch") => {
            get(&call, &rt, &namespace, name).await
        }
        (&Method::POST, None, None) => {
            let options = write_options(&call)?;
            let body = parse_body(&call)?;
            let mut store = call.shared.store.write().await;
            let written = write::create(&mut store, &rt, &namespace, body, &options, None)?;
            Ok(json_response(written.code, &written.body, &written.warnings))
        }
        (&Method::POST, Some(name), Some("binding")) if rt.extras.contains(&Extra::Binding) => {
            let options = write_options(&call)?;
            let body = parse_body(&call)?;
            let mut store = call.shared.store.write().await;
            let target = Target {
                rt: &rt,
                namespace: &namespace,
                name,
                part,
            };
            let written = write::bind(&mut store, target, &body, &options)?;
            Ok(json_response(written.code, &written.body, &written.warnings))
        }
        (&Method::PUT, Some(name), None | Some("status")) => {
            let options = write_options(&call)?;
            let body = parse_body(&call)?;
            let mut store = call.shared.store.write().await;
            let target = Target {
                rt: &rt,
                namespace: &namespace,
                name,
                part,
            };
            let written = write::update(&mut store, target, body, &options)?;
            Ok(json_response(written.code, &written.body, &written.warnings))
        }
        (&Method::PATCH, Some(name), None | Some("status")) => {
            let options = write_options(&call)?;
            let kind = PatchType::from_content_type(&call.content_type)?;
            let mut store = call.shared.store.write().await;
            let target = Target {
                rt: &rt,
                namespace: &namespace,
                name,
                part,
            };
            let written = write::patch(&mut store, target, kind, &call.body, &options, &call.path)?;
            Ok(json_response(written.code, &written.body, &written.warnings))
        }
        (&Method::DELETE, Some(name), None) => {
            let options = DeleteOptions::parse(&call.body, &call.query)?;
            let mut store = call.shared.store.write().await;
            let body = delete::delete(&mut store, &rt, &namespace, name, &options)?;
            Ok(json_response(200, &body, &[]))
        }
        (&Method::DELETE, None, None) => delete_collection(&call, &rt, path.namespace.as_deref()).await,
        _ => {
            let what = match (sub, path.name.as_deref()) {
                (Some(sub), _) => format!("the subresource {:?} of {}", sub, rt.qualified_resource()),
                (None, Some(_)) if call.query.flag("watch") => {
                    "watching a single object by its path (deprecated); watch the collection with fieldSelector=metadata.name=<name>"
                        .to_owned()
                }
                _ => format!("this verb on {}", rt.qualified_resource()),
            };
            Err(ApiError::not_implemented(method.as_str(), &call.path, &what))
        }
    }
}

fn selectors(call: &Call, rt: &ResourceType) -> Result<(LabelSelector, FieldSelector), ApiError> {
    Ok((
        LabelSelector::parse(call.query.get("labelSelector").unwrap_or_default())?,
        FieldSelector::parse(call.query.get("fieldSelector").unwrap_or_default(), rt)?,
    ))
}

fn partial(object: &Value, api_version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": api_version,
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

async fn get(
    call: &Call,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    let output = call.output(true)?;
    let include = IncludeObject::parse(call.query.get("includeObject"))?;
    let object = {
        let store = call.shared.store.read().await;
        store
            .get(&rt.storage, namespace, name)
            .map(|stored| to_wire(rt, stored))
            .ok_or_else(|| ApiError::not_found(rt, name))?
    };
    let body = match output {
        Output::Json => object,
        Output::Metadata(api_version) => partial(&object, &api_version),
        Output::Table(api_version) => table::table(
            rt,
            &[object],
            include,
            None,
            &api_version,
            (call.method.as_str(), &call.path),
        )?,
    };
    Ok(json_response(200, &body, &[]))
}

/// Checks a list's resourceVersion semantics against what the store can serve.
fn check_list_version(call: &Call, current: u64, compacted: u64) -> Result<(), ApiError> {
    let rv = call.query.get("resourceVersion").filter(|rv| !rv.is_empty());
    let rv_match = call.query.get("resourceVersionMatch").filter(|m| !m.is_empty());
    let asked = match rv {
        None | Some("0") => None,
        Some(text) => Some(text.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion: Invalid value: \"{text}\": must be a non-negative integer issued by this server"
            ))
        })?),
    };
    match (asked, rv_match) {
        (Some(asked), _) if asked > current => Err(ApiError::too_large_resource_version(asked, current)),
        (_, None | Some("NotOlderThan")) => Ok(()),
        (None, Some("Exact")) => Err(ApiError::bad_request(
            "resourceVersionMatch: Forbidden: resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"",
        )),
        (Some(asked), Some("Exact")) if asked == current => Ok(()),
        (Some(asked), Some("Exact")) if asked < compacted => Err(ApiError::expired(format!(
            "too old resource version: {asked} ({compacted})"
        ))),
        (Some(_), Some("Exact")) => Err(ApiError::not_implemented(
            call.method.as_str(),
            &call.path,
            "a list at an exact past resourceVersion (the simulator keeps changes, not snapshots)",
        )),
        (_, Some(other)) => Err(ApiError::bad_request(format!(
            "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
        ))),
    }
}

async fn list(call: &Call, rt: &ResourceType, namespace: Option<&str>) -> Result<Response<Body>, ApiError> {
    let output = call.output(true)?;
    let include = IncludeObject::parse(call.query.get("includeObject"))?;
    let (labels, fields) = selectors(call, rt)?;
    if call.query.get("continue").is_some_and(|c| !c.is_empty()) {
        return Err(ApiError::bad_request(
            "continue: the token was not issued by this API simulator, which never pages lists",
        ));
    }
    let (items, rv) = {
        let store = call.shared.store.read().await;
        check_list_version(call, store.current_rv(), store.compacted_rv())?;
        let items: Vec<Value> = store
            .list(&rt.storage, namespace)
            .map(|stored| to_wire(rt, stored))
            .filter(|object| labels.matches(&meta::labels(object)) && fields.matches(object))
            .collect();
        (items, store.current_rv().to_string())
    };
    let body = match output {
        Output::Json => json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": {"resourceVersion": rv},
            "items": items,
        }),
        Output::Metadata(api_version) => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": rv},
            "items": items.iter().map(|item| partial(item, &api_version)).collect::<Vec<_>>(),
        }),
        Output::Table(api_version) => table::table(
            rt,
            &items,
            include,
            Some(rv),
            &api_version,
            (call.method.as_str(), &call.path),
        )?,
    };
    Ok(json_response(200, &body, &[]))
}

async fn watch_collection(
    call: &Call,
    rt: ResourceType,
    namespace: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let metadata_only = match call.output(true)? {
        Output::Json | Output::Table(_) => false,
        Output::Metadata(_) => true,
    };
    let (labels, fields) = selectors(call, &rt)?;
    let timeout = match call.query.get("timeoutSeconds") {
        None | Some("") => call.shared.config.default_watch_timeout,
        Some(text) => Duration::from_secs(text.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "timeoutSeconds: Invalid value: \"{text}\": must be a non-negative integer"
            ))
        })?),
    };
    let request = WatchRequest {
        rt,
        namespace,
        labels,
        fields,
        resource_version: call.query.get("resourceVersion").map(str::to_owned),
        resource_version_match: call.query.get("resourceVersionMatch").map(str::to_owned),
        bookmarks: call.query.flag("allowWatchBookmarks"),
        send_initial_events: call.query.flag("sendInitialEvents"),
        timeout,
        metadata_only,
    };
    watch::watch(call.shared.clone(), request).await
}

async fn delete_collection(
    call: &Call,
    rt: &ResourceType,
    namespace: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let (labels, fields) = selectors(call, rt)?;
    let options = DeleteOptions::parse(&call.body, &call.query)?;
    let mut store = call.shared.store.write().await;
    let targets: Vec<(String, String)> = store
        .list(&rt.storage, namespace)
        .map(|stored| to_wire(rt, stored))
        .filter(|object| labels.matches(&meta::labels(object)) && fields.matches(object))
        .map(|object| {
            (
                meta::namespace(&object).to_owned(),
                meta::name(&object).to_owned(),
            )
        })
        .collect();
    let mut items = Vec::new();
    for (object_namespace, name) in targets {
        if let Some(outcome) = delete::delete_object(
            &mut store,
            rt,
            &object_namespace,
            &name,
            options.propagation,
            options.dry_run,
        ) {
            let object = match outcome {
                delete::Deleted::Gone(object) | delete::Deleted::Pending(object) => object,
            };
            items.push(to_wire(rt, &object));
        }
    }
    if !options.dry_run {
        super::controllers::settle(&mut store);
    }
    let body = json!({
        "kind": format!("{}List", rt.kind),
        "apiVersion": rt.api_version(),
        "metadata": {"resourceVersion": store.current_rv().to_string()},
        "items": items,
    });
    Ok(json_response(200, &body, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(
        group: &str,
        namespace: Option<&str>,
        resource: &str,
        name: Option<&str>,
        sub: Option<&str>,
    ) -> Route {
        Route::Resource(ResourcePath {
            group: group.to_owned(),
            version: "v1".to_owned(),
            namespace: namespace.map(str::to_owned),
            resource: resource.to_owned(),
            name: name.map(str::to_owned),
            subresource: sub.map(str::to_owned),
        })
    }

    #[test]
    fn paths_route_like_the_real_server() {
        assert_eq!(
            route("/api/v1/namespaces/default/pods"),
            resource("", Some("default"), "pods", None, None)
        );
        assert_eq!(
            route("/api/v1/namespaces/default/pods/p/status"),
            resource("", Some("default"), "pods", Some("p"), Some("status"))
        );
        assert_eq!(
            route("/api/v1/namespaces/kube-system"),
            resource("", None, "namespaces", Some("kube-system"), None)
        );
        assert_eq!(
            route("/api/v1/namespaces/x/status"),
            resource("", None, "namespaces", Some("x"), Some("status"))
        );
        assert_eq!(
            route("/api/v1/nodes/n1"),
            resource("", None, "nodes", Some("n1"), None)
        );
        assert_eq!(
            route("/apis/coordination.k8s.io/v1/namespaces/default/leases/l"),
            resource("coordination.k8s.io", Some("default"), "leases", Some("l"), None)
        );
        assert_eq!(route("/apis"), Route::Groups);
        assert_eq!(route("/apis/drmysql.io"), Route::Group("drmysql.io".to_owned()));
        assert_eq!(route("/api/v1/watch/pods"), Route::Unknown);
        assert_eq!(route("/openapi/v3"), Route::OpenApiRoot);
        assert_eq!(route("/openapi/v2"), Route::Unknown);
        assert_eq!(route("/api/v1/namespaces/d/pods/p/proxy/extra"), Route::Unknown);
    }

    #[test]
    fn accept_headers_pick_json_table_or_metadata() {
        let kubectl_get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            negotiate(Some(kubectl_get), true).expect("table"),
            Output::Table("meta.k8s.io/v1".to_owned())
        );
        assert_eq!(negotiate(Some(kubectl_get), false).expect("json"), Output::Json);
        let discovery =
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        assert_eq!(negotiate(Some(discovery), true).expect("json"), Output::Json);
        assert_eq!(
            negotiate(
                Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
                true
            )
            .expect("meta"),
            Output::Metadata("meta.k8s.io/v1".to_owned())
        );
        assert_eq!(negotiate(None, true).expect("default"), Output::Json);
        assert_eq!(
            unimplemented_media("application/vnd.kubernetes.protobuf, application/json"),
            Some("application/vnd.kubernetes.protobuf")
        );
        assert_eq!(unimplemented_media("application/json"), None);
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf"), true)
                .expect_err("protobuf")
                .code,
            406
        );
    }

    #[test]
    fn queries_decode() {
        let query = Query::parse("labelSelector=app%3Dorders%2Crole+in+%28a%29&watch=1");
        assert_eq!(query.get("labelSelector"), Some("app=orders,role in (a)"));
        assert!(query.flag("watch"));
    }
}
