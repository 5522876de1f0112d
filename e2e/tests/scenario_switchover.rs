//! Scenario: a planned switchover moves the primary to the other cluster
//! without losing a single acknowledged write, while a client keeps writing.
//!
//! The client writes as an application account (`INSERT` on `sandbox.*`
//! only), as an application would: `root` holds `READ ONLY ADMIN` on MariaDB
//! and would write through `read_only`, which is what fences the old
//! primary.
//!
//! 1. The example (Async, policy Automatic) is Ready; a row replicates; the
//!    application account exists on both instances.
//! 2. A writer starts: every 20 ms it resolves the writer Service's ready
//!    endpoint again and inserts the next id there (autocommit), remembering
//!    every id whose `INSERT` was acknowledged, and where.
//! 3. A switchover to `orders-tencent` is requested with `kubectl drmysql
//!    switchover orders --to orders-tencent` (the `drmysql.io/switchover-to`
//!    annotation, written through the API, when the plugin does not build).
//! 4. Once `status.history` records the switchover as Succeeded, the writer
//!    goes on for 3 s, then stops.
//! 5. Every acknowledged id is on the new primary at once; no write was
//!    acknowledged by the old primary after one was acknowledged by the new
//!    one; the writer Service's single ready endpoint is the new primary's
//!    IP; `status.currentPrimary` is `orders-tencent`; `status.lastRequest`
//!    is a Started switchover; the record's `rpoSeconds` is 0; the Events
//!    SwitchoverStarted, PrimaryFenced, ReplicaPromoted and
//!    SwitchoverCompleted were published; the metric
//!    `drmysql_failovers_total{kind="switchover",result="succeeded"}` is 1.
//! 6. The old primary is labelled `replica`, replicates from the new
//!    primary (read in its `SHOW SLAVE STATUS`), and has every acknowledged
//!    row; the DRMySQL is Ready.
//!
//! The write-unavailability window (the longest gap between two acknowledged
//! writes) is printed, and so is a timeline of the Pods' role labels and the
//! writer Service's endpoints; never are two Pods labelled `primary`, nor
//! two writer endpoints ready at once.
//!
//! Root and MariaDB are required (the test fails naming what is missing).

#[path = "scenario_support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use drmysql_api::drmysql::{RequestKind, RequestOutcome, TransitionKind, TransitionOutcome};
use drmysql_api::names::{self, condition, request};
use drmysql_e2e::sandbox::Sandbox;
use drmysql_e2e::sandbox::mysql::{SqlTarget, run_sql};
use drmysql_e2e::sandbox::wait;

const NAMESPACE: &str = "shop";
const NAME: &str = "orders";
const APP_USER: &str = "app";
const APP_PASSWORD: &str = "app-password";
/// The pause between two write attempts.
const WRITE_PAUSE: Duration = Duration::from_millis(20);
/// How long the writer goes on after the switchover is recorded.
const WRITE_AFTER: Duration = Duration::from_secs(3);

/// One acknowledged insert.
#[derive(Clone, Debug)]
struct Ack {
    id: u64,
    at: Instant,
    on: IpAddr,
}

/// What the writer did.
#[derive(Debug, Default)]
struct Written {
    acks: Vec<Ack>,
    attempts: u64,
    /// Failed attempts by the beginning of their error.
    errors: BTreeMap<String, u64>,
    /// Each failed attempt: when, and its error.
    failures: Vec<(Instant, String)>,
}

/// Inserts ids from `first` upwards through the writer Service's ready
/// endpoint, resolved again for every attempt, until `stop` is set. A
/// failed attempt's id is never reused: an `INSERT` whose answer was lost
/// may have committed.
async fn write_continuously(sandbox: &Sandbox, app: &SqlTarget, stop: &AtomicBool, first: u64) -> Written {
    let mut written = Written::default();
    let mut id = first;
    while !stop.load(Ordering::SeqCst) {
        written.attempts += 1;
        let outcome = match sandbox
            .ready_endpoint(NAMESPACE, &format!("{NAME}-primary"))
            .await
        {
            Err(error) => Err(format!("endpoint: {error}")),
            Ok(address) => {
                let target = SqlTarget {
                    address,
                    ..app.clone()
                };
                let insert = format!("INSERT INTO sandbox.rows (id, note) VALUES ({id}, 'writer')");
                run_sql(&target, &[&insert])
                    .await
                    .map(|_| address)
                    .map_err(|error| format!("insert on {address}: {error}"))
            }
        };
        match outcome {
            Ok(on) => written.acks.push(Ack {
                id,
                at: Instant::now(),
                on,
            }),
            Err(error) => {
                let class: String = error.chars().take(110).collect();
                *written.errors.entry(class).or_default() += 1;
                written.failures.push((Instant::now(), error));
            }
        }
        id += 1;
        tokio::time::sleep(WRITE_PAUSE).await;
    }
    written
}

/// The longest gap between consecutive acknowledged writes, and when it
/// began.
fn longest_gap(acks: &[Ack]) -> (Duration, Option<Instant>) {
    acks.windows(2)
        .map(|pair| (pair[1].at.duration_since(pair[0].at), Some(pair[0].at)))
        .max_by_key(|(gap, _)| *gap)
        .unwrap_or((Duration::ZERO, None))
}

/// Seconds from `earlier` to `later`, negative when `later` is earlier.
fn seconds_after(earlier: Instant, later: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(after) => after.as_secs_f64(),
        None => -earlier.duration_since(later).as_secs_f64(),
    }
}

/// One change of the Pods' role labels or the writer Service's endpoints.
#[derive(Debug)]
struct Seen {
    at: Instant,
    /// Pods labelled `role=primary`.
    primaries: usize,
    /// Ready endpoints of the writer Service.
    ready: usize,
    what: String,
}

/// Records, until `stop` is set, every change of the Pods' role labels and
/// of the writer Service's endpoints, with when it was seen.
async fn watch_roles(sandbox: &Sandbox, stop: &AtomicBool) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut last = String::new();
    while !stop.load(Ordering::SeqCst) {
        let roles = support::role_labels(sandbox, NAMESPACE, NAME).await;
        let endpoints = sandbox.endpoints(NAMESPACE, &format!("{NAME}-primary")).await;
        let what = format!("roles {roles:?}, writer endpoints {endpoints:?}");
        if what != last {
            seen.push(Seen {
                at: Instant::now(),
                primaries: roles
                    .values()
                    .filter(|role| role.as_deref() == Some(names::ROLE_PRIMARY))
                    .count(),
                ready: endpoints
                    .as_ref()
                    .map_or(0, |endpoints| endpoints.values().filter(|ready| **ready).count()),
                what: what.clone(),
            });
            last = what;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switchover_under_writes_loses_no_acknowledged_write() {
    let requester = support::Requester::for_subcommand("switchover").await;
    println!("requests: {requester:?}");
    let sandbox = support::start().await;
    let example = support::check(&sandbox, sandbox.example(NAMESPACE, NAME));
    let ready = support::apply_and_wait_ready(&sandbox, &example).await;
    let old_primary = ready
        .status
        .as_ref()
        .and_then(|status| status.current_primary.clone())
        .expect("a current primary");
    assert_eq!(old_primary, format!("{NAME}-cloud-a"));
    let new_primary = format!("{NAME}-tencent");
    let old_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &old_primary).await);
    let new_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &new_primary).await);
    support::write_and_replicate(&sandbox, NAMESPACE, NAME, new_ip, 1).await;

    // The application account, created on the primary, replicated.
    let create_user = format!("CREATE USER IF NOT EXISTS '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}'");
    let grant = format!("GRANT SELECT, INSERT ON sandbox.* TO '{APP_USER}'@'%'");
    support::check(
        &sandbox,
        sandbox
            .sql(NAMESPACE, NAME, old_ip, &[&create_user, &grant])
            .await,
    );
    let replicated = wait::until(
        "the application account on the replica",
        Duration::from_secs(30),
        || async {
            let rows = sandbox
                .sql(
                    NAMESPACE,
                    NAME,
                    new_ip,
                    &[&format!(
                        "SELECT COUNT(*) FROM mysql.user WHERE user = '{APP_USER}'"
                    )],
                )
                .await
                .map_err(|error| error.to_string())?;
            match rows
                .first()
                .and_then(|row| row.first().cloned().flatten())
                .as_deref()
            {
                Some("1") => Ok(()),
                other => Err(format!("count {other:?}")),
            }
        },
    )
    .await;
    support::check(&sandbox, replicated);
    let root = support::check(&sandbox, sandbox.sql_target(NAMESPACE, NAME, old_ip).await);
    let app = SqlTarget {
        user: APP_USER.to_owned(),
        password: APP_PASSWORD.to_owned(),
        ..root
    };

    let stop = AtomicBool::new(false);
    let writer = write_continuously(&sandbox, &app, &stop, 1000);
    let watcher = watch_roles(&sandbox, &stop);
    let driver = async {
        // Writes flow to the old primary first.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let asked_at = Instant::now();
        let requested = requester
            .request(
                &sandbox,
                NAMESPACE,
                NAME,
                &["switchover", NAME, "--to", &new_primary],
                &[(request::SWITCHOVER_TO, new_primary.as_str())],
            )
            .await;
        let switched = support::wait_for(
            &sandbox,
            NAMESPACE,
            NAME,
            "a switchover in status.history",
            Duration::from_secs(90),
            |drmysql| support::history_record(drmysql, TransitionKind::Switchover).is_some(),
        )
        .await;
        let recorded_after = asked_at.elapsed();
        tokio::time::sleep(WRITE_AFTER).await;
        stop.store(true, Ordering::SeqCst);
        (requested, switched, asked_at, recorded_after)
    };
    let (written, roles_seen, (requested, switched, asked_at, recorded_after)) =
        tokio::join!(writer, watcher, driver);
    println!("{}", requested.describe());
    for seen in &roles_seen {
        println!("{:+.3} s: {}", seconds_after(asked_at, seen.at), seen.what);
    }
    let doubled: Vec<String> = roles_seen
        .iter()
        .filter(|seen| seen.primaries > 1 || seen.ready > 1)
        .map(|seen| format!("{:+.3} s", seconds_after(asked_at, seen.at)))
        .collect();
    assert!(
        doubled.is_empty(),
        "two Pods labelled role=primary or two ready writer endpoints, seen at {doubled:?}"
    );
    for (at, error) in &written.failures {
        println!("{:+.3} s: write failed: {error}", seconds_after(asked_at, *at));
    }
    if let support::Requested::Plugin { success, .. } = &requested {
        assert!(
            success,
            "kubectl drmysql switchover failed: {}",
            requested.describe()
        );
    }

    // The record, the answer and the new primary.
    let status = switched.status.clone().expect("a status");
    let record = support::history_record(&switched, TransitionKind::Switchover).expect("the record");
    assert_eq!(
        (record.outcome, record.from.as_str(), record.to.as_str()),
        (
            TransitionOutcome::Succeeded,
            old_primary.as_str(),
            new_primary.as_str()
        ),
        "{record:?}\n{}",
        support::describe(&switched)
    );
    assert_eq!(record.rpo_seconds, Some(0.0), "{record:?}");
    assert!(record.lost_gtids.is_none(), "{record:?}");
    assert_eq!(status.current_primary.as_deref(), Some(new_primary.as_str()));
    assert!(status.failover.is_none(), "no transition left in progress");
    let answer = status.last_request.as_ref().expect("status.lastRequest");
    assert_eq!(
        (answer.kind, answer.outcome, answer.target.as_deref()),
        (
            RequestKind::Switchover,
            RequestOutcome::Started,
            Some(new_primary.as_str())
        ),
        "{answer:?}"
    );
    println!(
        "switchover recorded {:.1} s after the request; duration {:?} s, promoted at {:?}, rpo {:?}",
        recorded_after.as_secs_f64(),
        record.duration_seconds,
        record.promoted_gtids,
        record.rpo_seconds
    );

    // The writes.
    let acked: BTreeSet<u64> = written.acks.iter().map(|ack| ack.id).collect();
    let on_old: Vec<&Ack> = written.acks.iter().filter(|ack| ack.on == old_ip).collect();
    let on_new: Vec<&Ack> = written.acks.iter().filter(|ack| ack.on == new_ip).collect();
    let (gap, gap_began) = longest_gap(&written.acks);
    println!(
        "writer: {} attempts, {} acknowledged ({} by the old primary, {} by the new one); failures: {:#?}",
        written.attempts,
        acked.len(),
        on_old.len(),
        on_new.len(),
        written.errors
    );
    println!(
        "write unavailability: longest gap between acknowledged writes {:.3} s, beginning {:.3} s after the request",
        gap.as_secs_f64(),
        gap_began.map_or(f64::NAN, |began| seconds_after(asked_at, began))
    );
    assert_eq!(
        on_old.len() + on_new.len(),
        acked.len(),
        "every write went to one of the two instances"
    );
    assert!(
        !on_old.is_empty() && !on_new.is_empty(),
        "writes before and after"
    );
    let last_old = on_old
        .iter()
        .map(|ack| ack.at)
        .max()
        .expect("writes on the old primary");
    let first_new = on_new
        .iter()
        .map(|ack| ack.at)
        .min()
        .expect("writes on the new primary");
    assert!(
        last_old < first_new,
        "the old primary acknowledged a write after the new one did (two writable primaries)"
    );
    let on_new_primary = support::row_ids(&sandbox, NAMESPACE, NAME, new_ip)
        .await
        .unwrap_or_else(|error| panic!("reading the new primary's rows: {error}"));
    let missing: Vec<&u64> = acked.difference(&on_new_primary).collect();
    assert!(
        missing.is_empty(),
        "acknowledged writes missing on the new primary: {missing:?}"
    );
    let unacknowledged = on_new_primary
        .iter()
        .filter(|id| **id >= 1000 && !acked.contains(id))
        .count();
    println!(
        "the new primary has all {} acknowledged rows (and {unacknowledged} whose answer was lost)",
        acked.len()
    );

    // The writer Service, the Events and the metric.
    let endpoint = wait::until(
        "the writer Service on the new primary",
        Duration::from_secs(30),
        || async {
            match sandbox
                .ready_endpoint(NAMESPACE, &format!("{NAME}-primary"))
                .await
            {
                Ok(address) if address == new_ip => Ok(()),
                Ok(other) => Err(format!("ready endpoint {other}")),
                Err(error) => Err(error.to_string()),
            }
        },
    )
    .await;
    support::check(&sandbox, endpoint);
    let endpoints = support::endpoints(&sandbox, NAMESPACE, &format!("{NAME}-primary")).await;
    assert_eq!(
        endpoints.iter().filter(|(_, ready)| **ready).count(),
        1,
        "{endpoints:?}"
    );
    support::assert_events(
        &sandbox,
        NAMESPACE,
        NAME,
        &[
            "SwitchoverStarted",
            "PrimaryFenced",
            "ReplicaPromoted",
            "SwitchoverCompleted",
        ],
        &["SwitchoverAborted", "FailoverStarted"],
    )
    .await;
    let metrics = support::metrics(&sandbox).await;
    assert_eq!(
        support::series(
            &metrics,
            "drmysql_failovers_total",
            &[
                ("namespace", NAMESPACE),
                ("name", NAME),
                ("kind", "switchover"),
                ("result", "succeeded")
            ],
        ),
        Some(1.0),
        "{:?}",
        metrics
            .keys()
            .filter(|key| key.contains("failover"))
            .collect::<Vec<_>>()
    );

    // The old primary: a replica of the new one, with every row.
    let rejoined =
        support::wait_rejoined(&sandbox, NAMESPACE, NAME, &old_primary, Duration::from_secs(60)).await;
    let source = wait::until(
        "the old primary replicating from the new one",
        Duration::from_secs(30),
        || async {
            match support::replication_source(&sandbox, NAMESPACE, NAME, old_ip).await? {
                Some((host, io, sql)) if host == new_ip.to_string() && io == "Yes" && sql == "Yes" => {
                    Ok(host)
                }
                other => Err(format!("SHOW SLAVE STATUS: {other:?}")),
            }
        },
    )
    .await;
    let source = support::check(&sandbox, source);
    println!("{old_primary} replicates from {source}");
    let label = wait::until(
        "the old primary labelled replica",
        Duration::from_secs(30),
        || async {
            match support::role_labels(&sandbox, NAMESPACE, NAME)
                .await
                .remove(&old_primary)
                .flatten()
            {
                Some(role) if role == names::ROLE_REPLICA => Ok(()),
                other => Err(format!("role {other:?}")),
            }
        },
    )
    .await;
    support::check(&sandbox, label);
    let caught_up = wait::until(
        "every acknowledged row on the old primary",
        Duration::from_secs(30),
        || async {
            let rows = support::row_ids(&sandbox, NAMESPACE, NAME, old_ip).await?;
            let missing = acked.difference(&rows).count();
            if missing == 0 {
                Ok(())
            } else {
                Err(format!("{missing} acknowledged rows missing"))
            }
        },
    )
    .await;
    support::check(&sandbox, caught_up);
    support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "Ready after the switchover",
        Duration::from_secs(60),
        |drmysql| support::has(drmysql, condition::READY, "True"),
    )
    .await;
    println!("after the switchover: {}", support::describe(&rejoined));
    support::finish(sandbox).await;
}
