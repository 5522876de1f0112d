//! Replication wiring against real `mariadbd` servers: a fresh pair is wired
//! into a writable primary and a replicating replica, a second pass changes
//! nothing, a stray writer is fenced, and Lossless mode ends up lossless.

use std::collections::BTreeMap;
use std::time::Duration;

use drmysql_api::drmysql::ReplicationMode;
use drmysql_controller::wiring::{Action, Endpoint, Plan, execute, plan};
use drmysql_mysql::testing::{MariaDb, ROOT_PASSWORD, ServerOptions};
use drmysql_mysql::{Account, Accounts};

const TIMEOUT: Duration = Duration::from_secs(5);

fn accounts() -> Accounts {
    Accounts {
        replication: Account::new("drmysql_repl", "repl-pw"),
        heartbeat: Account::new("drmysql_heartbeat", "hb-pw"),
    }
}

struct Cluster {
    servers: BTreeMap<String, MariaDb>,
}

impl Cluster {
    async fn start(count: u32) -> Self {
        let mut servers = BTreeMap::new();
        for index in 0..count {
            let server = MariaDb::start(ServerOptions {
                read_only: true,
                ..ServerOptions::new(index + 1)
            })
            .await
            .expect("starts");
            servers.insert(format!("db-{index}"), server);
        }
        Self { servers }
    }

    fn instances(&self) -> Vec<(String, Option<Endpoint>)> {
        self.servers
            .iter()
            .map(|(name, server)| {
                (
                    name.clone(),
                    Some(Endpoint {
                        host: "127.0.0.1".into(),
                        port: server.port(),
                    }),
                )
            })
            .collect()
    }

    /// One reconcile's worth of wiring: prepare and observe, plan, execute.
    async fn wire(&self, mode: ReplicationMode) -> (Plan, Vec<execute::Outcome>) {
        let execute::Connected {
            observed,
            servers: mut connections,
            prepare_failures,
        } = execute::observe(&self.instances(), "db-0", ROOT_PASSWORD, &accounts(), TIMEOUT).await;
        assert!(prepare_failures.is_empty(), "{prepare_failures:?}");
        let planned = plan("db-0", &observed, mode, &[]);
        let outcomes = execute::execute(&planned, &mut connections, &accounts().replication).await;
        for outcome in &outcomes {
            assert!(outcome.result.is_ok(), "{outcome:?}");
        }
        (planned, outcomes)
    }

    async fn observe(&self, name: &str) -> drmysql_mysql::InstanceStatus {
        self.servers[name]
            .connect()
            .await
            .expect("connects")
            .observe()
            .await
            .expect("observed")
    }

    async fn catch_up(&self) {
        let position = self.observe("db-0").await.gtid_executed;
        for (name, server) in self.servers.iter().filter(|(name, _)| *name != "db-0") {
            let mut connection = server.connect().await.expect("connects");
            connection
                .wait_for_position(&position, Duration::from_secs(10))
                .await
                .unwrap_or_else(|error| panic!("{name}: {error}"));
        }
    }
}

async fn write(server: &MariaDb, statements: &[&str]) {
    use mysql_async::prelude::Queryable;
    let mut conn = server.client().await.expect("connects");
    for statement in statements {
        conn.query_drop(*statement)
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
}

#[tokio::test]
async fn a_fresh_cluster_is_wired_and_a_second_pass_changes_nothing() {
    let cluster = Cluster::start(3).await;
    let (first, _) = cluster.wire(ReplicationMode::Async).await;
    assert_eq!(
        first
            .actions
            .iter()
            .filter(|a| matches!(a, Action::ReplicateFrom { .. }))
            .count(),
        2
    );
    assert!(first.actions.contains(&Action::MakeWritable {
        instance: "db-0".into()
    }));

    write(
        &cluster.servers["db-0"],
        &[
            "CREATE DATABASE shop",
            "CREATE TABLE shop.t (id INT PRIMARY KEY)",
            "INSERT INTO shop.t VALUES (1)",
        ],
    )
    .await;
    cluster.catch_up().await;

    let (second, _) = cluster.wire(ReplicationMode::Async).await;
    assert_eq!(second, Plan::default(), "the steady state needs no action");
}

#[tokio::test]
async fn a_stray_writer_is_fenced_and_attached() {
    let cluster = Cluster::start(2).await;
    cluster.wire(ReplicationMode::Async).await;
    // Someone makes the replica writable by hand (without writing to it).
    write(&cluster.servers["db-1"], &["SET GLOBAL read_only = OFF"]).await;
    let (repair, _) = cluster.wire(ReplicationMode::Async).await;
    assert_eq!(
        repair.actions,
        [Action::Fence {
            instance: "db-1".into()
        }]
    );
    let status = cluster.observe("db-1").await;
    assert!(!status.writable() && status.replica.is_some_and(|replica| replica.replicating()));
}

#[tokio::test]
async fn lossless_wiring_makes_commits_wait_for_the_replica() {
    let cluster = Cluster::start(2).await;
    cluster.wire(ReplicationMode::Lossless).await;
    let (second, _) = cluster.wire(ReplicationMode::Lossless).await;
    assert_eq!(second, Plan::default());
    let primary = cluster.observe("db-0").await;
    assert!(primary.semi_sync.is_lossless_source(), "{:?}", primary.semi_sync);
    let replica = cluster.observe("db-1").await;
    assert!(replica.semi_sync.replica_enabled);

    // Back to async: the source side is switched off.
    cluster.wire(ReplicationMode::Async).await;
    let primary = cluster.observe("db-0").await;
    assert!(!primary.semi_sync.source_enabled);
}
