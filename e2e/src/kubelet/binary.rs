//! Where the drmysql binary the sidecar containers run comes from: the one
//! built in the same target directory and profile as the running test or
//! demo, built there with cargo when it is missing.
//!
//! Cargo does not build a workspace's other binaries for an integration test
//! of this package, so a fresh clone would otherwise have none. An existing
//! binary is used as it is; after changing the sidecar, build it (`cargo
//! build -p drmysql`) or call [`drmysql_binary_rebuilt`], which asks cargo to
//! bring it up to date (nothing to do when it already is).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::command::run;
use super::error::KubeletError;

/// A cold build on a small machine takes minutes; this bounds it.
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The profile directory of the running executable (`target/debug` for a
/// test in `target/debug/deps`).
fn profile_dir(executable: &Path) -> Option<PathBuf> {
    let directory = executable.parent()?;
    let directory = match directory.file_name() {
        Some(name) if name == "deps" || name == "examples" => directory.parent()?,
        _ => directory,
    };
    Some(directory.to_path_buf())
}

/// Cargo's profile name for a profile directory (`debug` is `dev`).
fn profile_name(profile_dir: &Path) -> Option<String> {
    let name = profile_dir.file_name()?.to_string_lossy().into_owned();
    Some(if name == "debug" { "dev".to_owned() } else { name })
}

/// The drmysql binary beside the running executable, built if missing.
pub fn drmysql_binary() -> Result<PathBuf, KubeletError> {
    locate(false)
}

/// The drmysql binary beside the running executable, brought up to date by
/// cargo first.
pub fn drmysql_binary_rebuilt() -> Result<PathBuf, KubeletError> {
    locate(true)
}

fn locate(rebuild: bool) -> Result<PathBuf, KubeletError> {
    let executable = std::env::current_exe()
        .map_err(|error| KubeletError::Binary(format!("cannot find the running executable: {error}")))?;
    let profile_dir = profile_dir(&executable).ok_or_else(|| {
        KubeletError::Binary(format!(
            "{} is not inside a cargo target directory",
            executable.display()
        ))
    })?;
    let binary = profile_dir.join("drmysql");
    if binary.is_file() && !rebuild {
        return Ok(binary);
    }
    build(&profile_dir)?;
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(KubeletError::Binary(format!(
            "cargo finished but {} does not exist (a cross-compilation target directory?)",
            binary.display()
        )))
    }
}

fn build(profile_dir: &Path) -> Result<(), KubeletError> {
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| KubeletError::Binary("the profile directory has no parent".to_owned()))?;
    let profile = profile_name(profile_dir)
        .ok_or_else(|| KubeletError::Binary("the profile directory has no name".to_owned()))?;
    // The cargo running the tests when there is one, else the one that
    // built this crate.
    let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from(env!("CARGO")), PathBuf::from);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("Cargo.toml");
    let (manifest, target_dir) = (manifest.display().to_string(), target_dir.display().to_string());
    let args = [
        "build",
        "--manifest-path",
        &manifest,
        "--package",
        "drmysql",
        "--bin",
        "drmysql",
        "--profile",
        &profile,
        "--target-dir",
        &target_dir,
    ];
    run(&cargo, &args, BUILD_TIMEOUT)
        .map(|_| ())
        .map_err(|error| KubeletError::Binary(format!("building it failed: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_directories_are_found_from_test_and_binary_paths() {
        let test = Path::new("/w/target/debug/deps/drmysql_e2e-0123abcd");
        assert_eq!(profile_dir(test), Some(PathBuf::from("/w/target/debug")));
        let demo = Path::new("/w/target/release/drmysql-e2e");
        assert_eq!(profile_dir(demo), Some(PathBuf::from("/w/target/release")));
        assert_eq!(profile_name(Path::new("/w/target/debug")).as_deref(), Some("dev"));
        assert_eq!(
            profile_name(Path::new("/w/target/release")).as_deref(),
            Some("release")
        );
    }
}
