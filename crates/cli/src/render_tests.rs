//! Golden tests of the status and lag tables, built from the DRMySQL JSON
//! fixtures in `crates/cli/fixtures/`, at a fixed "now" so that ages are
//! stable: a healthy-but-degraded DRMySQL (one replica above the lag threshold,
//! one tunnel direction down, two finished transitions, an answered tunnel
//! check), one in the middle of a forced failover (fenced and quarantined
//! instances, a stale status, more history than is shown, a pending rebuild
//! request), and one the controller has not reported on yet.

use super::*;

fn fixture(text: &str) -> DRMySQL {
    serde_json::from_str(text).expect("the fixture is a valid DRMySQL")
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

const RUNNING: &str = include_str!("../fixtures/running.json");
const FAILING_OVER: &str = include_str!("../fixtures/failing-over.json");
const NEW: &str = include_str!("../fixtures/new.json");

/// Compares line by line first, so that a failure points at the line.
fn assert_golden(actual: &str, expected: &str) {
    for (number, (got, want)) in actual.lines().zip(expected.lines()).enumerate() {
        assert_eq!(got, want, "line {} differs; whole output:\n{actual}", number + 1);
    }
    assert_eq!(actual, expected);
}

#[test]
fn status_of_a_degraded_drmysql() {
    assert_golden(
        &status(&fixture(RUNNING), now()),
        r#"Name:        shop/orders
Phase:       Degraded
Primary:     orders-cloud-a on vm-0-7-rockylinux
Replicas:    1/2 ready
Lag:         45s (alert above 30s)
Tunnel:      Partial

Instances:
  NAME             ROLE      NODE                    POD IP       READY   LAG     IO           SQL
  orders-cloud-a   Primary   vm-0-7-rockylinux       10.244.0.5   yes     -       -            -
  orders-tencent   Replica   kosmos-member-tencent   10.245.1.7   yes     250ms   Running      Running
  orders-aws       Replica   kosmos-member-aws       10.246.3.9   no      45s     Connecting   Running
  * orders-aws: last error: error reconnecting to source: timeout

Tunnel checks:
  FROM             TO               REACHABLE   RTT      CHECKED   ERROR
  orders-cloud-a   orders-tencent   yes         12.3ms   4s ago
  orders-tencent   orders-cloud-a   yes         12.9ms   4s ago
  orders-cloud-a   orders-aws       no          -        10s ago   connect timeout after 2s
  orders-aws       orders-cloud-a   yes         48.0ms   10s ago

Conditions:
  TYPE                 STATUS   REASON              SINCE   MESSAGE
  Ready                True     PrimaryWritable     3h0m    orders-cloud-a is writable
  TunnelReachable      False    Unreachable         3m0s    primary orders-cloud-a cannot reach replica orders-aws: connect timeout after 2s
  LagWithinThreshold   False    LagAboveThreshold   1m30s   orders-aws is 45s behind (threshold 30s)

Last request: CheckTunnel, Done 2026-03-01T11:59:56Z (4s ago)
  Message: 4 pairs checked, 1 unreachable

Failover in progress: none

Last failovers (newest first, 2 of 2 in status.history):
  STARTED                KIND         FROM             TO               OUTCOME     TOOK   RPO    FORCED   DETAIL
  2026-02-27T10:00:00Z   Switchover   orders-cloud-a   orders-tencent   Aborted     4s     0s     no       kubectl drmysql switchover; candidate lag 45s above maxLagForFailoverSeconds 30
  2026-02-20T08:00:00Z   Failover     orders-tencent   orders-cloud-a   Succeeded   9.3s   1.5s   no       primary lost: connection refused from 2 vantage points; lost GTIDs 0-1-1042
"#,
    );
}

#[test]
fn status_during_a_forced_failover() {
    assert_golden(
        &status(&fixture(FAILING_OVER), now()),
        r#"Name:        default/billing
Phase:       FailingOver
Primary:     billing-0
Replicas:    1/2 ready
Lag:         1.2s (alert above 2.5s)
Tunnel:      Unreachable
Observed:    generation 2 of 3 (the controller has not yet acted on the latest spec)

Instances:
  NAME        ROLE          NODE              POD IP     READY   LAG    IO        SQL
  billing-0   Fenced        vm-1              -          no      -      -         -
  billing-1   Replica       kosmos-member-a   10.1.0.4   yes     1.2s   Stopped   Running
  billing-2   Quarantined   kosmos-member-b   10.2.0.4   no      -      Stopped   Stopped
  * billing-0: last error: connection refused
  * billing-2: errant GTIDs 3E11FA47-71CA-11E1-9E33-C80AA9429562:23

Tunnel checks: none yet

Conditions: none yet

Last request: Failover to billing-1 (forced), Started 2026-03-01T11:59:20Z (40s ago)
  Message: failing over from billing-0
  Pending: drmysql.io/rebuild="billing-2", not answered yet

Failover in progress: Failover from billing-0 to billing-1, step Promote, started 2026-03-01T11:59:20Z (40s ago)
  Reason: primary lost: no heartbeat for 10s from the controller and billing-1
  Forced: the RPO guard (spec.replication.maxLagForFailoverSeconds) was overridden

Last failovers (newest first, 5 of 6 in status.history):
  STARTED                KIND         FROM        TO          OUTCOME     TOOK    RPO    FORCED   DETAIL
  2026-01-06T00:00:00Z   Failover     billing-0   billing-1   Succeeded   2h0m    1.2s   yes      r6; lost GTIDs 3E11FA47-71CA-11E1-9E33-C80AA9429562:20-22
  2026-01-05T00:00:00Z   Switchover   billing-1   billing-0   Succeeded   2s      -      no       r5
  2026-01-04T00:00:00Z   Switchover   billing-0   billing-1   Succeeded   2s      -      no       r4
  2026-01-03T00:00:00Z   Failover     billing-0   billing-2   Failed      1m10s   -      no       r3; step Promote: access denied
  2026-01-02T00:00:00Z   Switchover   billing-1   billing-0   Succeeded   3s      -      no       r2
"#,
    );
}

#[test]
fn status_before_the_controller_reported() {
    assert_golden(
        &status(&fixture(NEW), now()),
        r#"Name:        default/orders
Phase:       - (no status yet: is the drmysql controller running?)
Primary:     -
Replicas:    -
Lag:         - (alert above 30s)
Tunnel:      -

Instances: none reported yet

Tunnel checks: none yet

Conditions: none yet

Last request: none

Failover in progress: none

Last failovers: none
"#,
    );
}

#[test]
fn lag_marks_replicas_above_the_threshold() {
    assert_golden(
        &lag(&fixture(RUNNING)),
        r#"DRMySQL:    shop/orders
Primary:    orders-cloud-a
Threshold:  30s (spec.lag.alertThresholdSeconds)

INSTANCE         ROLE      NODE                    LAG     THRESHOLD   STATE
orders-tencent   Replica   kosmos-member-tencent   250ms   30s         ok
orders-aws       Replica   kosmos-member-aws       45s     30s         ABOVE THRESHOLD
1 of 2 above the threshold
"#,
    );
}

#[test]
fn lag_lists_fenced_and_quarantined_instances_with_unknown_lag() {
    assert_golden(
        &lag(&fixture(FAILING_OVER)),
        r#"DRMySQL:    default/billing
Primary:    billing-0
Threshold:  2.5s (spec.lag.alertThresholdSeconds)

INSTANCE    ROLE          NODE              LAG    THRESHOLD   STATE
billing-0   Fenced        vm-1              -      2.5s        unknown
billing-1   Replica       kosmos-member-a   1.2s   2.5s        ok
billing-2   Quarantined   kosmos-member-b   -      2.5s        unknown
0 of 3 above the threshold, 2 unknown
"#,
    );
}

#[test]
fn lag_before_the_controller_reported() {
    assert_golden(
        &lag(&fixture(NEW)),
        r#"DRMySQL:    default/orders
Primary:    -
Threshold:  30s (spec.lag.alertThresholdSeconds)

No replica lag reported yet (is the drmysql controller running?)
"#,
    );
}

#[test]
fn json_and_yaml_are_the_status_with_the_api_field_names() {
    let drmysql = fixture(RUNNING);
    let json: serde_json::Value =
        serde_json::from_str(&status_json(&drmysql).expect("json")).expect("valid JSON");
    let source: serde_json::Value = serde_json::from_str(RUNNING).expect("fixture");
    assert_eq!(json, source["status"], "the JSON is .status as the API spells it");
    assert_eq!(json["instances"][1]["podIP"], "10.245.1.7");
    assert_eq!(json["tunnel"][0]["rttMs"], 12.34);

    let yaml = status_yaml(&drmysql).expect("yaml");
    let reparsed: serde_json::Value = serde_saphyr::from_str(&yaml).expect("valid YAML");
    assert_eq!(reparsed, source["status"]);
    assert!(
        yaml.starts_with("phase: Degraded\ncurrentPrimary: orders-cloud-a\n"),
        "{yaml}"
    );

    assert_eq!(status_json(&fixture(NEW)).expect("json"), "{}\n");
}
