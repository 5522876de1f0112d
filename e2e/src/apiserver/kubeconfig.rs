//! Kubeconfigs for the simulator, so that kubectl and kube clients (the
//! controller, the agents, the tests) reach it exactly as they reach a real
//! cluster: through a file named by `--kubeconfig` or `KUBECONFIG`.
//!
//! The simulator speaks plain HTTP without authentication, so the kubeconfig
//! has a server URL and an empty user.

use super::error::ApiServerError;
use std::path::Path;

/// The name of the cluster, user and context in the kubeconfig.
pub const CONTEXT: &str = "drmysql-e2e";

/// A kubeconfig pointing at `url` (plain HTTP, no credentials, namespace `default`).
pub fn kubeconfig_yaml(url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: {url}
users:
- name: {CONTEXT}
  user: {{}}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
    namespace: default
current-context: {CONTEXT}
preferences: {{}}
"
    )
}

/// Writes [`kubeconfig_yaml`] for `url` to `path`.
pub fn write_kubeconfig(path: &Path, url: &str) -> std::io::Result<()> {
    std::fs::write(path, kubeconfig_yaml(url))
}

/// A kube client built from a kubeconfig document.
pub async fn client(kubeconfig: &str) -> Result<kube::Client, ApiServerError> {
    let parsed = kube::config::Kubeconfig::from_yaml(kubeconfig)
        .map_err(|error| ApiServerError::Client(error.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(parsed, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|error| ApiServerError::Client(error.to_string()))?;
    kube::Client::try_from(config).map_err(|error| ApiServerError::Client(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubeconfig_parses_and_names_the_server() {
        let text = kubeconfig_yaml("http://127.0.0.1:1234");
        let parsed = kube::config::Kubeconfig::from_yaml(&text).expect("valid kubeconfig");
        assert_eq!(parsed.current_context.as_deref(), Some(CONTEXT));
        let cluster = parsed.clusters[0].cluster.as_ref().expect("cluster");
        assert_eq!(cluster.server.as_deref(), Some("http://127.0.0.1:1234"));
    }
}
