//! Choosing a cluster's pod CIDR source, keeping what is recorded when a
//! source is silent, and writing the status only when it changed.

use drmysql_api::clusterlink::ClusterStatus;
use serde_json::json;

use super::*;
use crate::test_api::{Store, fake_api};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn options(cni: &str, manual: &[&str]) -> ClusterLinkOptions {
    ClusterLinkOptions {
        cni: cni.to_owned(),
        cluster_pod_cidrs: strings(manual),
        ..ClusterLinkOptions::default()
    }
}

/// CNI, manual list, readings, expected pod CIDRs.
type SourceCase<'a> = (&'a str, &'a [&'a str], &'a PodCidrReadings, Option<&'a [&'a str]>);

#[test]
fn cni_names() {
    let cases = [
        ("calico", Cni::Calico),
        ("", Cni::Calico),
        ("Calico", Cni::Calico),
        ("flannel", Cni::Flannel),
        (" FLANNEL ", Cni::Flannel),
        ("cilium", Cni::Cilium),
        ("globalrouter", Cni::Other),
        ("kube-ovn", Cni::Other),
    ];
    for (name, expected) in cases {
        assert_eq!(Cni::of(&options(name, &[])), expected, "{name:?}");
    }
}

#[test]
fn pod_cidr_source_by_cni_and_the_manual_list_wins() {
    let readings = PodCidrReadings {
        calico: Some(strings(&["10.244.0.0/16"])),
        flannel: Some(strings(&["10.42.0.0/16"])),
        cilium: Some(strings(&["10.0.0.0/8"])),
        nodes: Some(strings(&["10.1.1.0/24", "10.1.2.0/24"])),
    };
    let silent = PodCidrReadings {
        calico: Some(Vec::new()),
        flannel: None,
        cilium: None,
        nodes: Some(strings(&["10.1.1.0/24"])),
    };
    let cases: &[SourceCase] = &[
        ("calico", &[], &readings, Some(&["10.244.0.0/16"])),
        ("flannel", &[], &readings, Some(&["10.42.0.0/16"])),
        ("cilium", &[], &readings, Some(&["10.0.0.0/8"])),
        (
            "globalrouter",
            &[],
            &readings,
            Some(&["10.1.1.0/24", "10.1.2.0/24"]),
        ),
        (
            "globalrouter",
            &["172.16.0.0/16", "172.16.5.5/16", "junk"],
            &readings,
            Some(&["172.16.0.0/16"]),
        ),
        ("calico", &["172.16.0.0/16"], &readings, Some(&["172.16.0.0/16"])),
        ("calico", &[], &silent, None),
        ("flannel", &[], &silent, None),
        ("cilium", &[], &silent, Some(&["10.1.1.0/24"])),
        ("other", &[], &PodCidrReadings::default(), None),
        ("calico", &["junk"], &silent, None),
    ];
    for (cni, manual, readings, expected) in cases {
        assert_eq!(
            choose_pod_cidrs(&options(cni, manual), readings),
            expected.map(strings),
            "cni {cni}, manual {manual:?}"
        );
    }
}

#[test]
fn a_silent_source_keeps_what_is_recorded() {
    let recorded = ClusterLinkStatus {
        pod_cidrs: strings(&["10.244.0.0/16"]),
        service_cidrs: strings(&["10.96.0.0/12"]),
    };
    let cases = [
        (None, None, recorded.clone()),
        (Some(Vec::new()), Some(Vec::new()), recorded.clone()),
        (
            Some(strings(&["10.245.0.0/16"])),
            None,
            ClusterLinkStatus {
                pod_cidrs: strings(&["10.245.0.0/16"]),
                service_cidrs: strings(&["10.96.0.0/12"]),
            },
        ),
        (
            None,
            Some(strings(&["10.97.0.0/16"])),
            ClusterLinkStatus {
                pod_cidrs: strings(&["10.244.0.0/16"]),
                service_cidrs: strings(&["10.97.0.0/16"]),
            },
        ),
    ];
    for (pod, service, expected) in cases {
        assert_eq!(
            desired_status(&recorded, pod.clone(), service.clone()),
            expected,
            "{pod:?} {service:?}"
        );
    }
}

#[test]
fn the_status_patch_names_only_the_link_status_and_only_on_change() {
    let recorded = ClusterLinkStatus {
        pod_cidrs: strings(&["10.244.0.0/16"]),
        service_cidrs: Vec::new(),
    };
    assert_eq!(status_patch(&recorded, &recorded), None);
    let desired = ClusterLinkStatus {
        pod_cidrs: strings(&["10.244.0.0/16"]),
        service_cidrs: strings(&["10.96.0.0/12"]),
    };
    assert_eq!(
        status_patch(&recorded, &desired),
        Some(
            json!({"status": {"clusterLinkStatus": {"podCIDRs": ["10.244.0.0/16"], "serviceCIDRs": ["10.96.0.0/12"]}}})
        )
    );
}

const CLUSTER_A: &str = "/apis/kosmos.io/v1alpha1/clusters/a";

fn cluster(cni: &str, status: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster",
        "metadata": {"name": "a", "resourceVersion": "1"},
        "spec": {"clusterLinkOptions": {"cni": cni}},
        "status": status,
    })
}

fn parsed(value: &serde_json::Value) -> Cluster {
    serde_json::from_value(value.clone()).expect("cluster")
}

fn flannel_member(store: &std::sync::Mutex<Store>) {
    let mut store = store.lock().expect("store");
    store.put(
        "/api/v1/namespaces/kube-system/configmaps/kube-flannel-cfg",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-flannel-cfg", "namespace": "kube-system"},
               "data": {"net-conf.json": "{\"Network\": \"10.42.0.0/16\", \"Backend\": {\"Type\": \"vxlan\"}}"}}),
    );
    store.put(
        "/api/v1/namespaces/kube-system/pods/kube-apiserver-cp1",
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "kube-apiserver-cp1", "namespace": "kube-system", "labels": {"component": "kube-apiserver"}},
               "spec": {"containers": [{"name": "kube-apiserver", "image": "k", "command": ["kube-apiserver", "--service-cluster-ip-range=10.43.0.0/16"]}]}}),
    );
    store.put(
        "/api/v1/namespaces/kube-system/pods/coredns",
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
               "spec": {"containers": [{"name": "coredns", "image": "c", "args": ["--service-cluster-ip-range=192.168.0.0/16"]}]}}),
    );
}

#[tokio::test]
async fn flannel_falls_back_to_kube_system_and_the_status_is_written_once() {
    let (member, member_store) = fake_api();
    let (host, host_store) = fake_api();
    flannel_member(&member_store);
    let initial = cluster(
        "flannel",
        json!({"clusterTreeStatus": {"leafNodeItems": [{"leafNodeName": "kosmos-a"}]}}),
    );
    host_store.lock().expect("store").put(CLUSTER_A, initial.clone());
    let own = parsed(&initial);
    let options = own.enabled_link_options().expect("enabled").clone();

    let written = sync_status(&member, &host, &own, &options, None, None)
        .await
        .expect("sync");
    assert!(written);
    let writes = host_store.lock().expect("store").take_writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    let write = &writes[0];
    assert_eq!(write.path, CLUSTER_A, "the main resource, not /status");
    assert_eq!(write.content_type, "application/merge-patch+json");
    assert!(
        write.query.contains("fieldManager=drmysql-discovery"),
        "{}",
        write.query
    );
    assert_eq!(
        write.body,
        json!({"status": {"clusterLinkStatus": {"podCIDRs": ["10.42.0.0/16"], "serviceCIDRs": ["10.43.0.0/16"]}}}),
        "only the link status; the coredns Pod is not an API server"
    );
    let stored = host_store.lock().expect("store").objects[CLUSTER_A].clone();
    assert_eq!(
        stored["status"]["clusterTreeStatus"]["leafNodeItems"][0]["leafNodeName"],
        "kosmos-a"
    );

    let own = parsed(&stored);
    let written = sync_status(&member, &host, &own, &options, None, None)
        .await
        .expect("second sync");
    assert!(!written);
    assert_eq!(
        host_store.lock().expect("store").take_writes(),
        [],
        "a settled status writes nothing"
    );
}

#[tokio::test]
async fn nothing_discovered_writes_nothing() {
    let (member, _member_store) = fake_api();
    let (host, host_store) = fake_api();
    let recorded = cluster(
        "flannel",
        json!({"clusterLinkStatus": {"podCIDRs": ["10.42.0.0/16"], "serviceCIDRs": ["10.43.0.0/16"]}}),
    );
    host_store.lock().expect("store").put(CLUSTER_A, recorded.clone());
    let own = parsed(&recorded);
    let options = own.enabled_link_options().expect("enabled").clone();
    let written = sync_status(&member, &host, &own, &options, None, None)
        .await
        .expect("sync");
    assert!(
        !written,
        "no ConfigMap and no API server Pod: the recorded CIDRs stay"
    );
    assert_eq!(host_store.lock().expect("store").take_writes(), []);
}

#[tokio::test]
async fn calico_pools_read_by_the_pass_are_used_and_the_manual_list_wins() {
    let (member, _member_store) = fake_api();
    let (host, host_store) = fake_api();
    let initial = cluster("calico", json!(null));
    host_store.lock().expect("store").put(CLUSTER_A, initial.clone());
    let own = Cluster {
        status: Some(ClusterStatus::default()),
        ..parsed(
            &json!({"apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "a"}, "spec": {}}),
        )
    };
    let pools: Vec<DynamicObject> = vec![
        serde_json::from_value(
            json!({"metadata": {"name": "default-ipv4-ippool"}, "spec": {"cidr": "10.244.0.0/16"}}),
        )
        .expect("pool"),
    ];
    let calico = options("calico", &[]);
    assert!(
        sync_status(&member, &host, &own, &calico, None, Some(&pools))
            .await
            .expect("sync")
    );
    let writes = host_store.lock().expect("store").take_writes();
    assert_eq!(
        writes[0].body["status"]["clusterLinkStatus"]["podCIDRs"],
        json!(["10.244.0.0/16"])
    );

    let manual = options("calico", &["172.16.0.0/16"]);
    assert!(
        sync_status(&member, &host, &own, &manual, None, Some(&pools))
            .await
            .expect("sync")
    );
    let writes = host_store.lock().expect("store").take_writes();
    assert_eq!(
        writes[0].body["status"]["clusterLinkStatus"]["podCIDRs"],
        json!(["172.16.0.0/16"])
    );
}
