//! Test support for the Helm chart in `charts/drmysql`.
//!
//! The chart is checked with the real tools a user's pipeline would run
//! (`helm`, `kubernetes-validate`, `promtool`), driven from `cargo test` so
//! that CI runs them with everything else. A missing tool fails the test with
//! its name and how to install it: nothing is skipped. The tests themselves
//! live in `tests/chart/`; this library renders the chart, parses what it
//! renders, validates custom objects against their schemas and models RBAC.

pub mod objects;
pub mod rbac;
pub mod render;
pub mod tools;

use std::path::PathBuf;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).map(PathBuf::from).unwrap_or(manifest)
}

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    repo_root().join("charts").join("drmysql")
}
