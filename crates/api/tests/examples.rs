//! Every manifest in `examples/mysql/` must be admitted by the generated CRD, and
//! every manifest in `examples/mysql/invalid/` must be refused with the message
//! its `# expect-error:` header names, exactly as an API server would answer
//! `kubectl apply`.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::{assert_admitted, assert_refused, create};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mysql")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{} is unreadable: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml"))
        .collect();
    files.sort();
    files
}

fn documents(path: &Path) -> (String, Vec<Value>) {
    let text = std::fs::read_to_string(path).expect("example is readable");
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|error| panic!("{} is not valid YAML: {error}", path.display()));
    (text, documents)
}

#[test]
fn valid_examples_are_admitted() {
    let files = yaml_files(&examples_dir());
    assert!(
        files.iter().any(|file| file.ends_with("drmysql-basic.yaml")),
        "examples/mysql/drmysql-basic.yaml (the seed scenario) must exist"
    );
    for file in files {
        let (_, documents) = documents(&file);
        assert!(!documents.is_empty(), "{} holds no document", file.display());
        for document in documents {
            assert_eq!(
                document["kind"],
                "DRMySQL",
                "{} holds a non-DRMySQL",
                file.display()
            );
            assert_admitted(create(&document));
            let typed: drmysql_api::drmysql::DRMySQL =
                serde_json::from_value(document).expect("admitted example deserializes into DRMySQL");
            assert!(
                typed.instances().len() >= 2,
                "{} has a primary and a replica",
                file.display()
            );
        }
        eprintln!("admitted: {}", file.display());
    }
}

#[test]
fn the_seed_scenario_pins_the_replica_to_the_tencent_virtual_node() {
    let (_, documents) = documents(&examples_dir().join("drmysql-basic.yaml"));
    let typed: drmysql_api::drmysql::DRMySQL =
        serde_json::from_value(documents[0].clone()).expect("basic example deserializes");
    let instances = typed.instances();
    assert_eq!(instances[0].name, "orders-cloud-a");
    assert_eq!(instances[1].name, "orders-tencent");
    assert_eq!(instances[1].spec.node.as_deref(), Some("kosmos-member-tencent"));
    let tolerations = instances[1].spec.effective_tolerations();
    assert_eq!(
        tolerations,
        vec![drmysql_api::drmysql::kosmos_virtual_node_toleration()]
    );
}

#[test]
fn invalid_examples_are_refused_with_their_expected_message() {
    let files = yaml_files(&examples_dir().join("invalid"));
    assert!(
        !files.is_empty(),
        "examples/mysql/invalid/ holds at least one manifest"
    );
    for file in files {
        let (text, documents) = documents(&file);
        let expected = text
            .lines()
            .find_map(|line| line.strip_prefix("# expect-error:"))
            .unwrap_or_else(|| panic!("{} has no `# expect-error:` header", file.display()))
            .trim()
            .to_owned();
        assert_eq!(
            documents.len(),
            1,
            "{} holds exactly one document",
            file.display()
        );
        assert_refused(create(&documents[0]), &expected);
        eprintln!("refused as expected: {}", file.display());
    }
}
