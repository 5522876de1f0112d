//! What process a container becomes, decided from the Pod alone: its image
//! picks the program (`mariadb`/`mysql` → `mariadbd`, `drmysql` → the drmysql
//! binary), its env is resolved, `$(VAR)` in its command and args expanded,
//! and the container paths the program really reads are rewritten to the
//! host paths of their volumes.
//!
//! Those paths are few, and handled one by one rather than by guessing at
//! every string: mysqld's data directory and `conf.d` (see [`super::mysqld`]),
//! and the sidecar's downward-API directory, which `drmysql sidecar` takes
//! from `--podinfo` or `DRMYSQL_PODINFO` (default `/etc/drmysql/podinfo`).
//! A path that no volume of the container backs is an error, not a silent
//! fallback to the host's own file.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Container;

use super::env::{Environment, resolve};
use super::error::KubeletError;
use super::fieldpath::PodFacts;
use super::mysqld::{CONTAINER_CONF_D, CONTAINER_DATADIR, ImageKind, MysqldPaths};
use super::objects::PodObjects;
use super::volumes::{MountMap, PodDirs};

/// The sidecar's podinfo flag and variable, and its default.
const PODINFO_FLAG: &str = "--podinfo";
const PODINFO_ENV: &str = "DRMYSQL_PODINFO";
const PODINFO_DEFAULT: &str = "/etc/drmysql/podinfo";

/// How to start a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Launch {
    /// A `mariadbd` with a composed defaults file.
    Mysqld {
        /// Its host paths.
        paths: MysqldPaths,
        /// Extra server options from the container's args.
        extra_args: Vec<String>,
        /// The container's env (the init file reads the root password).
        environment: Environment,
    },
    /// A program with arguments.
    Program {
        /// The program.
        program: PathBuf,
        /// Its arguments.
        args: Vec<OsString>,
        /// The container's env, paths rewritten.
        environment: Environment,
    },
}

/// Everything [`prepare`] reads.
#[derive(Clone, Copy, Debug)]
pub struct LaunchInputs<'a> {
    /// The Pod and where it runs.
    pub facts: PodFacts<'a>,
    /// Its Secrets, ConfigMaps and claims.
    pub objects: &'a PodObjects,
    /// Its container paths.
    pub mounts: &'a MountMap,
    /// Its directories.
    pub dirs: &'a PodDirs,
    /// The drmysql binary.
    pub drmysql_binary: &'a Path,
}

fn create_error(container: &Container, message: String) -> KubeletError {
    KubeletError::ContainerCreate {
        container: container.name.clone(),
        message,
    }
}

/// Decides how `container` starts.
pub fn prepare(container: &Container, inputs: &LaunchInputs<'_>) -> Result<Launch, KubeletError> {
    let environment = resolve(container, &inputs.facts, inputs.objects).map_err(|message| {
        KubeletError::ContainerConfig {
            container: container.name.clone(),
            message,
        }
    })?;
    let image = container.image.as_deref().unwrap_or_default();
    let expand = |values: &Option<Vec<String>>| -> Vec<String> {
        values
            .iter()
            .flatten()
            .map(|value| environment.expand(value))
            .collect()
    };
    let (command, args) = (expand(&container.command), expand(&container.args));
    match ImageKind::of(image) {
        ImageKind::Mysqld => mysqld(container, inputs, environment, &command, args),
        ImageKind::Drmysql => drmysql(container, inputs, environment, &command, args),
        ImageKind::Other => Err(create_error(
            container,
            format!(
                "image {image:?} cannot run in the sandbox, which runs only mariadb, mysql (as MariaDB) and drmysql images"
            ),
        )),
    }
}

fn mysqld(
    container: &Container,
    inputs: &LaunchInputs<'_>,
    environment: Environment,
    command: &[String],
    args: Vec<String>,
) -> Result<Launch, KubeletError> {
    if !command.is_empty() {
        return Err(create_error(
            container,
            "a command replacing the database image's entrypoint cannot run in the sandbox".to_owned(),
        ));
    }
    // The image's entrypoint passes options through to the server, and also
    // accepts the server's name first.
    let options: Vec<String> = match args.first().map(String::as_str) {
        Some("mariadbd" | "mysqld") => args[1..].to_vec(),
        _ => args,
    };
    if let Some(other) = options.iter().find(|arg| !arg.starts_with('-')) {
        return Err(create_error(
            container,
            format!("argument {other:?} is not a server option; the sandbox runs the image's server only"),
        ));
    }
    let host = |path: &str| inputs.mounts.host_path(&container.name, Path::new(path));
    let datadir = match host(CONTAINER_DATADIR) {
        Some(path) => path,
        // No volume: the container's own writable layer, lost with the Pod.
        None => inputs.dirs.run(&container.name).join("datadir"),
    };
    let conf_d = host(CONTAINER_CONF_D);
    let paths = MysqldPaths {
        datadir,
        run: inputs.dirs.run(&container.name),
        conf_d,
    };
    let socket = paths.socket();
    if socket.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(KubeletError::Pod(format!(
            "the mysqld socket {} is {} bytes long, more than the {MAX_SOCKET_PATH} a unix socket address holds \
             (mariadbd would exit at start); give the node a shorter pods directory",
            socket.display(),
            socket.as_os_str().len()
        )));
    }
    Ok(Launch::Mysqld {
        paths,
        extra_args: options,
        environment,
    })
}

/// The longest path a unix socket address holds (`sun_path` is 108 bytes,
/// the last one the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

fn drmysql(
    container: &Container,
    inputs: &LaunchInputs<'_>,
    mut environment: Environment,
    command: &[String],
    args: Vec<String>,
) -> Result<Launch, KubeletError> {
    // The image's entrypoint is the binary; a command must name it.
    let mut argv: Vec<String> = match command.split_first() {
        None => args,
        Some((program, rest))
            if Path::new(program)
                .file_name()
                .is_some_and(|name| name == "drmysql") =>
        {
            rest.iter().cloned().chain(args).collect()
        }
        Some((program, _)) => {
            return Err(create_error(
                container,
                format!(
                    "command {program:?} is not the drmysql binary; the sandbox runs only drmysql from this image"
                ),
            ));
        }
    };
    if argv.first().map(String::as_str) == Some("sidecar") {
        rewrite_podinfo(container, inputs.mounts, &mut environment, &mut argv)?;
    }
    Ok(Launch::Program {
        program: inputs.drmysql_binary.to_path_buf(),
        args: argv.into_iter().map(OsString::from).collect(),
        environment,
    })
}

/// Points the sidecar's podinfo flag or variable at the host directory of
/// the volume that backs it.
fn rewrite_podinfo(
    container: &Container,
    mounts: &MountMap,
    environment: &mut Environment,
    argv: &mut [String],
) -> Result<(), KubeletError> {
    let to_host = |path: &str| {
        mounts
            .host_path(&container.name, Path::new(path))
            .map(|host| host.display().to_string())
            .ok_or_else(|| {
                create_error(
                    container,
                    format!(
                        "the sidecar reads its Pod labels from {path}, which no volume of the container backs"
                    ),
                )
            })
    };
    let mut flagged = false;
    let mut index = 0;
    while index < argv.len() {
        if argv[index] == PODINFO_FLAG && index + 1 < argv.len() {
            argv[index + 1] = to_host(&argv[index + 1])?;
            flagged = true;
            index += 1;
        } else if let Some(path) = argv[index].strip_prefix("--podinfo=") {
            argv[index] = format!("{PODINFO_FLAG}={}", to_host(path)?);
            flagged = true;
        }
        index += 1;
    }
    if !flagged {
        let path = environment.get(PODINFO_ENV).unwrap_or(PODINFO_DEFAULT).to_owned();
        environment.set(PODINFO_ENV, to_host(&path)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use drmysql_controller::build::{BuildContext, build};
    use k8s_openapi::api::core::v1::Pod;
    use std::net::{IpAddr, Ipv4Addr};

    fn desired() -> (Pod, PodObjects) {
        let drmysql = serde_json::from_value(serde_json::json!({
            "apiVersion": "drmysql.io/v1alpha1",
            "kind": "DRMySQL",
            "metadata": {"name": "orders", "namespace": "shop", "uid": "0f0e2c1a-0000-4000-8000-000000000001"},
            "spec": {
                "engine": {"image": "mariadb:10.11"},
                "primary": {"name": "a", "node": "n0"},
                "replicas": [{"name": "b", "node": "n1"}]
            }
        }))
        .expect("valid DRMySQL");
        let objects = build(
            &drmysql,
            &BuildContext {
                sidecar_image: "drmysql:e2e".to_owned(),
                current_primary: "orders-a".to_owned(),
                roles: Default::default(),
            },
        );
        let mut secrets = Vec::new();
        for (name, keys) in [
            (
                "orders-credentials",
                vec!["root-password", "replication-password", "heartbeat-password"],
            ),
            ("orders-sidecar", vec!["token"]),
        ] {
            let values = keys
                .iter()
                .map(|key| ((*key).to_owned(), format!("{key}-value")))
                .collect();
            secrets.push(drmysql_controller::build::credentials_secret(
                &drmysql, name, &values,
            ));
        }
        let pod = objects.pods[0].clone();
        (
            pod,
            PodObjects {
                secrets,
                config_maps: objects.config_maps,
                claims: objects.persistent_volume_claims,
            },
        )
    }

    fn launch(pod: &Pod, objects: &PodObjects, index: usize) -> Result<Launch, KubeletError> {
        launch_in(Path::new("/s/pods"), pod, objects, index)
    }

    fn launch_in(
        pods_dir: &Path,
        pod: &Pod,
        objects: &PodObjects,
        index: usize,
    ) -> Result<Launch, KubeletError> {
        let dirs = PodDirs::new(pods_dir, Path::new("/s/pvc"), pod).expect("dirs");
        let mounts = MountMap::for_pod(pod, &dirs, objects).expect("mounts");
        let inputs = LaunchInputs {
            facts: PodFacts {
                pod,
                node_name: "n0",
                pod_ip: IpAddr::V4(Ipv4Addr::new(10, 244, 0, 2)),
                host_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            },
            objects,
            mounts: &mounts,
            dirs: &dirs,
            drmysql_binary: Path::new("/bin/drmysql"),
        };
        let container = &pod.spec.as_ref().expect("spec").containers[index];
        prepare(container, &inputs)
    }

    #[test]
    fn the_controllers_mysqld_runs_on_its_claim_with_its_config() {
        let (pod, objects) = desired();
        let Launch::Mysqld {
            paths,
            extra_args,
            environment,
        } = launch(&pod, &objects, 0).expect("mysqld launches")
        else {
            panic!("mysqld expected");
        };
        assert_eq!(paths.datadir, PathBuf::from("/s/pvc/shop/orders-a-data"));
        assert_eq!(
            paths.conf_d,
            Some(PathBuf::from("/s/pods/shop_orders-a/volumes/config"))
        );
        assert_eq!(paths.run, PathBuf::from("/s/pods/shop_orders-a/run/mysqld"));
        assert!(extra_args.is_empty());
        assert_eq!(
            environment.get("MARIADB_ROOT_PASSWORD"),
            Some("root-password-value")
        );
        assert_eq!(environment.get("MARIADB_ROOT_HOST"), Some("%"));
    }

    #[test]
    fn a_socket_path_too_long_for_a_unix_address_is_refused_before_mariadbd_starts() {
        let (pod, objects) = desired();
        let deep = format!("/s/{}", "d".repeat(80));
        let error = launch_in(Path::new(&deep), &pod, &objects, 0).expect_err("refused");
        let message = error.to_string();
        assert!(
            message.contains("mysqld.sock") && message.contains("107"),
            "{message}"
        );
    }

    #[test]
    fn the_controllers_sidecar_reads_the_materialised_podinfo() {
        let (pod, objects) = desired();
        let Launch::Program {
            program,
            args,
            environment,
        } = launch(&pod, &objects, 1).expect("sidecar launches")
        else {
            panic!("a program expected");
        };
        assert_eq!(program, PathBuf::from("/bin/drmysql"));
        assert_eq!(args, [OsString::from("sidecar")]);
        assert_eq!(
            environment.get("DRMYSQL_PODINFO"),
            Some("/s/pods/shop_orders-a/volumes/podinfo")
        );
        assert_eq!(environment.get("POD_NAMESPACE"), Some("shop"));
        assert_eq!(environment.get("DRMYSQL_SIDECAR_TOKEN"), Some("token-value"));
        assert_eq!(
            environment.get("DRMYSQL_HEARTBEAT_PASSWORD"),
            Some("heartbeat-password-value")
        );
    }

    #[test]
    fn podinfo_flags_are_rewritten_and_unbacked_paths_refused() {
        let (mut pod, objects) = desired();
        let sidecar = &mut pod.spec.as_mut().expect("spec").containers[1];
        sidecar.args = Some(vec![
            "sidecar".to_owned(),
            "--podinfo".to_owned(),
            "/etc/drmysql/podinfo".to_owned(),
        ]);
        let Launch::Program { args, .. } = launch(&pod, &objects, 1).expect("launches") else {
            panic!("a program expected");
        };
        assert_eq!(args[2], OsString::from("/s/pods/shop_orders-a/volumes/podinfo"));
        let sidecar = &mut pod.spec.as_mut().expect("spec").containers[1];
        sidecar.args = Some(vec!["sidecar".to_owned(), "--podinfo=/elsewhere".to_owned()]);
        let error = launch(&pod, &objects, 1).expect_err("not backed");
        assert!(
            error.to_string().contains("/elsewhere, which no volume"),
            "{error}"
        );
    }

    #[test]
    fn missing_secret_keys_and_foreign_images_are_reported_as_the_kubelet_does() {
        let (pod, mut objects) = desired();
        objects.secrets[0]
            .data
            .as_mut()
            .expect("data")
            .remove("heartbeat-password");
        let error = launch(&pod, &objects, 1).expect_err("missing key");
        assert!(matches!(error, KubeletError::ContainerConfig { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("couldn't find key heartbeat-password in Secret shop/orders-credentials"),
            "{error}"
        );
        let (mut pod, objects) = desired();
        pod.spec.as_mut().expect("spec").containers[1].image = Some("busybox:1".to_owned());
        let error = launch(&pod, &objects, 1).expect_err("foreign image");
        assert!(matches!(error, KubeletError::ContainerCreate { .. }), "{error:?}");
    }
}
