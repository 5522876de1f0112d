//! `switchover` and `failover` run as a user runs them, against the e2e API
//! simulator, with a background task playing the controller's part of the
//! contract (`support::controller`): it waits for the request annotation,
//! notes what was written, answers in `status.lastRequest`, removes the
//! annotation, steps through `status.failover` and appends to
//! `status.history`. Covered: a switchover run through real kubectl's plugin
//! discovery to its history record; a refusal; a forced failover's warning
//! and annotations; a failover the controller leaves pending timing out with
//! the PrimaryAvailable condition and the withdrawal command; `--no-wait`.

mod support;

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::json;

use support::controller::{annotations, answer, api, carry_out, progress, remove, requested, running_status};
use support::{Cluster, ago, has_row, patch_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switchover_run_through_kubectl_ends_with_its_history_record() {
    let cluster = Cluster::start().await;
    cluster.create_orders("default", running_status()).await;
    let client = cluster.client.clone();
    let controller = tokio::spawn(async move {
        let seen = requested(&client, "drmysql.io/switchover-to").await;
        // Answered and started in one status write, then the annotation removed.
        patch_status(
            &client,
            "default",
            json!({
                "lastRequest": answer("Switchover", Some("orders-tencent"), false, "Started",
                                      "switching over from orders-cloud-a"),
                "failover": progress("Switchover", "CatchUp", false)
            }),
        )
        .await;
        remove(&client, &["drmysql.io/switchover-to"]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let record = json!({
            "kind": "Switchover", "from": "orders-cloud-a", "to": "orders-tencent",
            "reason": "kubectl drmysql switchover", "startedAt": ago(1), "finishedAt": ago(0),
            "outcome": "Succeeded", "forced": false, "durationSeconds": 1.4, "rpoSeconds": 0.0,
            "promotedGtids": "0-1-2000"
        });
        carry_out(&client, "Switchover", false, record).await;
        seen
    });

    // The short instance name is accepted and written in full.
    let run = cluster
        .kubectl(&[
            "drmysql",
            "switchover",
            "orders",
            "--to",
            "tencent",
            "--timeout",
            "30s",
        ])
        .await;
    let seen = controller.await.expect("the controller's part ran");
    assert_eq!(
        seen.get("drmysql.io/switchover-to").map(String::as_str),
        Some("orders-tencent")
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for line in [
        "Switchover to orders-tencent: Started at ",
        "Switchover orders-cloud-a → orders-tencent: Succeeded\n",
        "  Duration:       1.4s\n",
        "  RPO estimate:   0s\n",
        "  Forced:         no\n",
        "  Promoted GTIDs: 0-1-2000\n",
        "  Lost GTIDs:     -\n",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in:\n{}", run.stdout);
    }
    for progress in [
        "Asked for a switchover to orders-tencent on DRMySQL default/orders (drmysql.io/switchover-to=\"orders-tencent\")",
        "Switchover orders-cloud-a → orders-tencent: step CatchUp",
        "Switchover orders-cloud-a → orders-tencent: step Promote",
        "Switchover orders-cloud-a → orders-tencent: step MoveWriterEndpoint",
    ] {
        assert!(run.stderr.contains(progress), "{progress:?} in:\n{}", run.stderr);
    }
    assert!(annotations(&cluster.client).await.is_empty());

    // `status` now shows the answer and the new record with its new columns.
    let status = cluster.run(&["status", "orders"]).await;
    let text = status.ok();
    assert!(
        has_row(
            text,
            &[
                "Last",
                "request:",
                "Switchover",
                "to",
                "orders-tencent,",
                "Started"
            ]
        ),
        "{text}"
    );
    // History rows start with the time; the rest is fixed.
    let record = [
        "Switchover",
        "orders-cloud-a",
        "orders-tencent",
        "Succeeded",
        "1.4s",
        "0s",
        "no",
    ];
    assert!(
        support::cells(text)
            .iter()
            .any(|row| row.len() > record.len() && row[1..].starts_with(&record)),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_prints_the_controllers_message_and_exits_1() {
    let cluster = Cluster::start().await;
    cluster.create_orders("default", running_status()).await;
    let client = cluster.client.clone();
    let controller = tokio::spawn(async move {
        requested(&client, "drmysql.io/switchover-to").await;
        remove(&client, &["drmysql.io/switchover-to"]).await;
        // The answer lands after the removal: the plugin must wait for it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        patch_status(
            &client,
            "default",
            json!({"lastRequest": answer("Switchover", Some("orders-tencent"), false, "Refused",
                   "orders-tencent is 45s behind, above spec.replication.maxLagForFailoverSeconds 30")}),
        )
        .await;
    });
    let run = cluster
        .run(&["switchover", "orders", "--to", "orders-tencent"])
        .await;
    controller.await.expect("the controller's part ran");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.trim_end().ends_with(
            "error: the controller refused the switchover to orders-tencent: orders-tencent is 45s behind, \
             above spec.replication.maxLagForFailoverSeconds 30"
        ),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_failover_warns_first_and_writes_both_annotations() {
    let cluster = Cluster::start().await;
    cluster.create_orders("default", running_status()).await;
    let client = cluster.client.clone();
    let controller = tokio::spawn(async move {
        let seen = requested(&client, "drmysql.io/failover-to").await;
        patch_status(
            &client,
            "default",
            json!({"lastRequest": answer("Failover", Some("orders-tencent"), true, "Started",
                                         "failing over from orders-cloud-a, forced")}),
        )
        .await;
        remove(&client, &["drmysql.io/failover-to", "drmysql.io/failover-force"]).await;
        let record = json!({
            "kind": "Failover", "from": "orders-cloud-a", "to": "orders-tencent",
            "reason": "kubectl drmysql failover --force", "startedAt": ago(9), "finishedAt": ago(0),
            "outcome": "Succeeded", "forced": true, "durationSeconds": 8.7, "rpoSeconds": 3.5,
            "lostGtids": "0-1-1051-1053"
        });
        carry_out(&client, "Failover", true, record).await;
        seen
    });
    let run = cluster
        .run(&["failover", "orders", "--to", "orders-tencent", "--force"])
        .await;
    let seen = controller.await.expect("the controller's part ran");
    assert_eq!(
        seen.get("drmysql.io/failover-to").map(String::as_str),
        Some("orders-tencent")
    );
    assert_eq!(
        seen.get("drmysql.io/failover-force").map(String::as_str),
        Some("true")
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let warning = run
        .stderr
        .find("WARNING: --force bypasses the data-loss guards")
        .unwrap_or_else(|| panic!("a warning in:\n{}", run.stderr));
    let asked = run
        .stderr
        .find("Asked for a forced failover")
        .expect("the request line");
    assert!(
        warning < asked,
        "the warning comes before the write:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "every transaction orders-tencent has not received from orders-cloud-a is lost for good"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("recorded in status.history"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("Failover (forced) orders-cloud-a → orders-tencent: step Promote"),
        "{}",
        run.stderr
    );
    for line in [
        "Failover to orders-tencent (forced): Started at ",
        "Failover orders-cloud-a → orders-tencent: Succeeded\n",
        "  RPO estimate:   3.5s\n",
        "  Forced:         yes\n",
        "  Lost GTIDs:     0-1-1051-1053\n",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in:\n{}", run.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_failover_times_out_with_the_reason_and_the_way_back() {
    let cluster = Cluster::start().await;
    cluster.create_orders("default", running_status()).await;
    // A stale force flag from an earlier request must not make this one forced.
    api(&cluster.client)
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"drmysql.io/failover-force": "true"}}})),
        )
        .await
        .expect("annotate");
    let started = std::time::Instant::now();
    let run = cluster
        .run(&["failover", "orders", "--to", "orders-tencent", "--timeout", "2s"])
        .await;
    assert!(started.elapsed() < Duration::from_secs(20), "the timeout is kept");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(!run.stderr.contains("WARNING"), "not forced: {}", run.stderr);
    assert!(
        run.stderr.contains(
            "waiting: the failover acts once the primary is declared failed; PrimaryAvailable is True \
             (PrimaryHealthy): orders-cloud-a answers the controller and orders-tencent"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "error: timed out after 2s waiting for the controller: the controller has not answered the failover \
             to orders-tencent: the annotation drmysql.io/failover-to is still on DRMySQL default/orders; a \
             failover request waits until the primary is declared failed, and PrimaryAvailable is True \
             (PrimaryHealthy): orders-cloud-a answers the controller and orders-tencent. The request stays \
             pending; withdraw it with `kubectl annotate drm orders -n default drmysql.io/failover-to- \
             drmysql.io/failover-force-`"
        ),
        "{}",
        run.stderr
    );
    // The request stays, without the stale force flag.
    let left = annotations(&cluster.client).await;
    assert_eq!(
        left.get("drmysql.io/failover-to").map(String::as_str),
        Some("orders-tencent")
    );
    assert!(!left.contains_key("drmysql.io/failover-force"), "{left:?}");

    // Asking again is refused while it is pending, with the same way back.
    let again = cluster
        .run(&["switchover", "orders", "--to", "orders-tencent"])
        .await;
    assert!(
        again.failed().contains(
            "drmysql.io/failover-to=\"orders-tencent\" has not been answered by the controller yet; wait for its \
             answer (`kubectl drmysql status orders -n default`), or withdraw it with `kubectl annotate drm \
             orders -n default drmysql.io/failover-to- drmysql.io/failover-force-`"
        ),
        "{}",
        again.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wait_only_writes_the_request() {
    let cluster = Cluster::start().await;
    cluster.create_orders("default", running_status()).await;
    let run = cluster.run(&["switchover", "orders", "--no-wait"]).await;
    assert_eq!(
        run.ok(),
        "Asked for a switchover (to the replica drmysql chooses) on DRMySQL default/orders \
         (drmysql.io/switchover-to=\"\"); not waiting: `kubectl drmysql status orders -n default` shows the \
         answer under \"Last request\"\n"
    );
    assert_eq!(
        annotations(&cluster.client)
            .await
            .get("drmysql.io/switchover-to")
            .map(String::as_str),
        Some("")
    );
}
