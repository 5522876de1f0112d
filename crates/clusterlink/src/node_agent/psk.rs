//! Where the agent gets the IPsec pre-shared key: a Secret in the host cluster
//! (`--ipsec-psk-secret namespace/name[:key]`, key `psk` by default), a file
//! (`--ipsec-psk-file`, e.g. a mounted Secret), or else the Secret its
//! Cluster names in `spec.clusterLinkOptions.ipsecPSKSecretRef`. The key never leaves the agent:
//! it is only the input of the per-pair key derivation in [`crate::ipsec`].

use std::path::PathBuf;

use drmysql_api::clusterlink::Cluster;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use crate::agent::PreSharedKey;

/// Fewer bytes than this is no key at all.
pub const MIN_PSK_BYTES: usize = 16;
/// The Secret key read when none is named.
pub const DEFAULT_SECRET_KEY: &str = "psk";

/// Where the PSK is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PskSource {
    /// A key of a Secret in the host cluster.
    Secret {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Data key.
        key: String,
    },
    /// A file.
    File(PathBuf),
}

/// Why the PSK could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PskError {
    /// `--ipsec-psk-secret` is malformed.
    #[error("--ipsec-psk-secret: {0:?} is not namespace/name or namespace/name:key")]
    Reference(String),
    /// The Secret could not be read.
    #[error("cannot read Secret {namespace}/{name}: {source}")]
    Read {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The Secret lacks the key.
    #[error("Secret {namespace}/{name} has no key {key:?}")]
    MissingKey {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The key.
        key: String,
    },
    /// The file could not be read.
    #[error("cannot read --ipsec-psk-file {path}: {source}")]
    File {
        /// The path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The key is too short.
    #[error("the IPsec PSK from {from} has {length} bytes; at least {MIN_PSK_BYTES} are required")]
    TooShort {
        /// Where it came from.
        from: String,
        /// Its length.
        length: usize,
    },
}

/// Parses `namespace/name[:key]`.
pub fn parse_secret_reference(text: &str) -> Result<PskSource, PskError> {
    let invalid = || PskError::Reference(text.to_owned());
    let (namespace, rest) = text.split_once('/').ok_or_else(invalid)?;
    let (name, key) = rest.split_once(':').unwrap_or((rest, DEFAULT_SECRET_KEY));
    let valid = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    };
    let valid_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if valid(namespace) && valid(name) && valid_key {
        Ok(PskSource::Secret {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: key.to_owned(),
        })
    } else {
        Err(invalid())
    }
}

/// Chooses where the PSK comes from: a flag first, else the Cluster's
/// reference; `None` when neither names one.
pub fn choose_source(
    secret_flag: Option<&str>,
    file_flag: Option<&std::path::Path>,
    cluster: Option<&Cluster>,
) -> Result<Option<PskSource>, PskError> {
    if let Some(reference) = secret_flag {
        return parse_secret_reference(reference).map(Some);
    }
    if let Some(path) = file_flag {
        return Ok(Some(PskSource::File(path.to_path_buf())));
    }
    Ok(cluster
        .and_then(|cluster| cluster.spec.cluster_link_options.as_ref())
        .and_then(|options| options.ipsec_psk_secret_ref.as_ref())
        .map(|reference| PskSource::Secret {
            namespace: reference.namespace.clone(),
            name: reference.name.clone(),
            key: reference.key.clone(),
        }))
}

/// Reads the PSK from `source`.
pub async fn load(host: &kube::Client, source: &PskSource) -> Result<PreSharedKey, PskError> {
    let (bytes, from) = match source {
        PskSource::Secret { namespace, name, key } => {
            let secrets: Api<Secret> = Api::namespaced(host.clone(), namespace);
            let secret = secrets.get(name).await.map_err(|source| PskError::Read {
                namespace: namespace.clone(),
                name: name.clone(),
                source: Box::new(source),
            })?;
            let bytes = secret
                .data
                .and_then(|mut data| data.remove(key))
                .map(|bytes| bytes.0)
                .ok_or_else(|| PskError::MissingKey {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    key: key.clone(),
                })?;
            (bytes, format!("Secret {namespace}/{name} key {key}"))
        }
        PskSource::File(path) => {
            let bytes = tokio::fs::read(path).await.map_err(|source| PskError::File {
                path: path.display().to_string(),
                source,
            })?;
            (bytes, path.display().to_string())
        }
    };
    checked(bytes, from).map(PreSharedKey::new)
}

/// The key bytes without a trailing newline, when long enough.
fn checked(mut bytes: Vec<u8>, from: String) -> Result<Vec<u8>, PskError> {
    // A file written by `echo` ends in a newline that is no part of the key.
    while bytes.last().is_some_and(|byte| *byte == b'\n' || *byte == b'\r') {
        bytes.pop();
    }
    if bytes.len() < MIN_PSK_BYTES {
        return Err(PskError::TooShort {
            from,
            length: bytes.len(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_references_parse_with_a_default_key() {
        assert_eq!(
            parse_secret_reference("kosmos-system/clusterlink-ipsec").expect("valid"),
            PskSource::Secret {
                namespace: "kosmos-system".to_owned(),
                name: "clusterlink-ipsec".to_owned(),
                key: "psk".to_owned()
            }
        );
        assert_eq!(
            parse_secret_reference("ns/name:pre_shared.key").expect("valid"),
            PskSource::Secret {
                namespace: "ns".to_owned(),
                name: "name".to_owned(),
                key: "pre_shared.key".to_owned()
            }
        );
        for bad in ["name", "/name", "ns/", "ns/name:", "NS/name", "ns/na me"] {
            let error = parse_secret_reference(bad).expect_err(bad);
            assert!(error.to_string().contains("--ipsec-psk-secret"), "{error}");
        }
    }

    #[test]
    fn short_keys_are_refused_and_trailing_newlines_dropped() {
        let error = checked(b"short\n".to_vec(), "f".to_owned()).expect_err("too short");
        assert!(error.to_string().contains("5 bytes"), "{error}");
        let psk = checked(b"0123456789abcdef0123\n".to_vec(), "f".to_owned()).expect("long enough");
        assert_eq!(psk, b"0123456789abcdef0123");
    }

    #[test]
    fn a_flag_wins_over_the_clusters_reference() {
        use drmysql_api::clusterlink::{ClusterLinkOptions, ClusterSpec, PskSecretRef};
        let cluster = Cluster::new(
            "a",
            ClusterSpec {
                cluster_link_options: Some(ClusterLinkOptions {
                    ipsec_psk_secret_ref: Some(PskSecretRef {
                        namespace: "kosmos-system".to_owned(),
                        name: "from-cluster".to_owned(),
                        key: "psk".to_owned(),
                    }),
                    ..ClusterLinkOptions::default()
                }),
                ..ClusterSpec::default()
            },
        );
        let from_cluster = choose_source(None, None, Some(&cluster)).expect("valid");
        assert!(
            matches!(&from_cluster, Some(PskSource::Secret { name, .. }) if name == "from-cluster"),
            "{from_cluster:?}"
        );
        let from_flag = choose_source(Some("ns/from-flag"), None, Some(&cluster)).expect("valid");
        assert!(
            matches!(&from_flag, Some(PskSource::Secret { name, .. }) if name == "from-flag"),
            "{from_flag:?}"
        );
        let from_file =
            choose_source(None, Some(std::path::Path::new("psk.bin")), Some(&cluster)).expect("valid");
        assert_eq!(from_file, Some(PskSource::File("psk.bin".into())));
        assert_eq!(choose_source(None, None, None).expect("valid"), None);
    }

    #[tokio::test]
    async fn a_secret_is_read_and_a_missing_key_named() {
        let (client, store) = crate::test_api::fake_api();
        store.lock().expect("store").put(
            "/api/v1/namespaces/kosmos-system/secrets/ipsec",
            serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ipsec", "namespace": "kosmos-system"},
                               "data": {"psk": "MDEyMzQ1Njc4OWFiY2RlZg=="}}),
        );
        let source = parse_secret_reference("kosmos-system/ipsec").expect("valid");
        let loaded = format!("{:?}", load(&client, &source).await.expect("read"));
        assert!(loaded.contains("redacted"), "the key is never printed: {loaded}");
        let other_key = parse_secret_reference("kosmos-system/ipsec:other").expect("valid");
        let error = load(&client, &other_key).await.expect_err("missing key");
        assert!(error.to_string().contains("has no key \"other\""), "{error}");
    }
}
