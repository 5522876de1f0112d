//! The follower driven through the snapshots a controller would produce:
//! a switchover from annotation to history record, a refusal, a stale answer
//! that must not be taken for the new one, a tunnel check, and the timeout
//! messages of each stage.

use super::*;
use serde_json::{Value, json};

const OLD_ANSWER: &str = r#"{"kind": "Switchover", "target": "orders-tencent", "outcome": "Refused",
    "message": "old refusal", "answeredAt": "2026-03-01T11:00:00Z"}"#;
const OLD_RECORD: &str = r#"{"kind": "Switchover", "from": "orders-tencent", "to": "orders-cloud-a",
    "reason": "planned", "startedAt": "2026-02-27T10:00:00Z", "finishedAt": "2026-02-27T10:00:04Z",
    "outcome": "Succeeded"}"#;

fn snapshot(annotations: Value, status: Value) -> DRMySQL {
    serde_json::from_value(json!({
        "apiVersion": "drmysql.io/v1alpha1",
        "kind": "DRMySQL",
        "metadata": {"name": "orders", "namespace": "shop", "annotations": annotations},
        "spec": {
            "engine": {"image": "mariadb:11.4"},
            "primary": {"name": "cloud-a", "node": "n0"},
            "replicas": [{"name": "tencent", "node": "n1"}]
        },
        "status": status
    }))
    .expect("a valid DRMySQL")
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON")
}

fn before() -> DRMySQL {
    snapshot(
        json!({}),
        json!({"currentPrimary": "orders-cloud-a", "lastRequest": parsed(OLD_ANSWER),
               "history": [parsed(OLD_RECORD)],
               "tunnel": [{"from": "orders-cloud-a", "to": "orders-tencent", "reachable": true,
                           "rttMs": 12.0, "checkedAt": "2026-03-01T11:50:00Z"}]}),
    )
}

fn switchover() -> Follower {
    Follower::new(
        Ask::Switchover {
            to: Some("orders-tencent".into()),
        },
        Baseline::of(&before()),
    )
}

fn asked() -> Value {
    json!({"drmysql.io/switchover-to": "orders-tencent"})
}

fn progress(step: &str) -> Value {
    json!({"kind": "Switchover", "from": "orders-cloud-a", "target": "orders-tencent", "step": step,
           "startedAt": "2026-03-01T12:00:01Z", "reason": "kubectl drmysql switchover", "forced": false})
}

fn started() -> Value {
    json!({"kind": "Switchover", "target": "orders-tencent", "outcome": "Started",
           "message": "switching over from orders-cloud-a", "answeredAt": "2026-03-01T12:00:01Z"})
}

fn finished() -> Value {
    json!({"kind": "Switchover", "from": "orders-cloud-a", "to": "orders-tencent", "reason": "kubectl drmysql switchover",
           "startedAt": "2026-03-01T12:00:01Z", "finishedAt": "2026-03-01T12:00:05Z", "outcome": "Succeeded",
           "durationSeconds": 4.2, "rpoSeconds": 0.0})
}

#[test]
fn a_switchover_is_followed_to_its_history_record() {
    let mut follower = switchover();
    // Not answered yet: nothing to report.
    assert_eq!(follower.observe(&before()), (vec![], None));
    let unanswered = snapshot(asked(), json!({"lastRequest": parsed(OLD_ANSWER)}));
    assert_eq!(follower.observe(&unanswered), (vec![], None));

    // Answered and started in one write: the answer and the first step are reported.
    let catch_up = snapshot(
        json!({}),
        json!({"lastRequest": started(), "failover": progress("CatchUp"), "history": [parsed(OLD_RECORD)]}),
    );
    let (notes, outcome) = follower.observe(&catch_up);
    assert_eq!(outcome, None);
    assert_eq!(
        notes,
        [
            "Switchover orders-cloud-a → orders-tencent: step CatchUp",
            "the controller answered: Switchover to orders-tencent: Started at 2026-03-01T12:00:01Z: \
             switching over from orders-cloud-a"
        ]
    );
    // The same step again is not repeated; the next one is.
    assert_eq!(follower.observe(&catch_up), (vec![], None));
    let promote = snapshot(
        json!({}),
        json!({"lastRequest": started(), "failover": progress("Promote"), "history": [parsed(OLD_RECORD)]}),
    );
    assert_eq!(
        follower.observe(&promote).0,
        ["Switchover orders-cloud-a → orders-tencent: step Promote"]
    );
    assert!(follower.pending(&promote).starts_with(
        "a Switchover from orders-cloud-a to orders-tencent (step Promote, started 2026-03-01T12:00:01Z) \
         is still in progress; it goes on without this command"
    ));

    // Done, but the record is not written yet: still waiting.
    let between = snapshot(
        json!({}),
        json!({"lastRequest": started(), "history": [parsed(OLD_RECORD)]}),
    );
    assert_eq!(follower.observe(&between), (vec![], None));
    assert!(
        follower
            .pending(&between)
            .contains("status.history holds no record of its end yet"),
        "{}",
        follower.pending(&between)
    );

    let done = snapshot(
        json!({}),
        json!({"lastRequest": started(), "history": [parsed(OLD_RECORD), finished()]}),
    );
    let (_, outcome) = follower.observe(&done);
    assert_eq!(
        outcome,
        Some(Outcome::Finished {
            answer: serde_json::from_value(started()).expect("answer"),
            record: Box::new(serde_json::from_value(finished()).expect("record")),
        })
    );
}

#[test]
fn a_refusal_ends_it_and_a_stale_answer_is_not_taken_for_the_new_one() {
    let mut follower = switchover();
    // The annotation was removed, but lastRequest is still the old answer.
    let removed = snapshot(
        json!({}),
        json!({"lastRequest": parsed(OLD_ANSWER), "history": [parsed(OLD_RECORD)]}),
    );
    assert_eq!(follower.observe(&removed), (vec![], None));
    assert!(
        follower.pending(&removed).starts_with(
            "the annotation drmysql.io/switchover-to was removed, but status.lastRequest holds no answer"
        ),
        "{}",
        follower.pending(&removed)
    );
    let refusal = json!({"kind": "Switchover", "target": "orders-tencent", "outcome": "Refused",
                         "message": "candidate lag 45s above maxLagForFailoverSeconds 30",
                         "answeredAt": "2026-03-01T12:00:01Z"});
    let refused = snapshot(json!({}), json!({"lastRequest": refusal.clone()}));
    assert_eq!(
        follower.observe(&refused).1,
        Some(Outcome::Refused(serde_json::from_value(refusal).expect("answer")))
    );
}

#[test]
fn a_pending_failover_reports_why_it_waits() {
    let mut follower = Follower::new(
        Ask::Failover {
            to: "orders-tencent".into(),
            force: false,
        },
        Baseline::of(&before()),
    );
    let alive = snapshot(
        json!({"drmysql.io/failover-to": "orders-tencent"}),
        json!({"conditions": [{"type": "PrimaryAvailable", "status": "True", "reason": "PrimaryHealthy",
                               "message": "orders-cloud-a answers from 2 vantage points",
                               "lastTransitionTime": "2026-03-01T09:00:00Z"}]}),
    );
    let (notes, outcome) = follower.observe(&alive);
    assert_eq!(outcome, None);
    assert_eq!(
        notes,
        [
            "waiting: the failover acts once the primary is declared failed; PrimaryAvailable is True \
          (PrimaryHealthy): orders-cloud-a answers from 2 vantage points"
        ]
    );
    assert_eq!(follower.observe(&alive), (vec![], None), "said once");
    assert_eq!(
        follower.pending(&alive),
        "the controller has not answered the failover to orders-tencent: the annotation drmysql.io/failover-to \
         is still on DRMySQL shop/orders; a failover request waits until the primary is declared failed, and \
         PrimaryAvailable is True (PrimaryHealthy): orders-cloud-a answers from 2 vantage points. The request \
         stays pending; withdraw it with `kubectl annotate drm orders -n shop drmysql.io/failover-to- \
         drmysql.io/failover-force-`"
    );
}

#[test]
fn a_tunnel_check_ends_with_a_newer_check() {
    let at = chrono::Utc::now();
    let mut follower = Follower::new(Ask::CheckTunnel { at }, Baseline::of(&before()));
    let old = before().status.expect("status").tunnel;
    let removed = snapshot(json!({}), json!({"tunnel": old.clone()}));
    assert_eq!(follower.observe(&removed), (vec![], None));
    assert_eq!(
        follower.pending(&removed),
        "the annotation drmysql.io/check-tunnel was removed, but status.tunnel holds no check newer than \
         2026-03-01T11:50:00Z"
    );
    // An answer without newer checks ends it too: the controller ran none.
    let answer = json!({"kind": "CheckTunnel", "outcome": "Done", "message": "0 of 0 directed checks reached their peer",
                        "answeredAt": "2026-03-01T11:50:02Z"});
    let unchecked = snapshot(json!({}), json!({"tunnel": old, "lastRequest": answer.clone()}));
    assert_eq!(
        follower.clone().observe(&unchecked).1,
        Some(Outcome::Answered(serde_json::from_value(answer).expect("answer")))
    );
    let checks = json!([{"from": "orders-cloud-a", "to": "orders-tencent", "reachable": false,
                         "checkedAt": "2026-03-01T11:50:03Z", "error": "connect timeout after 2s"}]);
    let checked = snapshot(json!({}), json!({"tunnel": checks.clone()}));
    assert_eq!(
        follower.observe(&checked).1,
        Some(Outcome::Checked {
            checks: serde_json::from_value(checks).expect("checks")
        })
    );
}

#[test]
fn a_rebuild_ends_with_its_answer() {
    let mut follower = Follower::new(
        Ask::Rebuild {
            instance: "orders-tencent".into(),
        },
        Baseline::of(&before()),
    );
    let pending = snapshot(json!({"drmysql.io/rebuild": "orders-tencent"}), json!({}));
    assert_eq!(follower.observe(&pending), (vec![], None));
    assert!(
        follower
            .pending(&pending)
            .ends_with("withdraw it with `kubectl annotate drm orders -n shop drmysql.io/rebuild-`"),
        "{}",
        follower.pending(&pending)
    );
    let answer = json!({"kind": "Rebuild", "target": "orders-tencent", "outcome": "Done",
                        "message": "re-creating orders-tencent", "answeredAt": "2026-03-01T12:00:01Z"});
    let done = snapshot(json!({}), json!({"lastRequest": answer.clone()}));
    assert_eq!(
        follower.observe(&done).1,
        Some(Outcome::Answered(serde_json::from_value(answer).expect("answer")))
    );
}
