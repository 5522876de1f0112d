//! The API objects a sandbox starts with and the DRMySQL its scenarios and
//! the demo apply, built purely so that they can be checked without a
//! cluster: the Kosmos Clusters (host and members), the namespaces the
//! components use, and `examples/mysql/drmysql-basic.yaml` adapted to the
//! sandbox's nodes and to a small machine.

use drmysql_api::clusterlink::{Cluster, ClusterLinkOptions, ClusterSpec, IpFamily, NetworkType};
use drmysql_api::names;
use k8s_openapi::api::core::v1::Namespace;
use serde_json::{Value, json};

use super::error::SandboxError;

/// The basic example, compiled in so that the demo runs from any directory.
const BASIC_EXAMPLE: &str = include_str!("../../../examples/mysql/drmysql-basic.yaml");

/// The InnoDB buffer pool each sandbox mariadbd gets: two or more of them
/// share a small machine with the rest of the sandbox.
const SANDBOX_BUFFER_POOL: &str = "32M";

/// The namespace the clusterlink components keep their Leases in, in every
/// cluster (as Kosmos does).
pub const KOSMOS_NAMESPACE: &str = "kosmos-system";

/// The interface every sandbox node has on the underlay.
pub const UNDERLAY_NIC: &str = "eth0";

/// The name Kosmos clustertree gives the virtual node of member `cluster`.
pub fn virtual_node_name(cluster: &str) -> String {
    format!("{}{cluster}", names::KOSMOS_VIRTUAL_NODE_PREFIX)
}

/// A Kosmos Cluster joined point to point over VXLAN on the sandbox's
/// underlay interface. Its pod CIDRs are left to `drmysql discovery`, which
/// records them from the cluster's Nodes.
pub fn cluster(name: &str) -> Cluster {
    Cluster::new(
        name,
        ClusterSpec {
            cluster_link_options: Some(ClusterLinkOptions {
                network_type: NetworkType::P2p,
                ip_family: IpFamily::Ipv4,
                default_nic_name: UNDERLAY_NIC.to_owned(),
                ..ClusterLinkOptions::default()
            }),
            ..ClusterSpec::default()
        },
    )
}

/// A Namespace.
pub fn namespace(name: &str) -> Namespace {
    Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        ..Namespace::default()
    }
}

/// `examples/mysql/drmysql-basic.yaml` as `namespace/name` with its primary
/// on `primary_node` and its one replica on `replica_node`, and a buffer pool
/// a shared small machine can give each instance. Everything else (lag
/// threshold, heartbeat, failover policy, storage) is the example's.
pub fn example_drmysql(
    namespace: &str,
    name: &str,
    primary_node: &str,
    replica_node: &str,
) -> Result<Value, SandboxError> {
    let mut object: Value = serde_saphyr::from_str(BASIC_EXAMPLE).map_err(|error| {
        SandboxError::Invariant(format!(
            "examples/mysql/drmysql-basic.yaml does not parse: {error}"
        ))
    })?;
    let shape =
        |what: &str| SandboxError::Invariant(format!("examples/mysql/drmysql-basic.yaml has no {what}"));
    object["metadata"]["name"] = json!(name);
    object["metadata"]["namespace"] = json!(namespace);
    object["spec"]["primary"]["node"] = json!(primary_node);
    let replicas = object["spec"]["replicas"]
        .as_array_mut()
        .ok_or_else(|| shape("spec.replicas"))?;
    let [replica] = replicas.as_mut_slice() else {
        return Err(shape("single replica"));
    };
    replica["node"] = json!(replica_node);
    let config = object["spec"]["engine"]["config"]
        .as_array_mut()
        .ok_or_else(|| shape("spec.engine.config"))?;
    let pool = config
        .iter_mut()
        .find(|entry| entry["name"] == "innodb_buffer_pool_size")
        .ok_or_else(|| shape("innodb_buffer_pool_size in spec.engine.config"))?;
    pool["value"] = json!(SANDBOX_BUFFER_POOL);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use drmysql_api::drmysql::DRMySQL;

    use super::*;

    #[test]
    fn the_example_is_placed_on_the_sandbox_nodes_and_stays_a_drmysql() {
        let object = example_drmysql("shop", "orders", "host-1", "kosmos-member-a").expect("adapted");
        let drmysql: DRMySQL = serde_json::from_value(object).expect("still a DRMySQL");
        assert_eq!(drmysql.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(drmysql.spec.primary.node.as_deref(), Some("host-1"));
        assert_eq!(drmysql.spec.replicas[0].node.as_deref(), Some("kosmos-member-a"));
        let pool = drmysql
            .spec
            .engine
            .config
            .iter()
            .find(|entry| entry.name == "innodb_buffer_pool_size")
            .expect("buffer pool");
        assert_eq!(pool.value, SANDBOX_BUFFER_POOL);
    }

    #[test]
    fn clusters_are_point_to_point_on_the_underlay_nic() {
        let cluster = cluster("member-a");
        let options = cluster.spec.cluster_link_options.expect("clusterlink options");
        assert_eq!(options.network_type, NetworkType::P2p);
        assert_eq!(options.default_nic_name, UNDERLAY_NIC);
        assert_eq!(virtual_node_name("member-a"), "kosmos-member-a");
    }
}
