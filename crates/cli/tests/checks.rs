//! `check-tunnel` and `rebuild` run as a user runs them, against the e2e API
//! simulator, with a background task playing the controller's part
//! (`support::controller`), and the validation every request goes through.
//! Covered: the tunnel matrix with an unreachable pair (exit 1) and, after
//! a second check, as JSON; a rebuild refused without `--yes` (and of the
//! primary) with nothing written, and done with it; an unknown instance, the
//! primary as `--to`, a missing DRMySQL, a wrong namespace and a transition in
//! progress, none of which writes anything.

mod support;

use std::time::Duration;

use serde_json::{Value, json};

use support::controller::{
    annotations, answer, api, progress, remove, requested, resource_version, running_status,
};
use support::{Cluster, has_row, patch_status};

/// Now, to the microsecond, as the controller's `Utc::now()` is written: two
/// checks in the same second must still be told apart.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn checks(reachable_back: bool) -> Value {
    let back = if reachable_back {
        json!({"from": "orders-tencent", "to": "orders-cloud-a", "reachable": true, "rttMs": 12.9,
               "checkedAt": now()})
    } else {
        json!({"from": "orders-tencent", "to": "orders-cloud-a", "reachable": false, "checkedAt": now(),
               "error": "connect timeout after 2s"})
    };
    json!([
        {"from": "orders-cloud-a", "to": "orders-tencent", "reachable": true, "rttMs": 12.34, "checkedAt": now()},
        back
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_tunnel_prints_the_matrix_and_fails_on_an_unreachable_pair() {
    let cluster = Cluster::start().await;
    cluster.create_orders("default", running_status()).await;
    let client = cluster.client.clone();
    let controller = tokio::spawn(async move {
        let mut values = Vec::new();
        for reachable_back in [false, true] {
            let seen = requested(&client, "drmysql.io/check-tunnel").await;
            values.push(seen["drmysql.io/check-tunnel"].clone());
            // The probes take a moment; the annotation goes with the answer.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let checks = checks(reachable_back);
            patch_status(
                &client,
                "default",
                json!({"tunnel": checks,
                       "lastRequest": answer("CheckTunnel", None, false, "Done", "2 pairs checked")}),
            )
            .await;
            remove(&client, &["drmysql.io/check-tunnel"]).await;
        }
        values
    });

    let broken = cluster.run(&["check-tunnel", "orders"]).await;
    assert_eq!(broken.code, Some(1), "{}", broken.stderr);
    let text = &broken.stdout;
    assert!(
        text.starts_with("Tunnel round trips of DRMySQL default/orders, checked "),
        "{text}"
    );
    assert!(
        has_row(text, &["FROM\\TO", "orders-cloud-a", "orders-tencent"]),
        "{text}"
    );
    assert!(has_row(text, &["orders-cloud-a", "-", "12.3ms"]), "{text}");
    assert!(has_row(text, &["orders-tencent", "unreachable", "-"]), "{text}");
    assert!(
        text.ends_with("\nUnreachable:\n  orders-tencent → orders-cloud-a: connect timeout after 2s\n"),
        "{text}"
    );
    assert!(
        broken
            .stderr
            .trim_end()
            .ends_with("error: 1 of 2 tunnel checks failed: orders-tencent → orders-cloud-a is unreachable"),
        "{}",
        broken.stderr
    );

    let healthy = cluster.run(&["check-tunnel", "orders", "-o", "json"]).await;
    assert_eq!(healthy.code, Some(0), "{}", healthy.stderr);
    let json: Value = serde_json::from_str(&healthy.stdout).expect("-o json prints JSON");
    let written = api(&cluster.client)
        .get("orders")
        .await
        .expect("orders")
        .status
        .expect("a status")
        .tunnel;
    assert_eq!(json, serde_json::to_value(written).expect("JSON"));
    assert_eq!(json[1]["rttMs"], 12.9);

    let values = controller.await.expect("the controller's part ran");
    for value in values {
        chrono::DateTime::parse_from_rfc3339(&value)
            .unwrap_or_else(|error| panic!("{value:?} is an RFC 3339 time: {error}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_needs_yes_and_writes_nothing_without_it() {
    let cluster = Cluster::start().await;
    cluster.create_orders("default", running_status()).await;
    let version = resource_version(&cluster.client).await;

    let unconfirmed = cluster.run(&["rebuild", "orders", "tencent"]).await;
    assert_eq!(
        unconfirmed.failed().trim_end(),
        "error: rebuild is destructive: the controller deletes the Pod and the volume of orders-tencent, \
         re-creates them empty, and orders-tencent copies all its data again from orders-cloud-a. Nothing was \
         changed; to confirm, run `kubectl drmysql rebuild orders orders-tencent -n default --yes`"
    );
    let primary = cluster
        .run(&["rebuild", "orders", "orders-cloud-a", "--yes"])
        .await;
    assert!(
        primary
            .failed()
            .contains("orders-cloud-a is the primary of DRMySQL default/orders (status.currentPrimary)"),
        "{}",
        primary.stderr
    );
    assert_eq!(
        resource_version(&cluster.client).await,
        version,
        "nothing was written"
    );

    let client = cluster.client.clone();
    let controller = tokio::spawn(async move {
        let seen = requested(&client, "drmysql.io/rebuild").await;
        patch_status(
            &client,
            "default",
            json!({"lastRequest": answer("Rebuild", Some("orders-tencent"), false, "Done",
                                         "re-creating the Pod and volume of orders-tencent")}),
        )
        .await;
        remove(&client, &["drmysql.io/rebuild"]).await;
        seen
    });
    let confirmed = cluster
        .run(&["rebuild", "orders", "orders-tencent", "--yes"])
        .await;
    let seen = controller.await.expect("the controller's part ran");
    assert_eq!(
        seen.get("drmysql.io/rebuild").map(String::as_str),
        Some("orders-tencent")
    );
    assert_eq!(confirmed.code, Some(0), "{}", confirmed.stderr);
    assert!(
        confirmed
            .stdout
            .starts_with("Rebuild of orders-tencent: Done at ")
            && confirmed
                .stdout
                .ends_with(": re-creating the Pod and volume of orders-tencent\n"),
        "{}",
        confirmed.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_name_what_to_fix_and_write_nothing() {
    let cluster = Cluster::start().await;
    cluster.create_orders("default", running_status()).await;
    let version = resource_version(&cluster.client).await;

    let unknown = cluster.run(&["switchover", "orders", "--to", "orders-aws"]).await;
    assert_eq!(
        unknown.failed().trim_end(),
        "error: --to \"orders-aws\" is not an instance of DRMySQL default/orders; its instances are: \
         orders-cloud-a, orders-tencent"
    );
    let primary = cluster.run(&["failover", "orders", "--to", "cloud-a"]).await;
    assert_eq!(
        primary.failed().trim_end(),
        "error: orders-cloud-a is already the primary of DRMySQL default/orders (status.currentPrimary); --to \
         must name another instance: orders-tencent"
    );
    let missing = cluster
        .run(&["rebuild", "nosuch", "orders-tencent", "--yes"])
        .await;
    assert!(
        missing
            .failed()
            .contains("DRMySQL \"nosuch\" not found in namespace \"default\""),
        "{}",
        missing.stderr
    );
    let wrong_namespace = cluster.run(&["check-tunnel", "orders", "-n", "prod"]).await;
    assert!(
        wrong_namespace
            .failed()
            .contains("it exists in namespace \"default\": pass -n default"),
        "{}",
        wrong_namespace.stderr
    );
    assert_eq!(resource_version(&cluster.client).await, version);

    cluster
        .patch_status(
            "default",
            json!({"failover": progress("Failover", "Promote", false)}),
        )
        .await;
    let version = resource_version(&cluster.client).await;
    let busy = cluster
        .run(&["switchover", "orders", "--to", "orders-tencent"])
        .await;
    let busy = busy.failed();
    assert!(
        busy.starts_with("error: a Failover from orders-cloud-a to orders-tencent (step Promote, started "),
        "{busy}"
    );
    assert!(
        busy.contains(") is in progress on DRMySQL default/orders (status.failover); wait for it to finish"),
        "{busy}"
    );
    assert_eq!(resource_version(&cluster.client).await, version);
    assert!(annotations(&cluster.client).await.is_empty());
}
