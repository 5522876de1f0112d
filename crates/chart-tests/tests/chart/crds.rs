//! The chart's CRDs are the generated ones (`crds/`, from `drmysql crd`): the
//! copies in `charts/drmysql/files/crds` are byte-for-byte equal, and the
//! rendered CRDs differ only by the chart's labels and the keep policy.

use std::collections::BTreeMap;

use drmysql_chart_tests::render::{of_kind, parse_documents};
use drmysql_chart_tests::{chart_dir, repo_root};
use serde_json::Value;

fn files(dir: &std::path::Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| {
            let path = entry.expect("an entry").path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read_to_string(&path).expect("a CRD file"))
        })
        .collect()
}

#[test]
fn the_chart_carries_exactly_the_generated_crds() {
    let generated = files(&repo_root().join("crds"));
    let copies = files(&chart_dir().join("files").join("crds"));
    assert_eq!(
        generated.keys().collect::<Vec<_>>(),
        copies.keys().collect::<Vec<_>>(),
        "charts/drmysql/files/crds must hold the files of crds/: cp crds/*.yaml charts/drmysql/files/crds/"
    );
    for (name, text) in &generated {
        assert!(
            copies[name] == *text,
            "charts/drmysql/files/crds/{name} differs from crds/{name}: cp crds/*.yaml charts/drmysql/files/crds/"
        );
    }
}

fn generated_crds() -> BTreeMap<String, Value> {
    files(&repo_root().join("crds"))
        .values()
        .flat_map(|text| parse_documents(text))
        .map(|crd| (crd["metadata"]["name"].as_str().expect("a name").to_owned(), crd))
        .collect()
}

fn rendered_crd_names(objects: &[Value]) -> Vec<String> {
    of_kind(objects, "CustomResourceDefinition")
        .iter()
        .map(|crd| crd["metadata"]["name"].as_str().expect("a name").to_owned())
        .collect()
}

#[test]
fn rendered_crds_are_the_generated_ones_kept_on_uninstall() {
    let generated = generated_crds();
    let host = crate::rendered_with("clusterlink-host-values.yaml");
    let mut names = rendered_crd_names(host);
    names.sort();
    assert_eq!(names, generated.keys().cloned().collect::<Vec<_>>());
    for crd in of_kind(host, "CustomResourceDefinition") {
        let name = crd["metadata"]["name"].as_str().expect("a name");
        assert_eq!(
            crd["metadata"]["annotations"]["helm.sh/resource-policy"], "keep",
            "{name} must be kept on uninstall"
        );
        let mut stripped = crd.clone();
        let metadata = stripped["metadata"].as_object_mut().expect("metadata");
        metadata.remove("annotations");
        metadata.remove("labels");
        assert!(
            stripped == generated[name],
            "the rendered {name} is not the generated one"
        );
    }
}

#[test]
fn crd_switches_decide_what_is_installed() {
    assert_eq!(
        rendered_crd_names(crate::rendered_default()),
        ["drmysqls.drmysql.io"]
    );
    assert!(rendered_crd_names(crate::rendered_with("single-replica-values.yaml")).is_empty());
    assert!(rendered_crd_names(crate::rendered_with("clusterlink-member-values.yaml")).is_empty());
    assert_eq!(
        rendered_crd_names(crate::rendered_with("kosmos-provided-values.yaml")),
        ["drmysqls.drmysql.io"]
    );
}
