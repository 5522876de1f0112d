//! The no-masquerade IPPools: names, specs, the remote ranges after the
//! global map, overlap with local pools, stale deletion, and nothing at all
//! outside Calico.

use serde_json::json;

use super::*;
use crate::test_api::fake_api;

const POOLS: &str = "/apis/crd.projectcalico.org/v1/ippools";

fn cluster(name: &str, options: serde_json::Value, pod: &[&str], service: &[&str]) -> Cluster {
    serde_json::from_value(json!({
        "apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {"clusterLinkOptions": options},
        "status": {"clusterLinkStatus": {"podCIDRs": pod, "serviceCIDRs": service}},
    }))
    .expect("cluster")
}

fn pool(name: &str, spec: serde_json::Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("pool")
}

fn local_pool() -> DynamicObject {
    pool(
        "default-ipv4-ippool",
        json!({"cidr": "10.244.0.0/16", "natOutgoing": true}),
    )
}

fn names(pools: &[DesiredIpPool]) -> Vec<&str> {
    pools.iter().map(|pool| pool.name.as_str()).collect()
}

/// Name, live pools, expected applies, expected deletes.
type PlanCase = (
    &'static str,
    Vec<DynamicObject>,
    Vec<&'static str>,
    Vec<&'static str>,
);

#[test]
fn pool_names_follow_kosmos() {
    let cases = [
        ("b", CidrKind::Pod, "10.2.0.0/16", "clusterlink-b-pod-10-2-0-0-16"),
        (
            "b",
            CidrKind::Service,
            "10.96.0.0/12",
            "clusterlink-b-service-10-96-0-0-12",
        ),
        (
            "member-tencent",
            CidrKind::Pod,
            "fd00:10:244::/64",
            "clusterlink-member-tencent-pod-fd00-10-244---64",
        ),
    ];
    for (cluster, kind, cidr, expected) in cases {
        assert_eq!(ippool_name(cluster, kind, cidr), expected);
    }
}

#[test]
fn the_pool_spec_is_known_but_unused() {
    assert_eq!(
        ippool_spec("10.2.0.0/16"),
        json!({"cidr": "10.2.0.0/16", "natOutgoing": false, "disabled": true, "disableBGPExport": true, "vxlanMode": "Never", "ipipMode": "Never"})
    );
}

#[test]
fn remote_ranges_skip_the_local_and_disabled_clusters_and_apply_the_global_map() {
    let clusters = [
        cluster("a", json!({}), &["10.244.0.0/16"], &["10.96.0.0/12"]),
        cluster(
            "b",
            json!({"globalCIDRsMap": {"10.244.0.0/16": "10.250.0.0/16", "junk": "10.251.0.0/16"}}),
            &["10.244.0.0/16", "10.3.0.0/16", "10.3.0.0/16", "garbage"],
            &["10.97.0.0/16"],
        ),
        cluster("c", json!({"enable": false}), &["10.5.0.0/16"], &[]),
    ];
    let ranges = remote_ranges("a", &clusters);
    assert_eq!(
        ranges
            .iter()
            .map(|range| (range.cluster.as_str(), range.kind, range.cidr.as_str()))
            .collect::<Vec<_>>(),
        [
            ("b", CidrKind::Pod, "10.250.0.0/16"),
            ("b", CidrKind::Pod, "10.3.0.0/16"),
            ("b", CidrKind::Service, "10.97.0.0/16"),
        ]
    );
    let unlinked: Cluster = serde_json::from_value(
        json!({"apiVersion": "kosmos.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "d"}, "spec": {}}),
    )
    .expect("cluster");
    assert_eq!(remote_ranges("a", &[unlinked]), []);
}

#[test]
fn remote_ranges_overlapping_a_local_pool_get_no_pool() {
    let clusters = [
        cluster("a", json!({}), &["10.244.0.0/16"], &[]),
        cluster(
            "b",
            json!({}),
            &["10.244.128.0/17", "10.2.0.0/16"],
            &["10.0.0.0/8"],
        ),
    ];
    let pools = [
        local_pool(),
        // clusterlink's own pools are not local ranges.
        pool("clusterlink-b-pod-10-2-0-0-16", json!({"cidr": "10.2.0.0/16"})),
    ];
    assert_eq!(
        names(&desired_ippools("a", &clusters, &pools)),
        ["clusterlink-b-pod-10-2-0-0-16"],
        "10.244.128.0/17 lies inside, and 10.0.0.0/8 around, the local 10.244.0.0/16"
    );
}

#[test]
fn plan_creates_corrects_and_deletes_stale_pools() {
    let clusters = [
        cluster("a", json!({}), &["10.244.0.0/16"], &[]),
        cluster("b", json!({}), &["10.2.0.0/16"], &["10.97.0.0/16"]),
    ];
    let settled = pool("clusterlink-b-pod-10-2-0-0-16", ippool_spec("10.2.0.0/16"));
    let mut settled_with_defaults = ippool_spec("10.2.0.0/16");
    settled_with_defaults["blockSize"] = json!(26);
    settled_with_defaults["nodeSelector"] = json!("all()");
    let cases: Vec<PlanCase> = vec![
        (
            "fresh",
            vec![local_pool()],
            vec![
                "clusterlink-b-pod-10-2-0-0-16",
                "clusterlink-b-service-10-97-0-0-16",
            ],
            vec![],
        ),
        (
            "pod pool settled (extra fields from Calico's defaults are fine)",
            vec![
                local_pool(),
                pool("clusterlink-b-pod-10-2-0-0-16", settled_with_defaults),
            ],
            vec!["clusterlink-b-service-10-97-0-0-16"],
            vec![],
        ),
        (
            "someone enabled the pool: corrected",
            vec![
                local_pool(),
                pool(
                    "clusterlink-b-pod-10-2-0-0-16",
                    json!({"cidr": "10.2.0.0/16", "disabled": false, "natOutgoing": false, "disableBGPExport": true, "vxlanMode": "Never", "ipipMode": "Never"}),
                ),
                pool("clusterlink-b-service-10-97-0-0-16", ippool_spec("10.97.0.0/16")),
            ],
            vec!["clusterlink-b-pod-10-2-0-0-16"],
            vec![],
        ),
        (
            "stale pools of a changed range and of a cluster that left",
            vec![
                local_pool(),
                settled.clone(),
                pool("clusterlink-b-service-10-97-0-0-16", ippool_spec("10.97.0.0/16")),
                pool("clusterlink-b-pod-10-9-0-0-16", ippool_spec("10.9.0.0/16")),
                pool("clusterlink-gone-pod-10-7-0-0-16", ippool_spec("10.7.0.0/16")),
            ],
            vec![],
            vec![
                "clusterlink-b-pod-10-9-0-0-16",
                "clusterlink-gone-pod-10-7-0-0-16",
            ],
        ),
    ];
    for (name, pools, apply, delete) in cases {
        let plan = plan_ippools(Cni::Calico, "a", &clusters, &pools);
        assert_eq!(names(&plan.apply), apply, "{name}: apply");
        assert_eq!(plan.delete, delete, "{name}: delete");
    }
}

#[test]
fn nothing_happens_outside_calico() {
    let clusters = [
        cluster("a", json!({}), &["10.244.0.0/16"], &[]),
        cluster("b", json!({}), &["10.2.0.0/16"], &[]),
    ];
    let stale = [pool(
        "clusterlink-gone-pod-10-7-0-0-16",
        ippool_spec("10.7.0.0/16"),
    )];
    for cni in [Cni::Flannel, Cni::Cilium, Cni::Other] {
        assert_eq!(
            plan_ippools(cni, "a", &clusters, &stale),
            IpPoolPlan::default(),
            "{cni:?}"
        );
    }
}

#[tokio::test]
async fn sync_applies_deletes_and_then_writes_nothing() {
    let (member, store) = fake_api();
    {
        let mut store = store.lock().expect("store");
        store.put(
            &format!("{POOLS}/default-ipv4-ippool"),
            serde_json::to_value(local_pool()).expect("json"),
        );
        store.put(
            &format!("{POOLS}/clusterlink-gone-pod-10-7-0-0-16"),
            serde_json::to_value(pool(
                "clusterlink-gone-pod-10-7-0-0-16",
                ippool_spec("10.7.0.0/16"),
            ))
            .expect("json"),
        );
    }
    let clusters = [
        cluster("a", json!({}), &["10.244.0.0/16"], &[]),
        cluster("b", json!({}), &["10.2.0.0/16"], &[]),
    ];
    let list = |store: &crate::test_api::Shared| -> Vec<DynamicObject> {
        store
            .lock()
            .expect("store")
            .objects
            .iter()
            .filter(|(path, _)| path.starts_with(POOLS))
            .map(|(_, object)| serde_json::from_value(object.clone()).expect("pool"))
            .collect()
    };

    let report = sync_ippools(&member, Cni::Calico, "a", &clusters, &list(&store))
        .await
        .expect("sync");
    assert_eq!(
        report,
        IpPoolSyncReport {
            applied: 1,
            deleted: 1
        }
    );
    let writes = store.lock().expect("store").take_writes();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!(writes[0].path, format!("{POOLS}/clusterlink-b-pod-10-2-0-0-16"));
    assert_eq!(writes[0].content_type, "application/apply-patch+yaml");
    assert!(
        writes[0].query.contains("fieldManager=drmysql-discovery"),
        "{}",
        writes[0].query
    );
    assert_eq!(writes[0].body["spec"], ippool_spec("10.2.0.0/16"));
    assert_eq!(writes[1].method, http::Method::DELETE);
    assert_eq!(
        writes[1].path,
        format!("{POOLS}/clusterlink-gone-pod-10-7-0-0-16")
    );

    let report = sync_ippools(&member, Cni::Calico, "a", &clusters, &list(&store))
        .await
        .expect("second sync");
    assert_eq!(report, IpPoolSyncReport::default());
    assert_eq!(
        store.lock().expect("store").take_writes(),
        [],
        "settled pools write nothing"
    );
}
