//! Renders the chart with `helm template` and splits what it prints into
//! objects.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::tools;

/// Release name every test renders with.
pub const RELEASE: &str = "drmysql";
/// Namespace every test renders into.
pub const NAMESPACE: &str = "drmysql-system";

/// The values files the chart is tested with: `None` for the defaults, then
/// every `ci/*.yaml`, sorted.
pub fn values_files() -> Vec<Option<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(crate::chart_dir().join("ci"))
        .expect("charts/drmysql/ci exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "charts/drmysql/ci has no values files");
    std::iter::once(None).chain(files.into_iter().map(Some)).collect()
}

/// A values file's name for messages.
pub fn label(values: Option<&Path>) -> String {
    values.map_or_else(
        || "default values".to_owned(),
        |path| {
            path.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        },
    )
}

/// `helm template` with `values` and extra `--set`s; the run, successful or not.
pub fn template_run(values: Option<&Path>, sets: &[&str]) -> tools::Run {
    let chart = crate::chart_dir();
    let chart = chart.to_string_lossy();
    let mut args = vec!["template", RELEASE, &chart, "--namespace", NAMESPACE];
    let values_text = values.map(|path| path.to_string_lossy().into_owned());
    if let Some(values) = &values_text {
        args.extend(["--values", values]);
    }
    for set in sets {
        args.extend(["--set", set]);
    }
    tools::run("helm", &args, &crate::repo_root())
}

/// Every object `helm template` renders with `values` and `sets`.
pub fn render(values: Option<&Path>, sets: &[&str]) -> Vec<Value> {
    let text = template_run(values, sets).expect_success(&format!("helm template with {}", label(values)));
    parse_documents(&text)
}

/// The non-empty YAML documents of `text`, as JSON values.
pub fn parse_documents(text: &str) -> Vec<Value> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).expect("helm printed valid YAML");
    documents.into_iter().filter(|doc| !doc.is_null()).collect()
}

/// `kind/name` of an object, for messages.
pub fn describe(object: &Value) -> String {
    format!(
        "{}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// The objects of `kind`.
pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|object| object["kind"] == kind).collect()
}
