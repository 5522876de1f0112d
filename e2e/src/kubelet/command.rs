//! Running the machine's tools (`ip`, `cp`) with a time bound: a child that
//! does not finish in time is killed and reported, never waited for forever.
//! Synchronous on purpose: teardown runs from `Drop`, where nothing async can.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::error::KubeletError;

/// How long one `ip` call may take.
pub const IP_TIMEOUT: Duration = Duration::from_secs(10);

/// Finds `program` in `PATH`, then in the usual system directories.
pub fn which(program: &str) -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    from_path
        .into_iter()
        .chain(
            [
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/sbin",
                "/usr/bin",
                "/sbin",
                "/bin",
            ]
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Finds `program` or says which package provides it.
pub fn require(program: &str, package: &str) -> Result<PathBuf, KubeletError> {
    which(program).ok_or_else(|| {
        KubeletError::Missing(format!(
            "`{program}` is not installed: the sandbox kubelet needs the Debian package {package}"
        ))
    })
}

fn describe(program: &Path, args: &[&str]) -> String {
    let mut words = vec![program.display().to_string()];
    words.extend(args.iter().map(|arg| (*arg).to_owned()));
    words.join(" ")
}

/// Runs `program args` to completion within `timeout`; its stdout on
/// success, its status and stderr otherwise.
pub fn run(program: &Path, args: &[&str], timeout: Duration) -> Result<String, KubeletError> {
    let failed = |message: String| KubeletError::Command {
        command: describe(program, args),
        message,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| failed(format!("cannot start: {error}")))?;
    // Both pipes are drained on their own threads so that a chatty child
    // cannot block on a full pipe while it is being waited for.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "did not finish within {timeout:?} and was killed"
                )));
            }
            Err(error) => return Err(failed(format!("cannot wait for it: {error}"))),
        }
    };
    let text = |reader: Option<std::thread::JoinHandle<String>>| {
        reader.and_then(|handle| handle.join().ok()).unwrap_or_default()
    };
    let (stdout, stderr) = (text(stdout), text(stderr));
    if status.success() {
        Ok(stdout)
    } else {
        Err(failed(format!("{status}: {}", stderr.trim())))
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
