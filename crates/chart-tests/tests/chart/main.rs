//! Tests of the Helm chart `charts/drmysql` with the real `helm`,
//! `kubernetes-validate` and `promtool` (a missing tool fails, naming it).
//! One test binary, so the chart is rendered once per values file.

mod alerts;
mod crds;
mod lint;
mod rbac;
mod validate;
mod values;
mod workloads;

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

/// Every values file (`None`: the defaults) with the objects it renders.
pub fn rendered() -> &'static [(Option<PathBuf>, Vec<Value>)] {
    static RENDERED: OnceLock<Vec<(Option<PathBuf>, Vec<Value>)>> = OnceLock::new();
    RENDERED.get_or_init(|| {
        drmysql_chart_tests::render::values_files()
            .into_iter()
            .map(|values| {
                let objects = drmysql_chart_tests::render::render(values.as_deref(), &[]);
                (values, objects)
            })
            .collect()
    })
}

/// The objects one `ci/` values file renders.
pub fn rendered_with(file: &str) -> &'static [Value] {
    rendered()
        .iter()
        .find(|(values, _)| values.as_ref().is_some_and(|path| path.ends_with(file)))
        .map(|(_, objects)| objects.as_slice())
        .unwrap_or_else(|| panic!("charts/drmysql/ci/{file} is missing"))
}

/// The objects the default values render.
pub fn rendered_default() -> &'static [Value] {
    &rendered()
        .iter()
        .find(|(values, _)| values.is_none())
        .expect("the defaults are rendered")
        .1
}

/// The object of `kind` named `name`.
pub fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|object| object["kind"] == kind && object["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} is not rendered"))
}
