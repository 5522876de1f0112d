//! Tests of the build stage on whole DRMySQL objects.

use super::*;
use k8s_openapi::api::core::v1::Toleration;
use serde_json::{Value, json};

/// A stored DRMySQL `orders` in `shop` (with a uid, so owner references exist).
pub(crate) fn orders(spec: Value) -> DRMySQL {
    serde_json::from_value(json!({
        "apiVersion": "drmysql.io/v1alpha1",
        "kind": "DRMySQL",
        "metadata": {"name": "orders", "namespace": "shop", "uid": "3f0e2c1a-0000-4000-8000-000000000001"},
        "spec": spec
    }))
    .expect("valid DRMySQL")
}

fn seed_scenario() -> DRMySQL {
    orders(json!({
        "engine": {"image": "mariadb:11.4"},
        "primary": {"name": "cloud-a", "node": "vm-0-7-rockylinux"},
        "replicas": [{"name": "tencent", "node": "kosmos-member-tencent"}]
    }))
}

fn context(primary: &str) -> BuildContext {
    BuildContext {
        sidecar_image: "registry.example/drmysql:0.1.0".to_owned(),
        current_primary: primary.to_owned(),
        roles: Default::default(),
    }
}

fn required_hostnames(pod: &Pod) -> Vec<String> {
    let affinity = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.affinity.clone())
        .expect("affinity");
    let required = affinity
        .node_affinity
        .and_then(|node| node.required_during_scheduling_ignored_during_execution)
        .expect("required node affinity");
    let expression = &required.node_selector_terms[0]
        .match_expressions
        .as_ref()
        .expect("expressions")[0];
    assert_eq!(
        (expression.key.as_str(), expression.operator.as_str()),
        ("kubernetes.io/hostname", "In")
    );
    expression.values.clone().unwrap_or_default()
}

fn tolerations(pod: &Pod) -> Vec<Toleration> {
    pod.spec
        .as_ref()
        .and_then(|spec| spec.tolerations.clone())
        .unwrap_or_default()
}

fn role(pod: &Pod) -> String {
    pod.metadata.labels.as_ref().expect("labels")["drmysql.io/role"].clone()
}

#[test]
fn instances_are_pinned_to_their_nodes_and_tolerate_virtual_nodes() {
    let desired = build(&seed_scenario(), &context("orders-cloud-a"));
    let [primary, replica] = desired.pods.as_slice() else {
        panic!("two pods expected");
    };
    assert_eq!(primary.metadata.name.as_deref(), Some("orders-cloud-a"));
    assert_eq!(required_hostnames(primary), ["vm-0-7-rockylinux"]);
    assert_eq!(required_hostnames(replica), ["kosmos-member-tencent"]);
    let kosmos = tolerations(replica);
    assert_eq!(kosmos.len(), 1);
    assert_eq!(
        (
            kosmos[0].key.as_deref(),
            kosmos[0].value.as_deref(),
            kosmos[0].effect.as_deref()
        ),
        (Some("kosmos.io/node"), Some("true"), Some("NoSchedule"))
    );
    assert_eq!(
        (role(primary), role(replica)),
        ("primary".to_owned(), "replica".to_owned())
    );
}

#[test]
fn overrides_replace_the_generated_placement() {
    let drmysql = orders(json!({
        "engine": {"image": "mariadb:11.4"},
        "primary": {"node": "host-1", "tolerations": []},
        "replicas": [
            {"nodeSelector": {"topology.kubernetes.io/region": "ap-guangzhou"},
             "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]},
            {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kosmos.io/node", "operator": "In", "values": ["true"]}]}]}}}}
        ]
    }));
    let desired = build(&drmysql, &context("orders-0"));
    assert!(
        tolerations(&desired.pods[0]).is_empty(),
        "an explicit empty list means no tolerations"
    );
    let selector_pod = desired.pods[1].spec.as_ref().expect("spec");
    assert!(selector_pod.affinity.is_none());
    assert_eq!(
        selector_pod.node_selector.as_ref().expect("selector")["topology.kubernetes.io/region"],
        "ap-guangzhou"
    );
    assert_eq!(tolerations(&desired.pods[1])[0].key.as_deref(), Some("dedicated"));
    let affinity_pod = desired.pods[2].spec.as_ref().expect("spec");
    let term = &affinity_pod
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| n.required_during_scheduling_ignored_during_execution.as_ref())
        .expect("user affinity")
        .node_selector_terms[0];
    assert_eq!(
        term.match_expressions.as_ref().expect("expressions")[0].key,
        "kosmos.io/node"
    );
}

#[test]
fn the_role_label_follows_the_current_primary() {
    let desired = build(&seed_scenario(), &context("orders-tencent"));
    assert_eq!(role(&desired.pods[0]), "replica");
    assert_eq!(role(&desired.pods[1]), "primary");
}

#[test]
fn pods_carry_mysqld_and_the_sidecar_with_probes_volumes_and_secrets() {
    let drmysql = orders(json!({
        "engine": {"image": "mariadb:11.4", "imagePullPolicy": "IfNotPresent", "imagePullSecrets": [{"name": "regcred"}]},
        "primary": {"node": "n0"},
        "replicas": [{"node": "n1"}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
        "lag": {"alertThresholdSeconds": 12.5}
    }));
    let pod = &build(&drmysql, &context("orders-0")).pods[0];
    let spec = pod.spec.as_ref().expect("spec");
    let [mysqld, sidecar] = spec.containers.as_slice() else {
        panic!("two containers expected");
    };
    assert_eq!(mysqld.image.as_deref(), Some("mariadb:11.4"));
    assert_eq!(mysqld.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(
        spec.image_pull_secrets.as_ref().expect("pull secrets")[0].name,
        "regcred"
    );
    assert!(mysqld.startup_probe.is_some() && mysqld.liveness_probe.is_some());
    assert_eq!(
        mysqld
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .expect("requests")["cpu"]
            .0,
        "500m"
    );
    let root = mysqld
        .env
        .as_ref()
        .expect("env")
        .iter()
        .find(|e| e.name == "MARIADB_ROOT_PASSWORD")
        .expect("root");
    let reference = root
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .expect("from a Secret");
    assert_eq!(
        (reference.name.as_str(), reference.key.as_str()),
        ("orders-credentials", "root-password")
    );
    assert!(root.value.is_none(), "passwords are never inlined");

    assert_eq!(sidecar.image.as_deref(), Some("registry.example/drmysql:0.1.0"));
    assert_eq!(sidecar.args.as_deref(), Some(["sidecar".to_owned()].as_slice()));
    let readiness = sidecar
        .readiness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("readiness");
    assert_eq!(readiness.path.as_deref(), Some("/readyz"));
    let env = sidecar.env.as_ref().expect("env");
    let value = |name: &str| env.iter().find(|e| e.name == name).and_then(|e| e.value.clone());
    assert_eq!(value("DRMYSQL_READY_MAX_LAG_SECONDS").as_deref(), Some("12.5"));
    assert_eq!(value("DRMYSQL_HEARTBEAT_INTERVAL_MS").as_deref(), Some("1000"));
    let token = env
        .iter()
        .find(|e| e.name == "DRMYSQL_SIDECAR_TOKEN")
        .expect("token");
    assert_eq!(
        token
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
            .map(|s| s.name.as_str()),
        Some("orders-sidecar")
    );

    let volumes = spec.volumes.as_ref().expect("volumes");
    let data = volumes
        .iter()
        .find(|v| v.name == "data")
        .and_then(|v| v.persistent_volume_claim.as_ref());
    assert_eq!(data.map(|claim| claim.claim_name.as_str()), Some("orders-0-data"));
    let config = volumes
        .iter()
        .find(|v| v.name == "config")
        .and_then(|v| v.config_map.as_ref());
    assert_eq!(config.map(|map| map.name.as_str()), Some("orders-0-config"));
    assert!(
        volumes.iter().any(|v| v.downward_api.is_some()),
        "the sidecar sees its role label change"
    );
    let owner = &pod.metadata.owner_references.as_ref().expect("owned")[0];
    assert_eq!((owner.kind.as_str(), owner.controller), ("DRMySQL", Some(true)));
}

#[test]
fn services_select_by_role_with_the_requested_type() {
    let drmysql = orders(json!({
        "engine": {"image": "mariadb:11.4"},
        "primary": {"node": "n0"},
        "replicas": [{"node": "n1"}],
        "service": {"type": "LoadBalancer", "loadBalancerIP": "192.168.10.240", "nodePort": 30306,
                    "externalTrafficPolicy": "Local", "annotations": {"metallb.universe.tf/address-pool": "mysql"}}
    }));
    let services = build(&drmysql, &context("orders-0")).services;
    let names: Vec<&str> = services
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    assert_eq!(
        names,
        ["orders-primary", "orders-replicas", "orders-0", "orders-1"]
    );

    let writer = services[0].spec.as_ref().expect("spec");
    assert_eq!(writer.type_.as_deref(), Some("LoadBalancer"));
    assert_eq!(writer.load_balancer_ip.as_deref(), Some("192.168.10.240"));
    assert_eq!(writer.external_traffic_policy.as_deref(), Some("Local"));
    assert_eq!(writer.ports.as_ref().expect("ports")[0].node_port, Some(30306));
    let selector = writer.selector.as_ref().expect("selector");
    assert_eq!(selector["drmysql.io/role"], "primary");
    assert_eq!(selector["drmysql.io/cluster"], "orders");
    assert_eq!(
        services[0].metadata.annotations.as_ref().expect("annotations")["metallb.universe.tf/address-pool"],
        "mysql"
    );

    let reader = services[1].spec.as_ref().expect("spec");
    assert_eq!(reader.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(
        reader.selector.as_ref().expect("selector")["drmysql.io/role"],
        "replica"
    );
    assert_eq!(reader.ports.as_ref().expect("ports")[0].node_port, None);

    let headless = services[3].spec.as_ref().expect("spec");
    assert_eq!(headless.cluster_ip.as_deref(), Some("None"));
    assert_eq!(headless.publish_not_ready_addresses, Some(true));
    assert_eq!(
        headless.selector.as_ref().expect("selector")["drmysql.io/instance"],
        "orders-1"
    );

    let without_readers = orders(json!({
        "engine": {"image": "mariadb:11.4"},
        "primary": {"node": "n0"},
        "replicas": [{"node": "n1"}],
        "service": {"readers": {"enabled": false}}
    }));
    let services = build(&without_readers, &context("orders-0")).services;
    assert!(
        services
            .iter()
            .all(|s| s.metadata.name.as_deref() != Some("orders-replicas"))
    );
    assert_eq!(
        services[0]
            .spec
            .as_ref()
            .and_then(|s| s.external_traffic_policy.clone()),
        None
    );
}

#[test]
fn volumes_are_kept_unless_delete_on_delete() {
    let kept = build(&seed_scenario(), &context("orders-cloud-a"));
    let claim = &kept.persistent_volume_claims[0];
    assert_eq!(claim.metadata.name.as_deref(), Some("orders-cloud-a-data"));
    assert!(
        claim.metadata.owner_references.is_none(),
        "kept PVCs are not garbage-collected with the DRMySQL"
    );
    let spec = claim.spec.as_ref().expect("spec");
    assert_eq!(
        spec.resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .expect("requests")["storage"]
            .0,
        "10Gi"
    );
    assert_eq!(
        spec.access_modes.as_deref(),
        Some(["ReadWriteOnce".to_owned()].as_slice())
    );

    let deleting = orders(json!({
        "engine": {"image": "mariadb:11.4"},
        "primary": {"node": "n0"},
        "replicas": [{"node": "n1"}],
        "storage": {"size": "50Gi", "storageClassName": "cbs-ssd", "deleteOnDelete": true}
    }));
    let claim = &build(&deleting, &context("orders-0")).persistent_volume_claims[1];
    assert!(claim.metadata.owner_references.is_some());
    assert_eq!(
        claim.spec.as_ref().and_then(|s| s.storage_class_name.as_deref()),
        Some("cbs-ssd")
    );
}

#[test]
fn config_maps_hold_each_instances_my_cnf() {
    let desired = build(&seed_scenario(), &context("orders-cloud-a"));
    let config = &desired.config_maps[1];
    assert_eq!(config.metadata.name.as_deref(), Some("orders-tencent-config"));
    let cnf = &config.data.as_ref().expect("data")[config::MY_CNF_KEY];
    assert!(cnf.contains(&format!("server_id = {}", config::server_id("orders-tencent", 0))));

    // A rebuilt instance boots with the server_id of its rebuild.
    let mut rebuilt = seed_scenario();
    rebuilt.status = Some(drmysql_api::drmysql::DRMySQLStatus {
        rebuilds: BTreeMap::from([("orders-tencent".to_owned(), 2)]),
        ..Default::default()
    });
    let desired = build(&rebuilt, &context("orders-cloud-a"));
    let cnf = &desired.config_maps[1].data.as_ref().expect("data")[config::MY_CNF_KEY];
    assert!(cnf.contains(&format!(
        "server_id = {}\n",
        config::server_id("orders-tencent", 2)
    )));
    let primary = &desired.config_maps[0].data.as_ref().expect("data")[config::MY_CNF_KEY];
    assert!(primary.contains(&format!(
        "server_id = {}\n",
        config::server_id("orders-cloud-a", 0)
    )));
}

#[test]
fn credentials_secrets_hold_values_as_bytes_and_are_owned() {
    let values = BTreeMap::from([("root-password".to_owned(), "abc".to_owned())]);
    let secret = credentials_secret(&seed_scenario(), "orders-credentials", &values);
    assert_eq!(secret.data.as_ref().expect("data")["root-password"].0, b"abc");
    assert!(secret.metadata.owner_references.is_some());
    assert_eq!(
        secret.metadata.labels.as_ref().expect("labels")["drmysql.io/cluster"],
        "orders"
    );
}

#[test]
fn an_unsaved_drmysql_builds_objects_without_owner_references() {
    let mut drmysql = seed_scenario();
    drmysql.metadata.uid = None;
    let desired = build(&drmysql, &context("orders-cloud-a"));
    assert!(
        desired
            .pods
            .iter()
            .all(|pod| pod.metadata.owner_references.is_none())
    );
}
