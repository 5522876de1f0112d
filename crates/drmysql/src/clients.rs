//! Kubernetes clients and identities shared by the subcommands.
//!
//! Every component talks to the cluster it runs in through `KUBECONFIG` or the
//! in-cluster service account. The clusterlink components of a member cluster
//! also talk to the host cluster, where Cluster, ClusterNode and NodeConfig
//! live, through a host kubeconfig file (Kosmos mounts it from the Secret
//! `clusterlink-agent-proxy`); in the host cluster itself that file is omitted.

use std::path::Path;

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The client of the cluster this process runs in.
pub async fn local() -> anyhow::Result<kube::Client> {
    kube::Client::try_default()
        .await
        .context("cannot build a Kubernetes client from KUBECONFIG or the in-cluster service account")
}

/// The host cluster's client: from `kubeconfig` when given, else the local one.
pub async fn host(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Client> {
    let Some(path) = kubeconfig else {
        return local().await;
    };
    let file = Kubeconfig::read_from(path)
        .with_context(|| format!("cannot read the host kubeconfig {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("the host kubeconfig {} is not usable", path.display()))?;
    kube::Client::try_from(config).with_context(|| {
        format!(
            "cannot build a client from the host kubeconfig {}",
            path.display()
        )
    })
}

/// `<host name>-<pid>`: an identity unique among processes started by hand,
/// for Leases when no Pod name is given.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "drmysql".to_owned());
    format!("{host}-{}", std::process::id())
}
