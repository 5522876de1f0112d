//! Runs the external tools the chart is tested with, failing loudly (with the
//! tool's name and how to get it) when one is missing rather than skipping.

use std::path::Path;
use std::process::{Command, Output};

/// What a finished tool run printed, and whether it succeeded.
#[derive(Debug)]
pub struct Run {
    /// Exit status was zero.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Standard output, or a panic naming the command and showing its output.
    pub fn expect_success(self, what: &str) -> String {
        assert!(
            self.success,
            "{what} failed\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }
}

/// Runs `tool` with `args` in `dir`; panics when the tool is not installed.
pub fn run(tool: &str, args: &[&str], dir: &Path) -> Run {
    let output: Output = match Command::new(tool).args(args).current_dir(dir).output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{tool}` is not installed (or not on PATH); the chart tests need helm, promtool and \
             kubernetes-validate: run scripts/install-deps"
        ),
        Err(error) => panic!("cannot run `{tool}`: {error}"),
    };
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
