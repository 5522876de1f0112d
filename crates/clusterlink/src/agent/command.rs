//! Running the kernel tools the agent drives: `iptables`, `iptables-restore`,
//! `ipset` and `ip` (for xfrm).
//!
//! Every call is bounded by a timeout, after which the child is killed, and a
//! failure carries the tool's stderr. Input that may hold secrets (xfrm keys)
//! goes through the child's stdin, never its arguments: `/proc/<pid>/cmdline`
//! is readable by every user on the node. The child's stdout is zeroed when
//! dropped, because `ip xfrm state list` prints keys.
//!
//! Children are spawned from the calling thread, so they inherit its network
//! namespace; that is what lets the tests run the agent inside a namespace
//! entered with `setns` on one thread.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::error::AgentError;

/// The programs the agent runs. Each is looked up in `PATH` unless given with
/// a path, so a node image can pick the iptables backend (legacy or nft) the
/// way Kosmos's `IPTABLES_PATH` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tools {
    /// `ip`, for xfrm.
    pub ip: PathBuf,
    /// `iptables-save`, which reads both of the agent's tables in one run.
    pub iptables_save: PathBuf,
    /// `ip6tables-save`.
    pub ip6tables_save: PathBuf,
    /// `iptables-restore`.
    pub iptables_restore: PathBuf,
    /// `ip6tables-restore`.
    pub ip6tables_restore: PathBuf,
    /// `ipset`.
    pub ipset: PathBuf,
}

impl Default for Tools {
    fn default() -> Self {
        Self {
            ip: "ip".into(),
            iptables_save: "iptables-save".into(),
            ip6tables_save: "ip6tables-save".into(),
            iptables_restore: "iptables-restore".into(),
            ip6tables_restore: "ip6tables-restore".into(),
            ipset: "ipset".into(),
        }
    }
}

/// What a finished child wrote.
pub(crate) struct CommandOutput {
    /// Standard output; zeroed on drop.
    pub stdout: Vec<u8>,
    /// Standard error, lossily decoded and trimmed.
    pub stderr: String,
    /// Whether the child exited with status 0.
    pub success: bool,
    /// The exit status, for messages.
    pub status: String,
}

impl CommandOutput {
    /// Standard output as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

impl Drop for CommandOutput {
    fn drop(&mut self) {
        self.stdout.fill(0);
    }
}

/// How a command is named in messages: program and arguments, which by
/// construction never hold secrets.
pub(crate) fn describe(program: &Path, args: &[&str]) -> String {
    let mut text = program.display().to_string();
    for arg in args {
        text.push(' ');
        text.push_str(arg);
    }
    text
}

/// Runs `program` with `args`, feeding `stdin` when given, and waits at most
/// `timeout`. A non-zero exit is returned as output with `success == false`;
/// only a failure to run at all, or the timeout, is an error.
pub(crate) async fn run_unchecked(
    program: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<CommandOutput, AgentError> {
    let spawn_error = |source| AgentError::Spawn {
        program: program.display().to_string(),
        source,
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(spawn_error)?;
    let child_stdin = child.stdin.take();
    let work = async move {
        let feed = async move {
            if let (Some(mut pipe), Some(input)) = (child_stdin, stdin) {
                match pipe.write_all(input).await {
                    // The tool may exit before reading everything (`ip xfrm`
                    // exits at its first failure); its status tells the rest.
                    Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
                    result => result?,
                }
                pipe.shutdown().await.or_else(|e| {
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })?;
            }
            Ok::<(), std::io::Error>(())
        };
        let (fed, output) = tokio::join!(feed, child.wait_with_output());
        fed?;
        output
    };
    let output = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| AgentError::Timeout {
            operation: describe(program, args),
            timeout,
        })?
        .map_err(spawn_error)?;
    Ok(CommandOutput {
        success: output.status.success(),
        status: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        stdout: output.stdout,
    })
}

/// Like [`run_unchecked`], but a non-zero exit is an error carrying stderr.
pub(crate) async fn run(
    program: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<CommandOutput, AgentError> {
    let output = run_unchecked(program, args, stdin, timeout).await?;
    if output.success {
        Ok(output)
    } else {
        Err(AgentError::CommandFailed {
            command: describe(program, args),
            status: output.status.clone(),
            stderr: output.stderr.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stdin_reaches_the_child_and_stderr_reaches_the_error() {
        let output = run(Path::new("cat"), &[], Some(b"hello"), Duration::from_secs(5))
            .await
            .expect("cat runs");
        assert_eq!(output.stdout, b"hello");
        let error = run(
            Path::new("sh"),
            &["-c", "echo oops >&2; exit 3"],
            None,
            Duration::from_secs(5),
        )
        .await
        .err()
        .expect("exit 3 is an error");
        let text = error.to_string();
        assert!(text.contains("oops") && text.contains('3'), "{text}");
    }

    #[tokio::test]
    async fn a_hanging_child_is_bounded() {
        let error = run(Path::new("sleep"), &["10"], None, Duration::from_millis(100))
            .await
            .err()
            .expect("sleep 10 times out");
        assert!(matches!(error, AgentError::Timeout { .. }), "{error}");
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let error = run(
            Path::new("drmysql-no-such-tool"),
            &[],
            None,
            Duration::from_secs(1),
        )
        .await
        .err()
        .expect("missing tool");
        assert!(matches!(error, AgentError::Spawn { .. }), "{error}");
    }
}
