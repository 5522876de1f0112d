//! A Pod's volumes as plain directories on this machine, and where each
//! container path lands among them.
//!
//! The sandbox runs containers as ordinary processes on the host filesystem,
//! so nothing is mounted: ConfigMap, Secret and downwardAPI volumes become
//! directories of files under the Pod's directory, an emptyDir an empty one,
//! and a PersistentVolumeClaim one directory per claim under a sandbox-wide
//! root, so that its data outlives the Pod exactly as a bound volume does.
//! That directory is keyed by the claim's name and uid: a claim deleted and
//! created again under the same name (drmysql's rebuild does this) starts
//! empty, as a newly provisioned volume does. A
//! [`MountMap`] then answers "which host path is this container path?", and
//! the launchers rewrite the few container paths the processes really use.
//!
//! Files are replaced by rename, so a reader (the sidecar re-reading its
//! labels) never sees a half-written file; the kubelet's `..data` symlink swap
//! is not reproduced because nothing here reads several files as one
//! snapshot. `readOnly` is not enforced: there is no mount to make read-only.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{KeyToPath, PersistentVolumeClaim, Pod, Volume};

use super::error::KubeletError;
use super::fieldpath::volume_field;
use super::objects::{PodObjects, config_map_entries, secret_entries};

/// The mode of projected files when the volume names none.
const DEFAULT_MODE: u32 = 0o644;

/// Where one Pod's files live on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodDirs {
    root: PathBuf,
    claims: PathBuf,
}

/// `name` as one path component: no separator, not `.` or `..`, not empty.
fn component(name: &str, what: &str) -> Result<String, KubeletError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(KubeletError::Pod(format!(
            "{what} {name:?} cannot name a directory"
        )));
    }
    Ok(name.to_owned())
}

/// A projected file's relative path: no absolute path, no `..`.
fn relative(path: &str) -> Option<PathBuf> {
    let path = Path::new(path);
    let safe =
        !path.as_os_str().is_empty() && path.components().all(|part| matches!(part, Component::Normal(_)));
    safe.then(|| path.to_path_buf())
}

impl PodDirs {
    /// The directories of `pod`: `<pods_dir>/<namespace>_<name>` for its own
    /// files, `<claims_root>/<namespace>/<claim>_<uid>` for its claims.
    pub fn new(pods_dir: &Path, claims_root: &Path, pod: &Pod) -> Result<Self, KubeletError> {
        let namespace = component(
            pod.metadata.namespace.as_deref().unwrap_or("default"),
            "namespace",
        )?;
        let name = component(pod.metadata.name.as_deref().unwrap_or_default(), "Pod name")?;
        Ok(Self {
            root: pods_dir.join(format!("{namespace}_{name}")),
            claims: claims_root.join(namespace),
        })
    }

    /// The Pod's own directory (removed with the Pod).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A container's run directory (sockets, pid file, composed config).
    pub fn run(&self, container: &str) -> PathBuf {
        self.root.join("run").join(container)
    }

    /// A container's log file (stdout and stderr of every run, appended).
    pub fn log(&self, container: &str) -> PathBuf {
        self.root.join("logs").join(format!("{container}.log"))
    }

    /// The directory of a PersistentVolumeClaim, which outlives the Pod:
    /// `<claim>_<uid>`, or `<claim>` for an object without a uid.
    pub fn claim(&self, claim: &PersistentVolumeClaim) -> Result<PathBuf, KubeletError> {
        let name = component(claim.metadata.name.as_deref().unwrap_or_default(), "claim")?;
        let directory = match claim.metadata.uid.as_deref() {
            Some(uid) => component(&format!("{name}_{uid}"), "claim uid")?,
            None => name,
        };
        Ok(self.claims.join(directory))
    }

    /// The host directory of `volume`; a claim must be among `objects`.
    pub fn volume(&self, volume: &Volume, objects: &PodObjects) -> Result<PathBuf, KubeletError> {
        match &volume.persistent_volume_claim {
            Some(source) => {
                let claim = objects.claim(&source.claim_name).ok_or_else(|| {
                    KubeletError::Pod(format!(
                        "persistentvolumeclaim \"{}\" not found",
                        source.claim_name
                    ))
                })?;
                self.claim(claim)
            }
            None => Ok(self.root.join("volumes").join(component(&volume.name, "volume")?)),
        }
    }
}

/// One container path backed by a host path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The container.
    pub container: String,
    /// The path inside the container.
    pub container_path: PathBuf,
    /// The directory or file on this machine.
    pub host_path: PathBuf,
}

/// Every container path of a Pod that is backed by a volume.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountMap {
    mounts: Vec<Mount>,
}

impl MountMap {
    /// The mounts of every container of `pod` (subPath included).
    pub fn for_pod(pod: &Pod, dirs: &PodDirs, objects: &PodObjects) -> Result<Self, KubeletError> {
        let spec = pod
            .spec
            .as_ref()
            .ok_or_else(|| KubeletError::Pod("the Pod has no spec".to_owned()))?;
        let volumes = spec.volumes.as_deref().unwrap_or_default();
        let mut mounts = Vec::new();
        for container in &spec.containers {
            for mount in container.volume_mounts.iter().flatten() {
                let volume = volumes
                    .iter()
                    .find(|volume| volume.name == mount.name)
                    .ok_or_else(|| KubeletError::ContainerCreate {
                        container: container.name.clone(),
                        message: format!("volumeMount {} names no volume of the Pod", mount.name),
                    })?;
                let mut host_path = dirs.volume(volume, objects)?;
                if let Some(sub_path) = mount.sub_path.as_deref().filter(|sub| !sub.is_empty()) {
                    let sub_path = relative(sub_path).ok_or_else(|| KubeletError::ContainerCreate {
                        container: container.name.clone(),
                        message: format!("subPath {sub_path:?} must be a relative path without '..'"),
                    })?;
                    host_path.push(sub_path);
                }
                mounts.push(Mount {
                    container: container.name.clone(),
                    container_path: PathBuf::from(&mount.mount_path),
                    host_path,
                });
            }
        }
        Ok(Self { mounts })
    }

    /// The mounts of `container`.
    pub fn of<'a>(&'a self, container: &'a str) -> impl Iterator<Item = &'a Mount> + 'a {
        self.mounts
            .iter()
            .filter(move |mount| mount.container == container)
    }

    /// The host path of `path` inside `container`, through the deepest mount
    /// that contains it; `None` when no mount does.
    pub fn host_path(&self, container: &str, path: &Path) -> Option<PathBuf> {
        self.of(container)
            .filter_map(|mount| {
                let rest = path.strip_prefix(&mount.container_path).ok()?;
                let host = if rest.as_os_str().is_empty() {
                    mount.host_path.clone()
                } else {
                    mount.host_path.join(rest)
                };
                Some((mount.container_path.components().count(), host))
            })
            .max_by_key(|(depth, _)| *depth)
            .map(|(_, host)| host)
    }
}

/// One file of a ConfigMap, Secret or downwardAPI volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectedFile {
    /// Path relative to the volume's directory.
    pub path: PathBuf,
    /// Content.
    pub content: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
}

/// What a volume holds, decided from the Pod and its objects alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumeContent {
    /// Files the kubelet writes (ConfigMap, Secret, downwardAPI).
    Files(Vec<ProjectedFile>),
    /// A directory whose content belongs to the containers (emptyDir, PVC).
    Directory,
}

fn mode(mode: Option<i32>, default: Option<i32>) -> u32 {
    mode.or(default)
        .and_then(|mode| u32::try_from(mode).ok())
        .map_or(DEFAULT_MODE, |mode| mode & 0o7777)
}

/// The files of a ConfigMap or Secret volume: every key, or the listed items.
fn keyed_files(
    volume: &str,
    entries: &[(String, Vec<u8>)],
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
    missing_key: impl Fn(&str) -> String,
) -> Result<Vec<ProjectedFile>, KubeletError> {
    let bad_path = |path: &str| KubeletError::Volume {
        volume: volume.to_owned(),
        message: format!("item path {path:?} must be relative without '..'"),
    };
    let Some(items) = items else {
        return entries
            .iter()
            .map(|(key, content)| {
                Ok(ProjectedFile {
                    path: relative(key).ok_or_else(|| bad_path(key))?,
                    content: content.clone(),
                    mode: mode(None, default_mode),
                })
            })
            .collect();
    };
    let mut files = Vec::new();
    for item in items {
        let Some((_, content)) = entries.iter().find(|(key, _)| *key == item.key) else {
            if optional {
                continue;
            }
            return Err(KubeletError::Volume {
                volume: volume.to_owned(),
                message: missing_key(&item.key),
            });
        };
        files.push(ProjectedFile {
            path: relative(&item.path).ok_or_else(|| bad_path(&item.path))?,
            content: content.clone(),
            mode: mode(item.mode, default_mode),
        });
    }
    Ok(files)
}

/// What `volume` of `pod` holds, given the objects it refers to.
pub fn volume_content(
    volume: &Volume,
    pod: &Pod,
    objects: &PodObjects,
) -> Result<VolumeContent, KubeletError> {
    let error = |message: String| KubeletError::Volume {
        volume: volume.name.clone(),
        message,
    };
    if let Some(source) = &volume.config_map {
        let optional = source.optional == Some(true);
        let entries = match objects.config_map(&source.name) {
            Some(map) => config_map_entries(map),
            None if optional => Vec::new(),
            None => return Err(error(format!("configmap \"{}\" not found", source.name))),
        };
        let files = keyed_files(
            &volume.name,
            &entries,
            source.items.as_deref(),
            source.default_mode,
            optional,
            |key| format!("configmap references non-existent config key: {key}"),
        )?;
        return Ok(VolumeContent::Files(files));
    }
    if let Some(source) = &volume.secret {
        let name = source.secret_name.clone().unwrap_or_default();
        let optional = source.optional == Some(true);
        let entries = match objects.secret(&name) {
            Some(secret) => secret_entries(secret),
            None if optional => Vec::new(),
            None => return Err(error(format!("secret \"{name}\" not found"))),
        };
        let files = keyed_files(
            &volume.name,
            &entries,
            source.items.as_deref(),
            source.default_mode,
            optional,
            |key| format!("references non-existent secret key: {key}"),
        )?;
        return Ok(VolumeContent::Files(files));
    }
    if let Some(source) = &volume.downward_api {
        let mut files = Vec::new();
        for item in source.items.iter().flatten() {
            let path = relative(&item.path)
                .ok_or_else(|| error(format!("item path {:?} must be relative without '..'", item.path)))?;
            let Some(field) = &item.field_ref else {
                return Err(error(format!(
                    "item {}: only fieldRef is supported by the sandbox kubelet",
                    item.path
                )));
            };
            let content = volume_field(pod, &field.field_path)
                .map_err(|message| error(format!("item {}: {message}", item.path)))?;
            files.push(ProjectedFile {
                path,
                content: content.into_bytes(),
                mode: mode(item.mode, source.default_mode),
            });
        }
        return Ok(VolumeContent::Files(files));
    }
    if let Some(claim) = &volume.persistent_volume_claim {
        if objects.claim(&claim.claim_name).is_none() {
            return Err(error(format!(
                "persistentvolumeclaim \"{}\" not found",
                claim.claim_name
            )));
        }
        return Ok(VolumeContent::Directory);
    }
    if volume.empty_dir.is_some() {
        return Ok(VolumeContent::Directory);
    }
    Err(error(
        "only configMap, secret, downwardAPI, persistentVolumeClaim and emptyDir volumes are supported by the sandbox kubelet"
            .to_owned(),
    ))
}

/// Creates or refreshes every volume of `pod` on disk. Projected files are
/// replaced only when their content or mode changed, and files that are no
/// longer projected are removed; claim and emptyDir directories are only
/// created, never emptied.
pub fn materialise(pod: &Pod, objects: &PodObjects, dirs: &PodDirs) -> Result<(), KubeletError> {
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.volumes.as_deref())
        .unwrap_or_default();
    // Decide everything first, so that one bad volume changes nothing on disk.
    let contents = volumes
        .iter()
        .map(|volume| {
            Ok((
                volume_content(volume, pod, objects)?,
                dirs.volume(volume, objects)?,
            ))
        })
        .collect::<Result<Vec<_>, KubeletError>>()?;
    for (content, directory) in contents {
        fs::create_dir_all(&directory).map_err(KubeletError::io("cannot create", &directory))?;
        if let VolumeContent::Files(files) = content {
            write_files(&directory, &files)?;
        }
    }
    Ok(())
}

fn write_files(directory: &Path, files: &[ProjectedFile]) -> Result<(), KubeletError> {
    let wanted: BTreeSet<PathBuf> = files.iter().map(|file| directory.join(&file.path)).collect();
    for file in files {
        let path = directory.join(&file.path);
        let unchanged = fs::read(&path).is_ok_and(|current| current == file.content)
            && fs::metadata(&path).is_ok_and(|metadata| metadata.permissions().mode() & 0o7777 == file.mode);
        if unchanged {
            continue;
        }
        let parent = path.parent().unwrap_or(directory);
        fs::create_dir_all(parent).map_err(KubeletError::io("cannot create", parent))?;
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let staging = parent.join(format!(".{file_name}.writing"));
        fs::write(&staging, &file.content).map_err(KubeletError::io("cannot write", &staging))?;
        fs::set_permissions(&staging, fs::Permissions::from_mode(file.mode))
            .map_err(KubeletError::io("cannot set the mode of", &staging))?;
        fs::rename(&staging, &path).map_err(KubeletError::io("cannot replace", &path))?;
    }
    remove_unwanted(directory, &wanted)
}

/// Removes files under `directory` that are not `wanted` (a key removed from
/// a ConfigMap disappears from the volume, as with the kubelet).
fn remove_unwanted(directory: &Path, wanted: &BTreeSet<PathBuf>) -> Result<(), KubeletError> {
    let entries = fs::read_dir(directory).map_err(KubeletError::io("cannot list", directory))?;
    for entry in entries {
        let path = entry.map_err(KubeletError::io("cannot list", directory))?.path();
        if path.is_dir() {
            remove_unwanted(&path, wanted)?;
            if fs::read_dir(&path).is_ok_and(|mut rest| rest.next().is_none()) {
                fs::remove_dir(&path).map_err(KubeletError::io("cannot remove", &path))?;
            }
        } else if !wanted.contains(&path) {
            fs::remove_file(&path).map_err(KubeletError::io("cannot remove", &path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::{
        ConfigMap, ConfigMapVolumeSource, Container, DownwardAPIVolumeFile, DownwardAPIVolumeSource,
        EmptyDirVolumeSource, ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimVolumeSource,
        PodSpec, Secret, SecretVolumeSource, VolumeMount,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some("shop".to_owned()),
            ..ObjectMeta::default()
        }
    }

    fn mount(name: &str, path: &str) -> VolumeMount {
        VolumeMount {
            name: name.to_owned(),
            mount_path: path.to_owned(),
            ..VolumeMount::default()
        }
    }

    fn pod(role: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                labels: Some(BTreeMap::from([("drmysql.io/role".to_owned(), role.to_owned())])),
                ..meta("orders-0")
            },
            spec: Some(PodSpec {
                containers: vec![
                    Container {
                        name: "mysqld".to_owned(),
                        volume_mounts: Some(vec![
                            mount("data", "/var/lib/mysql"),
                            mount("config", "/etc/mysql/conf.d"),
                        ]),
                        ..Container::default()
                    },
                    Container {
                        name: "sidecar".to_owned(),
                        volume_mounts: Some(vec![
                            mount("podinfo", "/etc/drmysql/podinfo"),
                            mount("secret", "/etc/drmysql/podinfo/secret"),
                            VolumeMount {
                                sub_path: Some("nested/dir".to_owned()),
                                ..mount("scratch", "/scratch")
                            },
                        ]),
                        ..Container::default()
                    },
                ],
                volumes: Some(vec![
                    Volume {
                        name: "data".to_owned(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: "orders-0-data".to_owned(),
                            read_only: None,
                        }),
                        ..Volume::default()
                    },
                    Volume {
                        name: "config".to_owned(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: "orders-0-config".to_owned(),
                            ..ConfigMapVolumeSource::default()
                        }),
                        ..Volume::default()
                    },
                    Volume {
                        name: "podinfo".to_owned(),
                        downward_api: Some(DownwardAPIVolumeSource {
                            items: Some(vec![DownwardAPIVolumeFile {
                                path: "labels".to_owned(),
                                field_ref: Some(ObjectFieldSelector {
                                    api_version: None,
                                    field_path: "metadata.labels".to_owned(),
                                }),
                                ..DownwardAPIVolumeFile::default()
                            }]),
                            ..DownwardAPIVolumeSource::default()
                        }),
                        ..Volume::default()
                    },
                    Volume {
                        name: "secret".to_owned(),
                        secret: Some(SecretVolumeSource {
                            secret_name: Some("creds".to_owned()),
                            items: Some(vec![KeyToPath {
                                key: "token".to_owned(),
                                path: "sub/token".to_owned(),
                                mode: Some(0o600),
                            }]),
                            ..SecretVolumeSource::default()
                        }),
                        ..Volume::default()
                    },
                    Volume {
                        name: "scratch".to_owned(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    },
                ]),
                ..PodSpec::default()
            }),
            status: None,
        }
    }

    fn objects(config: &str) -> PodObjects {
        PodObjects {
            secrets: vec![Secret {
                metadata: meta("creds"),
                data: Some(BTreeMap::from([(
                    "token".to_owned(),
                    ByteString(b"t0k".to_vec()),
                )])),
                ..Secret::default()
            }],
            config_maps: vec![ConfigMap {
                metadata: meta("orders-0-config"),
                data: Some(BTreeMap::from([("drmysql.cnf".to_owned(), config.to_owned())])),
                ..ConfigMap::default()
            }],
            claims: vec![PersistentVolumeClaim {
                metadata: meta("orders-0-data"),
                ..PersistentVolumeClaim::default()
            }],
        }
    }

    #[test]
    fn container_paths_map_to_the_deepest_mount() {
        let dirs = PodDirs::new(Path::new("/s/pods"), Path::new("/s/pvc"), &pod("primary")).expect("dirs");
        let map = MountMap::for_pod(&pod("primary"), &dirs, &objects("")).expect("mounts");
        let host = |container: &str, path: &str| map.host_path(container, Path::new(path));
        assert_eq!(
            host("mysqld", "/var/lib/mysql"),
            Some(PathBuf::from("/s/pvc/shop/orders-0-data"))
        );
        assert_eq!(
            host("mysqld", "/etc/mysql/conf.d/drmysql.cnf"),
            Some(PathBuf::from("/s/pods/shop_orders-0/volumes/config/drmysql.cnf"))
        );
        assert_eq!(
            host("sidecar", "/etc/drmysql/podinfo/labels"),
            Some(PathBuf::from("/s/pods/shop_orders-0/volumes/podinfo/labels"))
        );
        assert_eq!(
            host("sidecar", "/etc/drmysql/podinfo/secret/sub/token"),
            Some(PathBuf::from("/s/pods/shop_orders-0/volumes/secret/sub/token"))
        );
        assert_eq!(
            host("sidecar", "/scratch/x"),
            Some(PathBuf::from(
                "/s/pods/shop_orders-0/volumes/scratch/nested/dir/x"
            ))
        );
        assert_eq!(
            host("sidecar", "/etc/drmysql/podinfo"),
            Some(PathBuf::from("/s/pods/shop_orders-0/volumes/podinfo"))
        );
        assert_eq!(
            host("sidecar", "/var/lib/mysql"),
            None,
            "mounts are per container"
        );
        assert_eq!(
            host("mysqld", "/var/lib/mysqlx"),
            None,
            "prefixes match whole components"
        );
    }

    #[test]
    fn volumes_are_written_refreshed_and_pruned() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let dirs = PodDirs::new(
            &scratch.path().join("pods"),
            &scratch.path().join("pvc"),
            &pod("primary"),
        )
        .expect("dirs");
        materialise(&pod("primary"), &objects("[mysqld]\n"), &dirs).expect("materialised");
        let volumes = dirs.root().join("volumes");
        let read = |path: &Path| fs::read_to_string(path).expect("readable");
        assert_eq!(
            read(&volumes.join("podinfo/labels")),
            "drmysql.io/role=\"primary\""
        );
        assert_eq!(read(&volumes.join("config/drmysql.cnf")), "[mysqld]\n");
        let token = volumes.join("secret/sub/token");
        assert_eq!(read(&token), "t0k");
        let token_mode = fs::metadata(&token).expect("token").permissions().mode() & 0o777;
        assert_eq!(token_mode, 0o600);
        assert!(scratch.path().join("pvc/shop/orders-0-data").is_dir());
        assert!(volumes.join("scratch").is_dir());

        // The role label moves and a key disappears: both show on disk.
        let data_file = scratch.path().join("pvc/shop/orders-0-data/ibdata1");
        fs::write(&data_file, "data").expect("write into the claim");
        let mut changed = objects("ignored");
        changed.config_maps[0].data = Some(BTreeMap::from([("other.cnf".to_owned(), "x".to_owned())]));
        materialise(&pod("replica"), &changed, &dirs).expect("refreshed");
        assert_eq!(
            read(&volumes.join("podinfo/labels")),
            "drmysql.io/role=\"replica\""
        );
        assert!(!volumes.join("config/drmysql.cnf").exists());
        assert_eq!(read(&volumes.join("config/other.cnf")), "x");
        assert_eq!(read(&data_file), "data", "claims are never emptied");
    }

    #[test]
    fn a_claim_created_again_under_its_name_gets_a_fresh_directory() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let dirs = PodDirs::new(
            &scratch.path().join("pods"),
            &scratch.path().join("pvc"),
            &pod("primary"),
        )
        .expect("dirs");
        let with_uid = |uid: &str| {
            let mut objects = objects("[mysqld]\n");
            objects.claims[0].metadata.uid = Some(uid.to_owned());
            objects
        };
        let first = with_uid("5f1c");
        materialise(&pod("primary"), &first, &dirs).expect("materialised");
        let data = scratch.path().join("pvc/shop/orders-0-data_5f1c");
        assert!(data.is_dir());
        fs::write(data.join("ibdata1"), "old data").expect("write into the claim");
        let map = MountMap::for_pod(&pod("primary"), &dirs, &first).expect("mounts");
        assert_eq!(
            map.host_path("mysqld", Path::new("/var/lib/mysql")),
            Some(data.clone())
        );

        let again = with_uid("9a27");
        materialise(&pod("primary"), &again, &dirs).expect("materialised");
        let fresh = scratch.path().join("pvc/shop/orders-0-data_9a27");
        assert_eq!(
            fs::read_dir(&fresh).expect("fresh claim").count(),
            0,
            "a new claim starts empty"
        );
        let map = MountMap::for_pod(&pod("primary"), &dirs, &again).expect("mounts");
        assert_eq!(map.host_path("mysqld", Path::new("/var/lib/mysql")), Some(fresh));
        assert!(
            data.join("ibdata1").is_file(),
            "the old claim's directory is left alone"
        );
    }

    #[test]
    fn missing_objects_are_reported_and_change_nothing() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let dirs = PodDirs::new(
            &scratch.path().join("pods"),
            &scratch.path().join("pvc"),
            &pod("primary"),
        )
        .expect("dirs");
        let mut missing = objects("");
        missing.config_maps.clear();
        let error = materialise(&pod("primary"), &missing, &dirs).expect_err("no ConfigMap");
        assert_eq!(
            error.to_string(),
            "MountVolume.SetUp failed for volume \"config\": configmap \"orders-0-config\" not found"
        );
        assert!(
            !dirs.root().exists(),
            "nothing is written when a volume cannot be set up"
        );
        let mut missing = objects("");
        missing.claims.clear();
        let error = materialise(&pod("primary"), &missing, &dirs).expect_err("no claim");
        assert!(
            error
                .to_string()
                .contains("persistentvolumeclaim \"orders-0-data\" not found"),
            "{error}"
        );
        let mut missing = objects("");
        missing.secrets[0].data = Some(BTreeMap::new());
        let error = materialise(&pod("primary"), &missing, &dirs).expect_err("no key");
        assert!(
            error.to_string().contains("non-existent secret key: token"),
            "{error}"
        );
    }

    #[test]
    fn names_cannot_escape_their_directories() {
        let mut bad = pod("primary");
        bad.metadata.name = Some("..".to_owned());
        assert!(PodDirs::new(Path::new("/s"), Path::new("/p"), &bad).is_err());
        assert_eq!(relative("a/b"), Some(PathBuf::from("a/b")));
        assert_eq!(relative("../a"), None);
        assert_eq!(relative("/a"), None);
        assert_eq!(relative(""), None);
    }
}
