//! Crash safety of the failover and switchover executor: a controller killed
//! at any step resumes it from `status.failover` and completes.
//!
//! For every step of `transition::record::ORDER`, for an Async failover (the
//! primary's `mariadbd` killed) and for a switchover (the primary alive), and
//! for both places a controller can die at a step (recorded but not done;
//! done but the next step not recorded, so that the step is repeated): two
//! real `mariadbd` servers replicate, with rows written on the primary; the
//! executor runs against the API simulator and stops there (its
//! fault-injection seam); a second executor, built from the DRMySQL re-read
//! from the API, resumes from the recorded step. Afterwards: no transition in progress, a
//! succeeded history record, `currentPrimary` moved, the promoted server
//! writable, not replicating, and holding every row; after a switchover the
//! old primary is read-only and replicates from the new one.
//!
//! MariaDB is required (the test fails naming what is missing).

#[path = "apiserver_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use drmysql_api::drmysql::{DRMySQL, TransitionKind, TransitionOutcome, TransitionStep};
use drmysql_controller::failover::{Decision, Gate, GtidFlavor};
use drmysql_controller::metrics::ControllerMetrics;
use drmysql_controller::reconcile::observe::ObserveConfig;
use drmysql_controller::reconcile::write::StatusWriter;
use drmysql_controller::reconcile::{Context, ControllerConfig};
use drmysql_controller::transition::record::{ORDER, Start};
use drmysql_controller::transition::steps::Servers;
use drmysql_controller::transition::{Crash, Transition};
use drmysql_controller::wiring::Endpoint;
use drmysql_mysql::testing::{MariaDb, ROOT_PASSWORD, ServerOptions};
use drmysql_mysql::{Account, Accounts, SourceConfig};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Recorder, Reporter};
use mysql_async::prelude::Queryable;
use serde_json::json;

const ROWS: u32 = 20;

fn accounts() -> Accounts {
    Accounts {
        replication: Account::new("drmysql_repl", "repl-password-for-tests-0123456789"),
        heartbeat: Account::new("drmysql_heartbeat", "heartbeat-password-for-tests-0123"),
    }
}

/// A primary with `ROWS` rows and a replica that has them all.
async fn replicating_pair() -> (MariaDb, MariaDb) {
    let primary = MariaDb::start(ServerOptions::new(1))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let replica = MariaDb::start(ServerOptions {
        read_only: true,
        ..ServerOptions::new(2)
    })
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    let accounts = accounts();
    let mut source = primary.connect().await.expect("the primary");
    source.prepare(&accounts).await.expect("prepare the primary");
    let mut target = replica.connect().await.expect("the replica");
    target.prepare(&accounts).await.expect("prepare the replica");
    target
        .replicate_from(&SourceConfig::new(
            "127.0.0.1",
            primary.port(),
            accounts.replication.user.clone(),
            accounts.replication.password.clone(),
        ))
        .await
        .expect("the replica replicates");
    let mut client = primary.client().await.expect("a client");
    client
        .query_drop("CREATE DATABASE shop; CREATE TABLE shop.rows (id INT PRIMARY KEY)")
        .await
        .expect("a table");
    for id in 0..ROWS {
        client
            .query_drop(format!("INSERT INTO shop.rows VALUES ({id})"))
            .await
            .expect("a row");
    }
    let position = source
        .observe()
        .await
        .expect("the primary's status")
        .gtid_executed;
    target
        .wait_for_position(&position, Duration::from_secs(30))
        .await
        .expect("the replica catches up");
    (primary, replica)
}

async fn drmysql_in_api(client: &kube::Client, name: &str) -> DRMySQL {
    let api: Api<DRMySQL> = Api::namespaced(client.clone(), "default");
    let mut object = support::basic_drmysql(name);
    object["metadata"]["namespace"] = json!("default");
    let object: DRMySQL = serde_json::from_value(object).expect("a DRMySQL");
    api.create(&PostParams::default(), &object)
        .await
        .expect("created");
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"currentPrimary": format!("{name}-cloud-a")}})),
    )
    .await
    .expect("a status")
}

fn transition<'a>(
    context: &'a Context,
    drmysql: &'a DRMySQL,
    servers: Servers<'a>,
    crash: Option<Crash>,
) -> Transition<'a> {
    let name = drmysql.metadata.name.clone().unwrap_or_default();
    Transition {
        context,
        drmysql,
        servers,
        mode: drmysql.spec.replication.mode,
        flavor: GtidFlavor::MariaDb,
        instances: vec![format!("{name}-cloud-a"), format!("{name}-tencent")],
        crash,
    }
}

fn decision(kind: TransitionKind, to: &str, resume: Option<TransitionStep>) -> Decision {
    match kind {
        TransitionKind::Failover => Decision::FailOver {
            to: to.to_owned(),
            forced: false,
            reason: "test: the primary is lost".to_owned(),
            resume,
            gate: Gate::open(),
        },
        TransitionKind::Switchover => Decision::SwitchOver {
            to: to.to_owned(),
            reason: "test: planned".to_owned(),
            resume,
            gate: Gate::open(),
        },
    }
}

async fn crash_at_and_resume(client: &kube::Client, context: &Context, kind: TransitionKind, crash: Crash) {
    let (step, when) = match crash {
        Crash::BeforeDoing(step) => (step, "before"),
        Crash::AfterDoing(step) => (step, "after"),
    };
    let (mut primary, replica) = replicating_pair().await;
    let name = format!(
        "{}-{when}-{}",
        match kind {
            TransitionKind::Failover => "fo",
            TransitionKind::Switchover => "so",
        },
        format!("{step:?}").to_ascii_lowercase()
    );
    let (old, new) = (format!("{name}-cloud-a"), format!("{name}-tencent"));
    let object = drmysql_in_api(client, &name).await;
    if kind == TransitionKind::Failover {
        primary.kill9().await;
    }
    let endpoints = BTreeMap::from([
        (
            old.clone(),
            Endpoint {
                host: "127.0.0.1".to_owned(),
                port: primary.port(),
            },
        ),
        (
            new.clone(),
            Endpoint {
                host: "127.0.0.1".to_owned(),
                port: replica.port(),
            },
        ),
    ]);
    let accounts = accounts();
    let servers = Servers {
        endpoints: &endpoints,
        root_password: ROOT_PASSWORD,
        replication: &accounts.replication,
        timeout: Duration::from_secs(3),
    };
    let start = Start {
        kind,
        from: old.clone(),
        target: new.clone(),
        reason: "test".to_owned(),
        forced: false,
        old_primary_gtids: None,
        target_lag_seconds: Some(0.0),
    };
    let first = transition(context, &object, servers, Some(crash));
    let mut writer = StatusWriter::new(client, &object);
    let stopped = first
        .run(
            &mut writer,
            &decision(kind, &new, None),
            Some(start),
            serde_json::Map::new(),
        )
        .await;
    match (crash, stopped) {
        (Crash::BeforeDoing(_), Ok(())) => {}
        (Crash::AfterDoing(_), Err(error)) if error.to_string().contains("fault injection") => {}
        (_, other) => panic!("{kind:?} crashing at {crash:?}: {other:?}"),
    }
    let api: Api<DRMySQL> = Api::namespaced(client.clone(), "default");
    let crashed = api.get(&name).await.expect("re-read");
    let recorded = crashed.status.as_ref().and_then(|status| status.failover.clone());
    assert_eq!(
        recorded.map(|progress| progress.step),
        Some(step),
        "{kind:?}: the step is recorded"
    );

    let resumed = transition(context, &crashed, servers, None);
    let mut writer = StatusWriter::new(client, &crashed);
    resumed
        .run(
            &mut writer,
            &decision(kind, &new, Some(step)),
            None,
            serde_json::Map::new(),
        )
        .await
        .unwrap_or_else(|error| panic!("{kind:?} resumed at {step:?}: {error}"));
    let done = api.get(&name).await.expect("re-read");
    let status = done.status.expect("a status");
    assert!(
        status.failover.is_none(),
        "{kind:?} at {step:?}: still in progress"
    );
    assert_eq!(
        status.current_primary.as_deref(),
        Some(new.as_str()),
        "{kind:?} at {step:?}"
    );
    let record = status.history.last().expect("a history record");
    assert_eq!(
        (record.kind, record.outcome),
        (kind, TransitionOutcome::Succeeded),
        "{kind:?} at {step:?}: {record:?}"
    );
    assert!(
        record
            .promoted_gtids
            .as_deref()
            .is_some_and(|gtids| !gtids.is_empty())
    );

    let mut promoted = replica.connect().await.expect("the new primary");
    let promoted_status = promoted.observe().await.expect("its status");
    assert!(
        promoted_status.writable(),
        "{kind:?} at {step:?}: the new primary is writable"
    );
    assert!(
        promoted_status.replica.is_none(),
        "{kind:?} at {step:?}: it replicates from nowhere"
    );
    let mut client = replica.client().await.expect("a client of the new primary");
    let rows: Option<u32> = client
        .query_first("SELECT COUNT(*) FROM shop.rows")
        .await
        .expect("a count");
    assert_eq!(rows, Some(ROWS), "{kind:?} at {step:?}: every row");
    if kind == TransitionKind::Switchover {
        let mut demoted = primary.connect().await.expect("the old primary");
        let demoted_status = demoted.observe().await.expect("its status");
        assert!(
            !demoted_status.writable(),
            "{kind:?} at {step:?}: the old primary is read-only"
        );
        let source = demoted_status.replica.expect("the old primary replicates");
        assert_eq!(
            source.source_port,
            replica.port(),
            "{kind:?} at {step:?}: from the new primary"
        );
    }
    println!("{kind:?} crashed {when} doing {step:?}: resumed and completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_of_a_failover_and_a_switchover_resumes_after_a_crash() {
    let (_server, client) = support::start().await;
    let context = Context {
        client: client.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "drmysql-test".to_owned(),
                instance: None,
            },
        ),
        config: ControllerConfig {
            sidecar_image: "drmysql:test".to_owned(),
            observe: ObserveConfig {
                mysql_timeout: Duration::from_secs(3),
                tunnel_timeout: Duration::from_secs(3),
            },
            resync: Duration::from_secs(10),
            concurrency: 1,
        },
        metrics: Arc::new(ControllerMetrics::default()),
    };
    for kind in [TransitionKind::Failover, TransitionKind::Switchover] {
        for step in ORDER {
            for crash in [Crash::BeforeDoing(step), Crash::AfterDoing(step)] {
                crash_at_and_resume(&client, &context, kind, crash).await;
            }
        }
    }
}
