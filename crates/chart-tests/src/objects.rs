//! Validation of rendered objects: built-in kinds by `kubernetes-validate
//! --strict` (offline, for one Kubernetes version), custom kinds by the
//! structural admission of `drmysql_api::structural` against a schema: the
//! generated CRDs in `crds/` for `drmysql.io` and `kosmos.io`, and a
//! structural subset of the Prometheus Operator's CRDs (`schemas/`) for
//! `monitoring.coreos.com`. A kind in any other custom group is refused.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::render::describe;
use crate::tools;

/// The Kubernetes version built-in objects are validated for.
pub const KUBERNETES_VERSION: &str = "1.35.0";

/// API groups whose kinds `kubernetes-validate` knows.
const BUILT_IN_GROUPS: [&str; 7] = [
    "",
    "apps",
    "policy",
    "rbac.authorization.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
    "scheduling.k8s.io",
];

/// The API group of an object's `apiVersion`.
pub fn group(object: &Value) -> &str {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// Schemas of custom kinds, by `(apiVersion, kind)`.
pub struct CustomSchemas {
    schemas: BTreeMap<(String, String), Value>,
}

impl CustomSchemas {
    /// The generated CRDs of `crds/` and the monitoring subsets of `schemas/`.
    pub fn load() -> Self {
        let mut schemas = BTreeMap::new();
        let crds = crate::repo_root().join("crds");
        for entry in std::fs::read_dir(&crds).expect("crds/ exists") {
            let text = std::fs::read_to_string(entry.expect("an entry").path()).expect("a CRD file");
            for crd in crate::render::parse_documents(&text) {
                let group = crd["spec"]["group"].as_str().expect("spec.group").to_owned();
                let kind = crd["spec"]["names"]["kind"]
                    .as_str()
                    .expect("spec.names.kind")
                    .to_owned();
                for version in crd["spec"]["versions"].as_array().expect("spec.versions") {
                    let name = version["name"].as_str().expect("a version name");
                    schemas.insert(
                        (format!("{group}/{name}"), kind.clone()),
                        version["schema"]["openAPIV3Schema"].clone(),
                    );
                }
            }
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        for (file, kind) in [
            ("servicemonitor.json", "ServiceMonitor"),
            ("podmonitor.json", "PodMonitor"),
            ("prometheusrule.json", "PrometheusRule"),
        ] {
            let text = std::fs::read_to_string(dir.join(file)).expect("a monitoring schema");
            schemas.insert(
                ("monitoring.coreos.com/v1".to_owned(), kind.to_owned()),
                serde_json::from_str(&text).expect("a JSON schema"),
            );
        }
        Self { schemas }
    }

    /// Admits `object` against its kind's schema; the violations, if any.
    pub fn check(&self, object: &Value) -> Result<(), String> {
        let key = (
            object["apiVersion"].as_str().unwrap_or_default().to_owned(),
            object["kind"].as_str().unwrap_or_default().to_owned(),
        );
        let Some(schema) = self.schemas.get(&key) else {
            return Err(format!("{}: no schema for {} {}", describe(object), key.0, key.1));
        };
        drmysql_api::structural::admit(schema, object, None)
            .map(|_| ())
            .map_err(|violations| {
                let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
                format!("{}: {}", describe(object), list.join("; "))
            })
    }
}

/// Validates every built-in object with `kubernetes-validate --strict`, one
/// file per object, and insists that each was validated (the tool only warns
/// about a kind it has no schema for).
pub fn validate_built_in(objects: &[&Value]) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut files = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        let path = dir.path().join(format!("{index:03}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(object).expect("JSON")).expect("write");
        files.push(path.to_string_lossy().into_owned());
    }
    if files.is_empty() {
        return Ok(());
    }
    let mut args = vec!["--strict", "--kubernetes-version", KUBERNETES_VERSION];
    args.extend(files.iter().map(String::as_str));
    let run = tools::run("kubernetes-validate", &args, dir.path());
    let mut problems = Vec::new();
    for (file, object) in files.iter().zip(objects) {
        let passed = format!("INFO {file} passed");
        if !run.stdout.lines().any(|line| line.starts_with(&passed)) {
            let said: Vec<&str> = run
                .stdout
                .lines()
                .chain(run.stderr.lines())
                .filter(|line| line.contains(file.as_str()))
                .collect();
            problems.push(format!("{}: {}", describe(object), said.join(" | ")));
        }
    }
    if !run.success && problems.is_empty() {
        problems.push(format!(
            "kubernetes-validate failed: {}{}",
            run.stdout, run.stderr
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Validates every object: built-in kinds with `kubernetes-validate`, custom
/// kinds against `schemas`; every problem, or nothing.
pub fn validate_all(objects: &[Value], schemas: &CustomSchemas) -> Result<(), String> {
    let (built_in, custom): (Vec<&Value>, Vec<&Value>) = objects
        .iter()
        .partition(|object| BUILT_IN_GROUPS.contains(&group(object)));
    let mut problems = Vec::new();
    if let Err(problem) = validate_built_in(&built_in) {
        problems.push(problem);
    }
    for object in custom {
        if let Err(problem) = schemas.check(object) {
            problems.push(problem);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}
