//! Container processes: started inside the Pod's network namespace through
//! `ip netns exec` (which execs the program, so the pid is the program's),
//! each in a process group of its own so that a signal reaches everything it
//! started, with a clean environment (the container's env, the image's
//! `PATH`, `HOSTNAME`) and stdout and stderr appended to the container's log.
//!
//! Pids are recycled quickly (`pid_max` is 32768 on some machines), so a
//! signal is only ever sent to a process group whose leader this runtime
//! started and has not reaped yet: until it is reaped, its pid cannot be
//! given to anyone else. [`LivePids`] is that set.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::env::Environment;
use super::error::KubeletError;

/// `PATH` of the official images.
const IMAGE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The pids a runtime started and has not reaped: the only ones it signals.
#[derive(Clone, Debug, Default)]
pub struct LivePids(Arc<Mutex<BTreeSet<u32>>>);

impl LivePids {
    /// Whether `pid` is one of ours and not reaped.
    pub fn contains(&self, pid: u32) -> bool {
        lock(&self.0).contains(&pid)
    }

    /// Every unreaped pid.
    pub fn all(&self) -> Vec<u32> {
        lock(&self.0).iter().copied().collect()
    }

    /// Sends `signal` to `pid`'s process group if it is one of ours;
    /// whether it was.
    pub fn signal(&self, pid: u32, signal: Signal) -> bool {
        self.contains(pid) && signal_group(pid, signal)
    }

    /// Sends `signal` to every process group of ours.
    pub fn signal_all(&self, signal: Signal) {
        for pid in self.all() {
            signal_group(pid, signal);
        }
    }

    fn insert(&self, pid: u32) {
        lock(&self.0).insert(pid);
    }

    fn remove(&self, pid: u32) -> bool {
        lock(&self.0).remove(&pid)
    }
}

/// A started process; waiting for it reaps it, dropping it kills its group.
#[derive(Debug)]
pub struct Process {
    pid: u32,
    child: Child,
    live: LivePids,
}

impl Process {
    /// Its pid, which is also its process group.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal` to its process group, unless it was reaped.
    pub fn signal(&self, signal: Signal) {
        self.live.signal(self.pid, signal);
    }

    /// Waits for it to exit.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await;
        if status.is_ok() {
            self.live.remove(self.pid);
        }
        status
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        let status = self.child.try_wait();
        if let Ok(Some(_)) = status {
            self.live.remove(self.pid);
        }
        status
    }
}

impl Drop for Process {
    /// An abandoned process does not outlive its handle, nor does its group.
    fn drop(&mut self) {
        if self.live.contains(self.pid) {
            signal_group(self.pid, Signal::SIGKILL);
            self.live.remove(self.pid);
        }
    }
}

/// Sends `signal` to the process group led by `pid`; whether it was there.
/// Only for pids known to be ours (see [`LivePids`]).
pub fn signal_group(pid: u32, signal: Signal) -> bool {
    match i32::try_from(pid) {
        Ok(raw) if raw > 0 => killpg(Pid::from_raw(raw), signal).is_ok(),
        _ => false,
    }
}

/// Whether process `pid` exists (a zombie counts: it has not been reaped).
pub fn is_alive(pid: u32) -> bool {
    match i32::try_from(pid) {
        Ok(raw) if raw > 0 => !matches!(kill(Pid::from_raw(raw), None), Err(Errno::ESRCH)),
        _ => false,
    }
}

/// The environment of a container's processes: the image's `PATH` and
/// `HOSTNAME`, then the container's env (which may override them).
pub fn process_environment(environment: &Environment, hostname: &str) -> Vec<(String, String)> {
    let mut variables = Environment::default();
    variables.set("PATH", IMAGE_PATH.to_owned());
    variables.set("HOSTNAME", hostname.to_owned());
    for (name, value) in environment.variables() {
        variables.set(name, value.clone());
    }
    variables.variables().to_vec()
}

/// Starts the processes of one container.
pub struct Spawner {
    /// The `ip` program.
    pub(crate) ip: PathBuf,
    /// The Pod's network namespace.
    pub(crate) netns: String,
    /// See [`process_environment`].
    pub(crate) environment: Vec<(String, String)>,
    /// Working directory.
    pub(crate) cwd: PathBuf,
    /// The container's log file.
    pub(crate) log: PathBuf,
    /// Set when the Pod is being stopped.
    pub(crate) stopping: Arc<AtomicBool>,
    /// The runtime's unreaped pids.
    pub(crate) live: LivePids,
    /// Learns every new pid.
    pub(crate) on_spawn: Box<dyn Fn(u32) + Send + Sync>,
}

impl Spawner {
    /// Whether the Pod is being stopped: start nothing new.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Starts `program args` in the Pod's namespace, in a new process group.
    pub fn spawn(&self, program: &Path, args: &[OsString]) -> Result<Process, KubeletError> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(KubeletError::io("cannot open", &self.log))?;
        let log_err = log
            .try_clone()
            .map_err(KubeletError::io("cannot open", &self.log))?;
        let child = Command::new(&self.ip)
            .arg("netns")
            .arg("exec")
            .arg(&self.netns)
            .arg(program)
            .args(args)
            .env_clear()
            .envs(self.environment.iter().map(|(name, value)| (name, value)))
            .current_dir(&self.cwd)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| KubeletError::Command {
                command: format!("ip netns exec {} {}", self.netns, program.display()),
                message: format!("cannot start: {error}"),
            })?;
        let pid = child.id().ok_or_else(|| KubeletError::Command {
            command: format!("ip netns exec {} {}", self.netns, program.display()),
            message: "exited before its pid could be read".to_owned(),
        })?;
        self.live.insert(pid);
        (self.on_spawn)(pid);
        Ok(Process {
            pid,
            child,
            live: self.live.clone(),
        })
    }
}
