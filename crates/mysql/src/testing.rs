//! Real `mariadbd` servers as plain processes, for tests, the e2e sandbox and
//! benchmarks (feature `testing`).
//!
//! A data directory is initialised once per process with `mariadb-install-db`
//! and an `init-file` that creates `root@'%'`; every server copies that
//! template, so starting one takes a fraction of a second. Each server gets its
//! own temporary directory, port, socket and `server_id`, is started with
//! `--defaults-file` (never the machine's my.cnf) and `--user=root`, and is
//! killed when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::OnceCell;

use crate::server::{Server, Target};

/// Password of `root@'%'` on every test server.
pub const ROOT_PASSWORD: &str = "drmysql-test-root";

/// A harness failure, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HarnessError(String);

fn fail<T>(message: impl Into<String>) -> Result<T, HarnessError> {
    Err(HarnessError(message.into()))
}

/// How to start one server.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// `server_id`, unique among the servers of a test.
    pub server_id: u32,
    /// `read_only` at boot, as drmysql starts every instance.
    pub read_only: bool,
    /// Address to listen on.
    pub bind_address: String,
    /// Port to listen on; a free one when `None`.
    pub port: Option<u16>,
    /// Extra `[mariadbd]` options, `name=value` or a bare flag.
    pub extra_options: Vec<String>,
}

impl ServerOptions {
    /// A writable server with `server_id` on 127.0.0.1.
    pub fn new(server_id: u32) -> Self {
        Self {
            server_id,
            read_only: false,
            bind_address: "127.0.0.1".to_owned(),
            port: None,
            extra_options: Vec::new(),
        }
    }
}

/// A running `mariadbd`.
#[derive(Debug)]
pub struct MariaDb {
    options: ServerOptions,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

static TEMPLATE: OnceCell<PathBuf> = OnceCell::const_new();

impl MariaDb {
    /// Starts a server from the shared template and waits until it accepts
    /// `root` logins.
    pub async fn start(options: ServerOptions) -> Result<Self, HarnessError> {
        let template = template_data_dir().await?;
        let dir = tempfile::Builder::new()
            .prefix("drmysql-mariadb-")
            .tempdir()
            .or_else(|error| fail(format!("cannot create a temporary directory: {error}")))?;
        copy_dir(template, &dir.path().join("data")).await?;
        let port = match options.port {
            Some(port) => port,
            None => free_port(&options.bind_address)?,
        };
        let mut server = Self {
            options,
            port,
            dir,
            child: None,
        };
        server.write_config()?;
        server.spawn().await?;
        Ok(server)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its `server_id`.
    pub fn server_id(&self) -> u32 {
        self.options.server_id
    }

    /// `root` on this server.
    pub fn root(&self) -> Target {
        Target::new(
            self.options.bind_address.clone(),
            self.port,
            "root",
            ROOT_PASSWORD,
        )
    }

    /// Connects as `root` with a 5 s bound.
    pub async fn connect(&self) -> Result<Server, HarnessError> {
        Server::connect(&self.root(), Duration::from_secs(5))
            .await
            .or_else(|error| fail(format!("cannot connect to test server {}: {error}", self.port)))
    }

    /// A plain `mysql_async` connection as `root`, for test fixtures (tables,
    /// rows, locks) that are not drmysql's own SQL.
    pub async fn client(&self) -> Result<mysql_async::Conn, HarnessError> {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(self.options.bind_address.clone())
            .tcp_port(self.port)
            .user(Some("root"))
            .pass(Some(ROOT_PASSWORD))
            .prefer_socket(false);
        match tokio::time::timeout(Duration::from_secs(5), mysql_async::Conn::new(opts)).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(error)) => fail(format!(
                "cannot open a client on test server {}: {error}",
                self.port
            )),
            Err(_) => fail(format!("opening a client on test server {} timed out", self.port)),
        }
    }

    /// `kill -9`: the server dies without a chance to flush or say goodbye.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Stops the server cleanly (SIGTERM) and waits for it to exit.
    pub async fn stop(&mut self) -> Result<(), HarnessError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(pid) = child.id() {
            let status = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
            if !status.is_ok_and(|status| status.success()) {
                let _ = child.start_kill();
            }
        }
        match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
            Ok(_) => Ok(()),
            Err(_) => {
                let _ = child.start_kill();
                fail(format!("test server {} did not stop within 30 s", self.port))
            }
        }
    }

    /// Starts the server again on the same data, port and options, optionally
    /// changing whether it boots read-only.
    pub async fn restart(&mut self, read_only: bool) -> Result<(), HarnessError> {
        self.kill9().await;
        self.options.read_only = read_only;
        self.write_config()?;
        self.spawn().await
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("my.cnf")
    }

    fn write_config(&self) -> Result<(), HarnessError> {
        let dir = self.dir.path();
        let mut lines = vec![
            "[mariadbd]".to_owned(),
            format!("datadir={}", dir.join("data").display()),
            format!("port={}", self.port),
            format!("bind-address={}", self.options.bind_address),
            format!("socket={}", dir.join("mysqld.sock").display()),
            format!("pid-file={}", dir.join("mysqld.pid").display()),
            format!("log-error={}", dir.join("error.log").display()),
            format!("server-id={}", self.options.server_id),
            format!("log-bin={}", dir.join("data").join("binlog").display()),
            format!("relay-log={}", dir.join("data").join("relay").display()),
            "log-slave-updates=ON".to_owned(),
            "binlog-format=ROW".to_owned(),
            "gtid-strict-mode=ON".to_owned(),
            "skip-slave-start".to_owned(),
            "skip-name-resolve".to_owned(),
            format!("read-only={}", if self.options.read_only { "ON" } else { "OFF" }),
            "innodb-log-file-size=8M".to_owned(),
            "innodb-buffer-pool-size=32M".to_owned(),
            "innodb-flush-log-at-trx-commit=2".to_owned(),
            "sync-binlog=0".to_owned(),
            "performance-schema=OFF".to_owned(),
            "max-connections=200".to_owned(),
        ];
        lines.extend(self.options.extra_options.iter().cloned());
        std::fs::write(self.config_path(), lines.join("\n") + "\n")
            .or_else(|error| fail(format!("cannot write {}: {error}", self.config_path().display())))
    }

    async fn spawn(&mut self) -> Result<(), HarnessError> {
        let child = Command::new(mariadbd()?)
            .arg(format!("--defaults-file={}", self.config_path().display()))
            .arg("--user=root")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .or_else(|error| fail(format!("cannot start mariadbd: {error}")))?;
        self.child = Some(child);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last_error = String::new();
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return fail(format!(
                    "mariadbd on port {} exited with {status} before accepting connections; its log ends with:\n{}",
                    self.port,
                    self.log_tail()
                ));
            }
            match Server::connect(&self.root(), Duration::from_secs(2)).await {
                Ok(server) => {
                    server.close().await;
                    return Ok(());
                }
                Err(error) => last_error = error.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        fail(format!(
            "mariadbd on port {} did not accept connections within 30 s (last error: {last_error}); log:\n{}",
            self.port,
            self.log_tail()
        ))
    }

    /// The last lines of the server's error log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// The template data directory every server copies, initialised on the first
/// call in this process: `mariadb-install-db`, then one start with an
/// `init-file` that creates `root@'%'` with [`ROOT_PASSWORD`] and drops the
/// password-less `root@127.0.0.1` and `root@::1`. `root@localhost` keeps its
/// empty password. For harnesses that lay out their own servers, such as the
/// e2e sandbox's simulated kubelet: copy it, never start a server on it.
pub async fn template_data_dir() -> Result<&'static Path, HarnessError> {
    TEMPLATE
        .get_or_try_init(build_template)
        .await
        .map(PathBuf::as_path)
}

fn mariadbd() -> Result<PathBuf, HarnessError> {
    find_program("mariadbd", &["/usr/sbin/mariadbd", "/usr/bin/mariadbd"])
}

fn find_program(name: &str, fallbacks: &[&str]) -> Result<PathBuf, HarnessError> {
    let from_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name));
    from_path
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|candidate| candidate.is_file())
        .map_or_else(
            || {
                fail(format!(
                    "{name} is not installed: the MariaDB tests need the Debian package mariadb-server \
                     (scripts/install-deps installs it)"
                ))
            },
            Ok,
        )
}

async fn build_template() -> Result<PathBuf, HarnessError> {
    let root = tempfile::Builder::new()
        .prefix("drmysql-mariadb-template-")
        .tempdir()
        .or_else(|error| fail(format!("cannot create the template directory: {error}")))?
        .keep();
    let data = root.join("data");
    let install = find_program("mariadb-install-db", &["/usr/bin/mariadb-install-db"])?;
    let output = Command::new(install)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg("--user=root")
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .output()
        .await
        .or_else(|error| fail(format!("cannot run mariadb-install-db: {error}")))?;
    if !output.status.success() {
        return fail(format!(
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr)
        ));
    }
    let init = root.join("init.sql");
    std::fs::write(
        &init,
        format!(
            "SET sql_log_bin = 0;\nCREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '{ROOT_PASSWORD}';\n\
             GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;\n\
             DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';\n"
        ),
    )
    .or_else(|error| fail(format!("cannot write {}: {error}", init.display())))?;
    // One start with the init file creates root@'%' (dropping the password-less
    // root@127.0.0.1 and root@::1, which would match first) and shrinks the redo log;
    // then a clean shutdown leaves a template every server can copy.
    let port = free_port("127.0.0.1")?;
    let mut child = Command::new(mariadbd()?)
        .arg("--no-defaults")
        .arg("--user=root")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--skip-name-resolve")
        .arg(format!("--socket={}", root.join("template.sock").display()))
        .arg(format!("--pid-file={}", root.join("template.pid").display()))
        .arg(format!("--log-error={}", root.join("template.log").display()))
        .arg(format!("--init-file={}", init.display()))
        .arg("--innodb-log-file-size=8M")
        .arg("--skip-log-bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .or_else(|error| fail(format!("cannot start mariadbd for the template: {error}")))?;
    let target = Target::new("127.0.0.1", port, "root", ROOT_PASSWORD);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(server) = Server::connect(&target, Duration::from_secs(2)).await {
            server.close().await;
            break;
        }
        if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
            let log = std::fs::read_to_string(root.join("template.log")).unwrap_or_default();
            return fail(format!("the template server did not come up; its log:\n{log}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await;
    }
    match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(data),
        other => fail(format!(
            "the template server did not shut down cleanly: {other:?}"
        )),
    }
}

async fn copy_dir(from: &Path, to: &Path) -> Result<(), HarnessError> {
    let status = Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg(from)
        .arg(to)
        .status()
        .await
        .or_else(|error| fail(format!("cannot run cp: {error}")))?;
    if status.success() {
        Ok(())
    } else {
        fail(format!(
            "cp {} {} failed with {status}",
            from.display(),
            to.display()
        ))
    }
}

/// A port that was free a moment ago on `address`.
fn free_port(address: &str) -> Result<u16, HarnessError> {
    std::net::TcpListener::bind((address, 0))
        .and_then(|listener| listener.local_addr())
        .map(|local| local.port())
        .or_else(|error| fail(format!("cannot find a free port on {address}: {error}")))
}
