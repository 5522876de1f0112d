//! Which cluster, as which user, in which namespace: kubectl's rules, and the
//! errors that say what to fix.
//!
//! The kubeconfig is `--kubeconfig`, else the files `KUBECONFIG` lists (missing
//! ones skipped, as kubectl does), else `~/.kube/config`, else the in-cluster
//! service account when running in a Pod. The context is `--context`, else the
//! kubeconfig's `current-context`; the namespace is `-n`, else the context's,
//! else `default`. Each way this can fail names the flag, variable or file to
//! change, because a plugin that only says "failed to load config" sends the
//! user to read its source.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use drmysql_api::drmysql::DRMySQL;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The group/version the plugin reads.
const API_VERSION: &str = "drmysql.io/v1alpha1";

/// What the user chose on the command line.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `-n/--namespace`.
    pub namespace: Option<String>,
}

/// A client for the chosen cluster, and what errors should mention about it.
pub struct Target {
    /// The API client.
    pub client: kube::Client,
    /// The namespace to read from.
    pub namespace: String,
    /// Where the namespace came from, for messages: empty for `-n`, else
    /// ` (the namespace of context "NAME"; -n chooses another)` and the like.
    pub namespace_origin: String,
    /// `context "NAME" (server URL)`, or `the in-cluster service account (URL)`.
    pub origin: String,
}

/// Builds the client kubectl would use for the same flags and environment.
pub async fn connect(selection: &Selection) -> anyhow::Result<Target> {
    let (config, origin, default_origin) = match load_kubeconfig(selection.kubeconfig.as_deref())? {
        Some((kubeconfig, source)) => {
            let context = choose_context(&kubeconfig, selection.context.as_deref(), &source)?;
            let sets_namespace = kubeconfig
                .contexts
                .iter()
                .find(|named| named.name == context)
                .and_then(|named| named.context.as_ref())
                .is_some_and(|context| context.namespace.is_some());
            let options = KubeConfigOptions {
                context: Some(context.clone()),
                ..KubeConfigOptions::default()
            };
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|error| {
                    anyhow!(
                        "context \"{context}\" of {source} is not usable: {}",
                        root_cause(&error)
                    )
                })?;
            let origin = format!("context \"{context}\" ({})", config.cluster_url);
            let default_origin = if sets_namespace {
                format!(" (the namespace of context \"{context}\"; -n chooses another)")
            } else {
                format!(" (the default, as context \"{context}\" sets none; -n chooses another)")
            };
            (config, origin, default_origin)
        }
        None => {
            if let Some(context) = &selection.context {
                bail!(
                    "--context \"{context}\" needs a kubeconfig, and there is none: \
                     ~/.kube/config does not exist and neither --kubeconfig nor KUBECONFIG is set"
                );
            }
            let config = kube::Config::incluster().map_err(|error| {
                anyhow!(
                    "the in-cluster configuration is not usable: {}",
                    root_cause(&error)
                )
            })?;
            let origin = format!("the in-cluster service account ({})", config.cluster_url);
            let default_origin = " (the service account's namespace; -n chooses another)".to_owned();
            (config, origin, default_origin)
        }
    };
    let namespace_origin = if selection.namespace.is_some() {
        String::new()
    } else {
        default_origin
    };
    let namespace = selection
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config).map_err(|error| {
        anyhow!(
            "cannot build a Kubernetes client for {origin}: {}",
            root_cause(&error)
        )
    })?;
    Ok(Target {
        client,
        namespace,
        namespace_origin,
        origin,
    })
}

/// The kubeconfig and a description of where it came from, or `None` when
/// there is none at all but this process runs in a Pod.
fn load_kubeconfig(explicit: Option<&Path>) -> anyhow::Result<Option<(Kubeconfig, String)>> {
    if let Some(path) = explicit {
        let source = format!("the kubeconfig {} (--kubeconfig)", path.display());
        let kubeconfig = Kubeconfig::read_from(path)
            .map_err(|error| anyhow!("cannot read {source}: {}", root_cause(&error)))?;
        return Ok(Some((kubeconfig, source)));
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|value| !value.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|path| !path.as_os_str().is_empty())
            .collect();
        let existing: Vec<&PathBuf> = paths.iter().filter(|path| path.exists()).collect();
        if existing.is_empty() {
            bail!(
                "no kubeconfig: KUBECONFIG names {}, and none of them exists; \
                 fix KUBECONFIG or pass --kubeconfig FILE",
                shown(&paths)
            );
        }
        let source = format!("the kubeconfig {} (KUBECONFIG)", shown(&paths));
        let mut merged = Kubeconfig::default();
        for path in existing {
            let next = Kubeconfig::read_from(path).map_err(|error| {
                anyhow!(
                    "cannot read the kubeconfig {} (KUBECONFIG): {}",
                    path.display(),
                    root_cause(&error)
                )
            })?;
            merged = merged
                .merge(next)
                .map_err(|error| anyhow!("cannot merge {source}: {error}"))?;
        }
        return Ok(Some((merged, source)));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let default = home.map(|home| home.join(".kube").join("config"));
    match default {
        Some(path) if path.exists() => {
            let source = format!("the kubeconfig {}", path.display());
            let kubeconfig = Kubeconfig::read_from(&path)
                .map_err(|error| anyhow!("cannot read {source}: {}", root_cause(&error)))?;
            Ok(Some((kubeconfig, source)))
        }
        _ if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => Ok(None),
        _ => Err(anyhow!(
            "no kubeconfig: ~/.kube/config does not exist and KUBECONFIG is not set; \
             pass --kubeconfig FILE or set KUBECONFIG to the file your cluster's credentials are in"
        )),
    }
}

/// `--context`, else `current-context`, checked against the kubeconfig's contexts.
fn choose_context(kubeconfig: &Kubeconfig, explicit: Option<&str>, source: &str) -> anyhow::Result<String> {
    let names: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|context| context.name.as_str())
        .collect();
    let known = if names.is_empty() {
        "it has no contexts".to_owned()
    } else {
        format!("its contexts are: {}", names.join(", "))
    };
    match explicit {
        Some(name) if names.contains(&name) => Ok(name.to_owned()),
        Some(name) => bail!("context \"{name}\" (--context) is not in {source}; {known}"),
        None => match &kubeconfig.current_context {
            Some(name) if names.contains(&name.as_str()) => Ok(name.clone()),
            Some(name) => bail!(
                "the current-context \"{name}\" of {source} does not exist; {known}; \
                 pass --context or run `kubectl config use-context`"
            ),
            None => bail!("{source} sets no current-context; {known}; pass --context NAME"),
        },
    }
}

fn shown(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// Reads one DRMySQL; on failure, says whether the object, its namespace or
/// the CRD is missing, or the API is out of reach or refuses.
pub async fn get(target: &Target, name: &str) -> anyhow::Result<DRMySQL> {
    let api: Api<DRMySQL> = Api::namespaced(target.client.clone(), &target.namespace);
    match api.get(name).await {
        Ok(drmysql) => Ok(drmysql),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(not_found(target, name).await),
        Err(error) => Err(explain(target, &error, &format!("get DRMySQL \"{name}\""))),
    }
}

/// Why a 404 for the object: the CRD is missing, or the object is elsewhere or nowhere.
async fn not_found(target: &Target, name: &str) -> anyhow::Error {
    match crd_installed(&target.client).await {
        Ok(false) => {
            return anyhow!(
                "the DRMySQL API ({API_VERSION}, resource drmysqls) is not installed in the cluster of {}: \
                 install drmysql's CRDs with `kubectl apply --server-side -f crds/` from the drmysql repository",
                target.origin
            );
        }
        Ok(true) => {}
        Err(error) => return explain(target, &error, "read the API discovery document"),
    }
    let mut message = format!(
        "DRMySQL \"{name}\" not found in namespace \"{}\"{}",
        target.namespace, target.namespace_origin
    );
    let everywhere: Api<DRMySQL> = Api::all(target.client.clone());
    let by_name = ListParams::default().fields(&format!("metadata.name={name}"));
    match everywhere.list(&by_name).await {
        Ok(list) => {
            let namespaces: Vec<String> = list
                .items
                .iter()
                .filter_map(|item| item.metadata.namespace.clone())
                .collect();
            match namespaces.as_slice() {
                [] => message.push_str(
                    "; no namespace has one of that name (`kubectl get drmysqls -A` lists them all)",
                ),
                [only] => message.push_str(&format!("; it exists in namespace \"{only}\": pass -n {only}")),
                several => message.push_str(&format!(
                    "; it exists in namespaces {}: pass -n with one of them",
                    several.join(", ")
                )),
            }
        }
        // Listing across namespaces may be forbidden; the plain advice still holds.
        Err(_) => message.push_str(
            "; pass -n NAMESPACE to look in another namespace (`kubectl get drmysqls -A` lists them all)",
        ),
    }
    anyhow!(message)
}

/// Whether the API server serves `drmysqls` in `drmysql.io/v1alpha1`.
async fn crd_installed(client: &kube::Client) -> Result<bool, kube::Error> {
    match client.list_api_group_resources(API_VERSION).await {
        Ok(list) => Ok(list.resources.iter().any(|resource| resource.name == "drmysqls")),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(error) => Err(error),
    }
}

/// An API error as advice: credentials, permissions, or reachability.
pub fn explain(target: &Target, error: &kube::Error, action: &str) -> anyhow::Error {
    let namespace = &target.namespace;
    match error {
        kube::Error::Api(status) => match status.code {
            401 => anyhow!(
                "the API server of {} refused the credentials (401 Unauthorized) when trying to {action}: \
                 log in again or refresh the kubeconfig's user",
                target.origin
            ),
            403 => anyhow!(
                "forbidden to {action} in namespace \"{namespace}\" ({}): your user needs `get`, `list` and `watch` \
                 on drmysqls.drmysql.io there; {}",
                target.origin,
                status.message
            ),
            code => anyhow!(
                "the API server of {} answered {code} {} when trying to {action}: {}",
                target.origin,
                status.reason,
                status.message
            ),
        },
        other => anyhow!(
            "cannot reach the Kubernetes API of {} to {action}: {}; check that the cluster is up and that \
             the kubeconfig's server address is right (or choose another with --context/--kubeconfig)",
            target.origin,
            root_cause(other)
        ),
    }
}

/// The innermost source of an error: the specific part (`Connection refused
/// (os error 111)`, `No such file or directory`) without the layers of
/// wrappers around it, which repeat one another.
pub fn root_cause(error: &dyn std::error::Error) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(current: Option<&str>) -> Kubeconfig {
        let current = current.map_or(String::new(), |name| format!("current-context: {name}\n"));
        Kubeconfig::from_yaml(&format!(
            "apiVersion: v1\nkind: Config\n{current}\
             clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\n\
             contexts:\n- name: prod\n  context:\n    cluster: c\n    namespace: shop\n\
             - name: dev\n  context:\n    cluster: c\n"
        ))
        .expect("a valid kubeconfig")
    }

    #[tokio::test]
    async fn namespace_is_the_flag_else_the_contexts_else_default() {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let path = dir.path().join("kubeconfig");
        let text = serde_saphyr::to_string(&kubeconfig(Some("prod"))).expect("YAML");
        std::fs::write(&path, text).expect("write the kubeconfig");
        let select = |context: Option<&str>, namespace: Option<&str>| Selection {
            kubeconfig: Some(path.clone()),
            context: context.map(str::to_owned),
            namespace: namespace.map(str::to_owned),
        };

        let target = connect(&select(None, None)).await.expect("current context");
        assert_eq!(target.namespace, "shop");
        assert_eq!(
            target.namespace_origin,
            " (the namespace of context \"prod\"; -n chooses another)"
        );
        assert_eq!(target.origin, "context \"prod\" (http://127.0.0.1:1/)");

        let target = connect(&select(Some("dev"), None)).await.expect("--context dev");
        assert_eq!(target.namespace, "default");
        assert_eq!(
            target.namespace_origin,
            " (the default, as context \"dev\" sets none; -n chooses another)"
        );

        let target = connect(&select(Some("dev"), Some("billing"))).await.expect("-n");
        assert_eq!(target.namespace, "billing");
        assert_eq!(target.namespace_origin, "");
    }

    #[test]
    fn context_is_the_flag_else_current_context() {
        let config = kubeconfig(Some("prod"));
        assert_eq!(choose_context(&config, None, "K").expect("current"), "prod");
        assert_eq!(choose_context(&config, Some("dev"), "K").expect("flag"), "dev");
    }

    #[test]
    fn unknown_or_missing_contexts_are_named_with_the_known_ones() {
        let error = choose_context(&kubeconfig(Some("prod")), Some("staging"), "the kubeconfig K")
            .expect_err("no such context");
        assert_eq!(
            error.to_string(),
            "context \"staging\" (--context) is not in the kubeconfig K; its contexts are: prod, dev"
        );
        let error =
            choose_context(&kubeconfig(None), None, "the kubeconfig K").expect_err("no current context");
        assert_eq!(
            error.to_string(),
            "the kubeconfig K sets no current-context; its contexts are: prod, dev; pass --context NAME"
        );
        let error =
            choose_context(&kubeconfig(Some("gone")), None, "the kubeconfig K").expect_err("dangling");
        assert!(error.to_string().contains("current-context \"gone\""), "{error}");
    }
}
