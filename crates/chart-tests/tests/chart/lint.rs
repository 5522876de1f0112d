//! `helm lint --strict` with the default values and every `ci/` values file.

use drmysql_chart_tests::render::{label, values_files};
use drmysql_chart_tests::{chart_dir, repo_root, tools};

#[test]
fn lint_strict_passes_with_every_values_file() {
    let chart = chart_dir();
    let chart = chart.to_string_lossy();
    for values in values_files() {
        let mut args = vec!["lint", "--strict", &*chart];
        let file = values.as_ref().map(|path| path.to_string_lossy().into_owned());
        if let Some(file) = &file {
            args.extend(["--values", file]);
        }
        let run = tools::run("helm", &args, &repo_root());
        let what = format!("helm lint --strict with {}", label(values.as_deref()));
        let output = run.expect_success(&what);
        assert!(
            !output.contains("[WARNING]") && !output.contains("[ERROR]"),
            "{what} reported problems:\n{output}"
        );
    }
}
