//! The sandbox's long-running components as real child processes, placed
//! where they would run in a cluster: `drmysql controller`, `network-manager`
//! and `discovery` in a host node's network namespace, one `drmysql agent`
//! per node namespace. Each writes its log to a file of its own, so that a
//! failing scenario can show what the component said; each is stopped with
//! SIGTERM (then SIGKILL) when the sandbox ends, however it ends.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::error::SandboxError;

/// How long a stopped component may take to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What to start: a program, its arguments and environment, and the network
/// namespace it runs in.
#[derive(Clone, Debug)]
pub struct ProcessSpec {
    /// A name for logs and messages (`controller`, `agent-host-1`).
    pub name: String,
    /// The network namespace (`ip netns exec`), or the current one.
    pub netns: Option<String>,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Environment variables set for it (the sandbox's own are inherited,
    /// except the log filters, which would otherwise leak into components).
    pub env: Vec<(String, OsString)>,
}

impl ProcessSpec {
    /// `program args...` in the current namespace, no extra environment.
    pub fn new(name: &str, program: &Path, args: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            netns: None,
            program: program.to_path_buf(),
            args: args.iter().map(OsString::from).collect(),
            env: Vec::new(),
        }
    }

    /// Runs it inside network namespace `netns`.
    #[must_use]
    pub fn in_netns(mut self, netns: &str) -> Self {
        self.netns = Some(netns.to_owned());
        self
    }

    /// Adds an environment variable.
    #[must_use]
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The command line, for messages.
    pub fn command_line(&self) -> String {
        let mut words: Vec<String> = Vec::new();
        if let Some(netns) = &self.netns {
            words.extend(["ip", "netns", "exec", netns.as_str()].map(str::to_owned));
        }
        words.push(self.program.display().to_string());
        words.extend(self.args.iter().map(|arg| arg.to_string_lossy().into_owned()));
        words.join(" ")
    }

    fn command(&self) -> Command {
        let mut command = match &self.netns {
            Some(netns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", netns]).arg(&self.program);
                command
            }
            None => Command::new(&self.program),
        };
        command.args(&self.args);
        for key in [
            "RUST_LOG",
            "DRMYSQL_LOG",
            "KUBECONFIG",
            "POD_NAME",
            "POD_NAMESPACE",
        ] {
            command.env_remove(key);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }
}

/// A running component, stopped when dropped.
#[derive(Debug)]
pub struct Component {
    name: String,
    command_line: String,
    child: Child,
    log: PathBuf,
    exit: Option<ExitStatus>,
}

impl Component {
    /// Starts `spec`, its stdout and stderr going to `log_dir/<name>.log`.
    pub fn start(spec: &ProcessSpec, log_dir: &Path) -> Result<Self, SandboxError> {
        let log = log_dir.join(format!("{}.log", spec.name));
        let file = std::fs::File::create(&log).map_err(|error| SandboxError::Io {
            what: format!("cannot create {}", log.display()),
            error,
        })?;
        let errors = file.try_clone().map_err(|error| SandboxError::Io {
            what: format!("cannot share {}", log.display()),
            error,
        })?;
        let command_line = spec.command_line();
        let child = spec
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(errors))
            .spawn()
            .map_err(|error| SandboxError::Io {
                what: format!("cannot start {command_line}"),
                error,
            })?;
        Ok(Self {
            name: spec.name.clone(),
            command_line,
            child,
            log,
            exit: None,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id (of `ip netns exec`, which execs the program: the same
    /// process).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Its exit status, once it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// An error naming the component, its command line and its last log
    /// lines when it has exited.
    pub fn check_running(&mut self) -> Result<(), SandboxError> {
        match self.exited() {
            None => Ok(()),
            Some(status) => Err(SandboxError::ComponentExited {
                name: self.name.clone(),
                command: self.command_line.clone(),
                status: status.to_string(),
                log_tail: self.log_tail(20),
            }),
        }
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: Signal) -> Result<(), SandboxError> {
        let pid = i32::try_from(self.child.id())
            .map_err(|_| SandboxError::Invariant(format!("pid {} out of range", self.child.id())))?;
        kill(Pid::from_raw(pid), signal).map_err(|error| {
            SandboxError::Invariant(format!("cannot send {signal} to {}: {error}", self.name))
        })
    }

    /// SIGTERM, then SIGKILL after the grace period; reaps it.
    pub fn stop(&mut self) -> ExitStatus {
        if let Some(status) = self.exited() {
            return status;
        }
        let _ = self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let status = self.child.wait().unwrap_or_else(|_| ExitStatus::default());
        self.exit = Some(status);
        status
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespaced_command_line_names_the_namespace_and_arguments() {
        let spec = ProcessSpec::new("agent", Path::new("/bin/drmysql"), &["agent", "--node", "n1"])
            .in_netns("node-a")
            .env("KUBECONFIG", "/k");
        assert_eq!(
            spec.command_line(),
            "ip netns exec node-a /bin/drmysql agent --node n1"
        );
        assert_eq!(spec.env, vec![("KUBECONFIG".to_owned(), OsString::from("/k"))]);
    }

    #[test]
    fn a_component_logs_to_its_file_and_reports_its_exit() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let spec = ProcessSpec::new("echo", Path::new("/bin/sh"), &["-c", "echo hello; exit 3"]);
        let mut component = Component::start(&spec, dir.path()).expect("sh starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while component.exited().is_none() {
            assert!(Instant::now() < deadline, "sh did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
        let error = component.check_running().expect_err("it exited");
        let message = error.to_string();
        assert!(message.contains("echo") && message.contains("hello"), "{message}");
        assert!(message.contains("exit status: 3"), "{message}");
    }

    #[test]
    fn stopping_a_component_ends_it_with_sigterm() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let spec = ProcessSpec::new("sleeper", Path::new("/bin/sleep"), &["60"]);
        let mut component = Component::start(&spec, dir.path()).expect("sleep starts");
        let started = Instant::now();
        let status = component.stop();
        assert!(!status.success(), "{status}");
        assert!(started.elapsed() < STOP_GRACE, "SIGTERM ends sleep at once");
    }
}
