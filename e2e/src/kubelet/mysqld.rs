//! The `mysqld` container: what the official `mariadb` (and `mysql`) image's
//! entrypoint does, done with the machine's `mariadbd`.
//!
//! An image named `mysql` runs MariaDB too: MySQL 8 cannot be installed on the
//! machines the sandbox runs on, and drmysql detects the flavor at run time,
//! so the MySQL dialect is covered by the replication engine's unit tests
//! instead.
//!
//! The server reads a composed defaults file: the image's own settings with
//! container paths replaced by the Pod's directories on this machine
//! (`datadir` is the claim's directory, socket, pid file and error log sit in
//! the container's run directory), `user=root` because the sandbox runs as
//! root, then `!includedir` of the directory backing `/etc/mysql/conf.d`, so
//! the ConfigMap's `drmysql.cnf` (port 3306, `server_id`, binary log,
//! `read_only`) has the last word, as in the image. A few sizing options come
//! first so that many servers fit one small machine; the ConfigMap overrides
//! them too.
//!
//! First start, as the image's entrypoint: a data directory without a
//! `mysql` schema is initialised, once. A copy of the shared template
//! (`mariadb-install-db`, see `drmysql_mysql::testing::template_data_dir`) is
//! booted with `--skip-networking` and an init file that keeps
//! `root@localhost` (password or unix socket), creates `root@MARIADB_ROOT_HOST`
//! with `MARIADB_ROOT_PASSWORD` (or the `MYSQL_` names), and the optional
//! database and user, all with the binary log off so that no GTID is spent;
//! it is shut down cleanly and moved into place with the `mysql` schema last,
//! so an interrupted initialisation is simply redone. A data directory that
//! is already initialised is used as it is, whatever the env says. As with
//! the image, the container is running (not yet started: its startup probe
//! fails) while it initialises, and a failed initialisation is the container
//! exiting with status 1.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use drmysql_mysql::escape::{account, identifier, string_literal};
use nix::sys::signal::Signal;
use tokio::io::AsyncReadExt;

use super::command::{require, run};
use super::env::Environment;
use super::error::KubeletError;
use super::process::Spawner;

/// Where the image keeps its data directory.
pub const CONTAINER_DATADIR: &str = "/var/lib/mysql";
/// Where the image reads extra configuration from.
pub const CONTAINER_CONF_D: &str = "/etc/mysql/conf.d";
/// Bound on initialising a data directory.
const INIT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a container image becomes in the sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// `mariadb` or `mysql`: a `mariadbd`.
    Mysqld,
    /// `drmysql`: the drmysql binary.
    Drmysql,
    /// Anything else: not runnable here.
    Other,
}

impl ImageKind {
    /// The kind of `image` (`[registry/]path/name[:tag][@digest]`), by the
    /// last component of its repository.
    pub fn of(image: &str) -> Self {
        let without_digest = image.split('@').next().unwrap_or_default();
        let last = without_digest.rsplit('/').next().unwrap_or_default();
        let name = last.split(':').next().unwrap_or_default();
        match name {
            "mariadb" | "mysql" => Self::Mysqld,
            "drmysql" => Self::Drmysql,
            _ => Self::Other,
        }
    }
}

/// Host paths of one mysqld container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MysqldPaths {
    /// The data directory (a claim's directory, normally).
    pub datadir: PathBuf,
    /// The container's run directory.
    pub run: PathBuf,
    /// The directory backing `/etc/mysql/conf.d`, if one is mounted.
    pub conf_d: Option<PathBuf>,
}

impl MysqldPaths {
    /// The composed defaults file.
    pub fn defaults_file(&self) -> PathBuf {
        self.run.join("my.cnf")
    }

    /// The server's unix socket.
    pub fn socket(&self) -> PathBuf {
        self.run.join("mysqld.sock")
    }

    /// The server's error log.
    pub fn error_log(&self) -> PathBuf {
        self.run.join("mysqld.err")
    }

    /// Where a new data directory is prepared before it is moved into place:
    /// beside it, on the same filesystem, never inside it.
    pub fn staging(&self) -> PathBuf {
        let name = self
            .datadir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.datadir.with_file_name(format!(".{name}.initialising"))
    }
}

/// The defaults file of a server with `paths`.
pub fn defaults_file(paths: &MysqldPaths) -> String {
    let mut lines = vec![
        "# Composed by the drmysql e2e sandbox's kubelet: the image's settings with".to_owned(),
        "# container paths mapped to this machine, then the Pod's conf.d.".to_owned(),
        "[mysqld]".to_owned(),
        "user = root".to_owned(),
        format!("datadir = {}", paths.datadir.display()),
        format!("socket = {}", paths.socket().display()),
        format!("pid-file = {}", paths.run.join("mysqld.pid").display()),
        format!("log-error = {}", paths.error_log().display()),
        "bind-address = 0.0.0.0".to_owned(),
        "# Sandbox sizing (many servers on one small machine); conf.d may override.".to_owned(),
        "innodb_buffer_pool_size = 32M".to_owned(),
        "innodb_log_file_size = 8M".to_owned(),
        "performance_schema = OFF".to_owned(),
        "max_connections = 200".to_owned(),
    ];
    if let Some(conf_d) = &paths.conf_d {
        lines.push(format!("!includedir {}", conf_d.display()));
    }
    lines.join("\n") + "\n"
}

fn first<'a>(environment: &'a Environment, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| environment.get(name))
}

/// The init file of a new data directory, from the container's env, as the
/// image's entrypoint would run it; an error (the image's refusal) when no
/// root password is given and an empty one is not allowed.
pub fn init_sql(environment: &Environment) -> Result<String, String> {
    let password = match first(environment, &["MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD"]) {
        Some(password) => password,
        None if first(
            environment,
            &["MARIADB_ALLOW_EMPTY_ROOT_PASSWORD", "MYSQL_ALLOW_EMPTY_PASSWORD"],
        )
        .is_some_and(|value| !value.is_empty()) =>
        {
            ""
        }
        None => {
            return Err("Database is uninitialized and password option is not specified: \
                 set one of MARIADB_ROOT_PASSWORD or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD"
                .to_owned());
        }
    };
    let host = first(environment, &["MARIADB_ROOT_HOST", "MYSQL_ROOT_HOST"]).unwrap_or("%");
    let password = string_literal(password);
    let mut statements = vec![
        "SET sql_log_bin = 0".to_owned(),
        "DELETE FROM mysql.global_priv WHERE user NOT IN ('mariadb.sys', 'root') OR host NOT IN ('localhost')"
            .to_owned(),
        "FLUSH PRIVILEGES".to_owned(),
        format!(
            "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD({password}) OR unix_socket"
        ),
    ];
    if host != "localhost" {
        let root = account("root", host);
        statements.push(format!("CREATE USER {root} IDENTIFIED BY {password}"));
        statements.push(format!("GRANT ALL PRIVILEGES ON *.* TO {root} WITH GRANT OPTION"));
    }
    let database =
        first(environment, &["MARIADB_DATABASE", "MYSQL_DATABASE"]).filter(|name| !name.is_empty());
    if let Some(database) = database {
        statements.push(format!("CREATE DATABASE IF NOT EXISTS {}", identifier(database)));
    }
    let user = first(environment, &["MARIADB_USER", "MYSQL_USER"]).filter(|name| !name.is_empty());
    if let Some(user) = user {
        let user_password = first(environment, &["MARIADB_PASSWORD", "MYSQL_PASSWORD"]).unwrap_or_default();
        let user = account(user, "%");
        statements.push(format!(
            "CREATE USER {user} IDENTIFIED BY {}",
            string_literal(user_password)
        ));
        if let Some(database) = database {
            statements.push(format!("GRANT ALL ON {}.* TO {user}", identifier(database)));
        }
    }
    Ok(statements.join(";\n") + ";\n")
}

/// Whether `datadir` holds an initialised server (its `mysql` schema).
pub fn is_initialised(datadir: &Path) -> bool {
    datadir.join("mysql").is_dir()
}

/// The `mariadbd` program.
pub fn mariadbd() -> Result<PathBuf, KubeletError> {
    require("mariadbd", "mariadb-server")
}

/// Arguments of the container's server.
pub fn server_args(paths: &MysqldPaths, extra: &[String]) -> Vec<OsString> {
    let mut args = vec![OsString::from(format!(
        "--defaults-file={}",
        paths.defaults_file().display()
    ))];
    args.extend(extra.iter().map(OsString::from));
    args
}

/// How initialisation ended.
#[derive(Debug)]
pub enum InitOutcome {
    /// The data directory is ready.
    Done,
    /// The temporary server died (a `kill -9` of the container).
    Exited(ExitStatus),
    /// The Pod is being stopped.
    Stopped,
}

/// Initialises `paths.datadir` unless it already is (see the module doc).
pub async fn initialise(
    paths: &MysqldPaths,
    environment: &Environment,
    spawner: &Spawner,
) -> Result<InitOutcome, KubeletError> {
    if is_initialised(&paths.datadir) {
        return Ok(InitOutcome::Done);
    }
    let sql = init_sql(environment).map_err(KubeletError::Mysqld)?;
    let template = drmysql_mysql::testing::template_data_dir()
        .await
        .map_err(|error| KubeletError::Mysqld(error.to_string()))?;
    let staging = paths.staging();
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(KubeletError::io("cannot remove", &staging))?;
    }
    let cp = require("cp", "coreutils")?;
    let (from, to) = (template.display().to_string(), staging.display().to_string());
    tokio::task::spawn_blocking(move || run(&cp, &["-a", "--reflink=auto", &from, &to], INIT_TIMEOUT))
        .await
        .map_err(|error| KubeletError::Mysqld(format!("copying the template failed: {error}")))??;
    let init_file = paths.run.join("init.sql");
    fs::write(&init_file, sql).map_err(KubeletError::io("cannot write", &init_file))?;
    fs::set_permissions(&init_file, fs::Permissions::from_mode(0o600))
        .map_err(KubeletError::io("cannot protect", &init_file))?;
    let socket = paths.run.join("init.sock");
    let args: Vec<OsString> = [
        "--no-defaults".to_owned(),
        "--user=root".to_owned(),
        format!("--datadir={}", staging.display()),
        "--skip-networking".to_owned(),
        "--skip-log-bin".to_owned(),
        "--innodb-log-file-size=8M".to_owned(),
        "--innodb-buffer-pool-size=32M".to_owned(),
        format!("--socket={}", socket.display()),
        format!("--pid-file={}", paths.run.join("init.pid").display()),
        format!("--log-error={}", paths.run.join("init.err").display()),
        format!("--init-file={}", init_file.display()),
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    let outcome = boot_once(&args, &socket, &paths.run.join("init.err"), spawner).await;
    let _ = fs::remove_file(&init_file);
    match outcome? {
        InitOutcome::Done => {}
        other => return Ok(other),
    }
    adopt(&staging, &paths.datadir)?;
    Ok(InitOutcome::Done)
}

/// Starts the temporary server, waits until it has run its init file (it
/// greets on its socket only then), and shuts it down cleanly.
async fn boot_once(
    args: &[OsString],
    socket: &Path,
    log: &Path,
    spawner: &Spawner,
) -> Result<InitOutcome, KubeletError> {
    if spawner.stopping() {
        return Ok(InitOutcome::Stopped);
    }
    let mut child = spawner.spawn(&mariadbd()?, args)?;
    let deadline = Instant::now() + INIT_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().map_err(|error| {
            KubeletError::Mysqld(format!("cannot wait for the initialising server: {error}"))
        })? {
            if spawner.stopping() {
                return Ok(InitOutcome::Stopped);
            }
            // Killed by a signal: the container died (`kill -9`). Exited by
            // itself: the initialisation failed, and its log says why.
            if status.signal().is_some() {
                return Ok(InitOutcome::Exited(status));
            }
            return Err(KubeletError::Mysqld(format!(
                "the initialising server exited with {status}; its log ends with:\n{}",
                log_tail(log)
            )));
        }
        if greets(socket).await {
            break;
        }
        if Instant::now() > deadline {
            child.signal(Signal::SIGKILL);
            let _ = child.wait().await;
            return Err(KubeletError::Mysqld(format!(
                "the initialising server did not come up within {INIT_TIMEOUT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.signal(Signal::SIGTERM);
    let status = match tokio::time::timeout(INIT_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) => status,
        _ => {
            child.signal(Signal::SIGKILL);
            let _ = child.wait().await;
            return Err(KubeletError::Mysqld(
                "the initialising server did not shut down".to_owned(),
            ));
        }
    };
    if spawner.stopping() {
        return Ok(InitOutcome::Stopped);
    }
    if status.success() {
        Ok(InitOutcome::Done)
    } else {
        Ok(InitOutcome::Exited(status))
    }
}

/// The last lines of a server's error log.
pub fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// Whether a server answers on `socket` with its greeting.
async fn greets(socket: &Path) -> bool {
    let Ok(Ok(mut stream)) =
        tokio::time::timeout(Duration::from_secs(1), tokio::net::UnixStream::connect(socket)).await
    else {
        return false;
    };
    let mut header = [0_u8; 4];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut header)).await,
        Ok(Ok(_))
    )
}

/// Moves the prepared data directory's entries into `datadir`, the `mysql`
/// schema last, then removes the staging directory.
fn adopt(staging: &Path, datadir: &Path) -> Result<(), KubeletError> {
    fs::create_dir_all(datadir).map_err(KubeletError::io("cannot create", datadir))?;
    let mut entries: Vec<PathBuf> = fs::read_dir(staging)
        .map_err(KubeletError::io("cannot list", staging))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    entries.sort_by_key(|path| path.file_name().is_some_and(|name| name == "mysql"));
    for entry in entries {
        let Some(name) = entry.file_name() else {
            continue;
        };
        let target = datadir.join(name);
        // Left over from an initialisation that was interrupted while moving.
        if target.is_dir() {
            fs::remove_dir_all(&target).map_err(KubeletError::io("cannot remove", &target))?;
        } else if target.exists() {
            fs::remove_file(&target).map_err(KubeletError::io("cannot remove", &target))?;
        }
        fs::rename(&entry, &target).map_err(KubeletError::io("cannot move into place", &entry))?;
    }
    fs::remove_dir(staging).map_err(KubeletError::io("cannot remove", staging))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(pairs: &[(&str, &str)]) -> Environment {
        let mut environment = Environment::default();
        for (name, value) in pairs {
            environment.set(name, (*value).to_owned());
        }
        environment
    }

    #[test]
    fn images_are_classified_by_repository_name() {
        assert_eq!(ImageKind::of("mariadb:11.4"), ImageKind::Mysqld);
        assert_eq!(ImageKind::of("library/mysql:8.4"), ImageKind::Mysqld);
        assert_eq!(
            ImageKind::of("registry:5000/team/drmysql:0.1.0"),
            ImageKind::Drmysql
        );
        assert_eq!(ImageKind::of("drmysql@sha256:abc"), ImageKind::Drmysql);
        assert_eq!(ImageKind::of("mysql-exporter:1"), ImageKind::Other);
        assert_eq!(ImageKind::of("busybox"), ImageKind::Other);
    }

    #[test]
    fn the_pods_conf_d_comes_after_the_mapped_paths() {
        let paths = MysqldPaths {
            datadir: PathBuf::from("/s/pvc/shop/orders-0-data"),
            run: PathBuf::from("/s/pods/shop_orders-0/run/mysqld"),
            conf_d: Some(PathBuf::from("/s/pods/shop_orders-0/volumes/config")),
        };
        let file = defaults_file(&paths);
        let lines: Vec<&str> = file.lines().collect();
        assert!(lines.contains(&"datadir = /s/pvc/shop/orders-0-data"));
        assert!(lines.contains(&"socket = /s/pods/shop_orders-0/run/mysqld/mysqld.sock"));
        assert!(lines.contains(&"bind-address = 0.0.0.0"));
        assert!(lines.contains(&"user = root"));
        assert_eq!(
            lines.last(),
            Some(&"!includedir /s/pods/shop_orders-0/volumes/config")
        );
        assert_eq!(
            paths.staging(),
            PathBuf::from("/s/pvc/shop/.orders-0-data.initialising")
        );
        let bare = MysqldPaths {
            conf_d: None,
            ..paths
        };
        assert!(!defaults_file(&bare).contains("includedir"));
    }

    #[test]
    fn init_sql_follows_the_images_entrypoint() {
        let sql = init_sql(&environment(&[
            ("MYSQL_ROOT_PASSWORD", "ignored"),
            ("MARIADB_ROOT_PASSWORD", "p'w"),
            ("MARIADB_ROOT_HOST", "%"),
        ]))
        .expect("password given");
        let lines: Vec<&str> = sql.lines().collect();
        assert_eq!(lines[0], "SET sql_log_bin = 0;");
        assert!(lines.contains(
            &"ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('p''w') OR unix_socket;"
        ));
        assert!(lines.contains(&"CREATE USER 'root'@'%' IDENTIFIED BY 'p''w';"));
        assert!(lines.contains(&"GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;"));
        assert!(!sql.contains("ignored"), "MARIADB_ names win over MYSQL_ names");

        let local_only = init_sql(&environment(&[
            ("MYSQL_ROOT_PASSWORD", "x"),
            ("MYSQL_ROOT_HOST", "localhost"),
        ]))
        .expect("password given");
        assert!(!local_only.contains("CREATE USER 'root'"));

        let with_user = init_sql(&environment(&[
            ("MARIADB_ROOT_PASSWORD", "x"),
            ("MARIADB_DATABASE", "shop"),
            ("MARIADB_USER", "app"),
            ("MARIADB_PASSWORD", "y"),
        ]))
        .expect("password given");
        assert!(with_user.contains("CREATE DATABASE IF NOT EXISTS `shop`;"));
        assert!(with_user.contains("GRANT ALL ON `shop`.* TO 'app'@'%';"));

        let error = init_sql(&environment(&[])).expect_err("no password");
        assert!(error.contains("MARIADB_ROOT_PASSWORD"), "{error}");
        assert!(init_sql(&environment(&[("MARIADB_ALLOW_EMPTY_ROOT_PASSWORD", "yes")])).is_ok());
    }

    #[test]
    fn adopting_moves_everything_and_replaces_leftovers() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let staging = scratch.path().join(".data.initialising");
        let datadir = scratch.path().join("data");
        fs::create_dir_all(staging.join("mysql")).expect("mysql");
        fs::create_dir_all(staging.join("sys")).expect("sys");
        fs::write(staging.join("ibdata1"), "new").expect("ibdata1");
        fs::create_dir_all(datadir.join("sys")).expect("leftover");
        fs::write(datadir.join("ibdata1"), "old").expect("leftover");
        assert!(!is_initialised(&datadir));
        adopt(&staging, &datadir).expect("adopted");
        assert!(is_initialised(&datadir));
        assert_eq!(fs::read_to_string(datadir.join("ibdata1")).expect("moved"), "new");
        assert!(!staging.exists());
    }
}
