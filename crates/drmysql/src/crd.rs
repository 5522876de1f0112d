//! `drmysql crd`: the CRDs as YAML, for `kubectl apply -f -` and for `crds/`.
//!
//! The files in `crds/` are exactly what this prints, one file per CRD in file
//! name order, so `cat crds/*.yaml` and `drmysql crd` give the same bytes; a
//! test fails when they drift from the Rust types.

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use std::path::PathBuf;

/// Arguments of `drmysql crd`.
#[derive(clap::Args, Debug)]
pub struct CrdArgs {
    /// Write one file per CRD into this directory instead of printing them.
    #[arg(long, value_name = "DIR")]
    write_dir: Option<PathBuf>,
}

/// Prints or writes every CRD.
pub fn run(args: &CrdArgs) -> anyhow::Result<()> {
    let documents = render_all()?;
    match &args.write_dir {
        None => {
            let all: String = documents.into_iter().map(|(_, yaml)| yaml).collect();
            print!("{all}");
        }
        Some(dir) => {
            for (file_name, yaml) in documents {
                let path = dir.join(&file_name);
                std::fs::write(&path, yaml).with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// Every CRD as `(file name, YAML document)`, in file name order.
pub fn render_all() -> anyhow::Result<Vec<(String, String)>> {
    let mut documents = drmysql_api::crds()
        .iter()
        .map(|crd| Ok((drmysql_api::crd_file_name(crd), render(crd)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    documents.sort();
    Ok(documents)
}

fn render(crd: &CustomResourceDefinition) -> anyhow::Result<String> {
    let yaml = serde_saphyr::to_string(crd)
        .with_context(|| format!("cannot render CRD {:?} as YAML", crd.metadata.name))?;
    Ok(format!("---\n{yaml}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn crds_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds")
    }

    /// `crds/` must be exactly what the types generate; regenerate with
    /// `cargo run -p drmysql -- crd --write-dir crds`.
    #[test]
    fn committed_crds_match_the_types() {
        let documents = render_all().expect("CRDs render");
        let mut expected_files: Vec<String> = documents.iter().map(|(name, _)| name.clone()).collect();
        for (file_name, yaml) in &documents {
            let path = crds_dir().join(file_name);
            let committed = std::fs::read_to_string(&path).unwrap_or_else(|error| {
                panic!(
                    "{} is missing ({error}); run `cargo run -p drmysql -- crd --write-dir crds`",
                    path.display()
                )
            });
            assert!(
                committed == *yaml,
                "{} drifted from the Rust types; run `cargo run -p drmysql -- crd --write-dir crds` and commit the result",
                path.display()
            );
        }
        let mut present: Vec<String> = std::fs::read_dir(crds_dir())
            .expect("crds/ exists")
            .map(|entry| {
                entry
                    .expect("readable entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        present.sort();
        expected_files.sort();
        assert_eq!(present, expected_files, "crds/ holds exactly one file per CRD");
    }

    #[test]
    fn the_four_crds_are_shipped_under_their_conventional_names() {
        let names: Vec<String> = render_all()
            .expect("CRDs render")
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            names,
            [
                "drmysql.io_drmysqls.yaml",
                "kosmos.io_clusternodes.yaml",
                "kosmos.io_clusters.yaml",
                "kosmos.io_nodeconfigs.yaml"
            ]
        );
    }

    #[test]
    fn printed_yaml_round_trips_to_the_same_crds() {
        for (file_name, yaml) in render_all().expect("CRDs render") {
            let body = yaml.strip_prefix("---\n").expect("document marker");
            let parsed: CustomResourceDefinition = serde_saphyr::from_str(body)
                .unwrap_or_else(|error| panic!("{file_name} does not parse: {error}"));
            let original = drmysql_api::crds()
                .into_iter()
                .find(|crd| drmysql_api::crd_file_name(crd) == file_name)
                .expect("CRD for file");
            assert_eq!(parsed, original, "{file_name} does not round-trip");
        }
    }
}
