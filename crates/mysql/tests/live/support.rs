//! Pairs of real servers for the live tests.

use std::time::Duration;

use drmysql_mysql::testing::{MariaDb, ServerOptions};
use drmysql_mysql::{Account, Accounts, Server, SourceConfig};

/// Statement timeout of the tests' connections.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The accounts every test prepares; the replication password is hostile on
/// purpose (quotes, backslashes, unicode) to exercise the escaping.
pub fn accounts() -> Accounts {
    Accounts {
        replication: Account::new("drm_repl", "r'e\"p\\l-密码-ä`;--"),
        heartbeat: Account::new("drm_heartbeat", "h'b\\x"),
    }
}

/// A primary and a replica replicating from it.
pub struct Pair {
    pub primary: MariaDb,
    pub replica: MariaDb,
}

impl Pair {
    /// Starts two servers (ids 1 and 2; the replica boots read-only), prepares
    /// both and points the replica at the primary.
    pub async fn start() -> Self {
        let primary = MariaDb::start(ServerOptions::new(1))
            .await
            .expect("primary starts");
        let replica = MariaDb::start(ServerOptions {
            read_only: true,
            ..ServerOptions::new(2)
        })
        .await
        .expect("replica starts");
        prepare(&primary).await;
        prepare(&replica).await;
        let mut connection = replica.connect().await.expect("replica connects");
        connection
            .replicate_from(&source_for(&primary))
            .await
            .expect("replica attaches");
        Self { primary, replica }
    }
}

/// Prepares a server with [`accounts`].
pub async fn prepare(server: &MariaDb) {
    let mut connection = server.connect().await.expect("connects");
    connection.prepare(&accounts()).await.expect("prepares");
}

/// The source configuration for replicating from `server`, with fast failure
/// detection for tests.
pub fn source_for(server: &MariaDb) -> SourceConfig {
    let accounts = accounts();
    let mut source = SourceConfig::new(
        "127.0.0.1",
        server.port(),
        accounts.replication.user,
        accounts.replication.password,
    );
    source.net_timeout = Duration::from_secs(2);
    source
}

/// Connects as root.
pub async fn connect(server: &MariaDb) -> Server {
    server.connect().await.expect("connects")
}

/// A plain client connection for test fixtures (tables, rows, an application
/// user): fixture SQL is not drmysql's, so it does not go through the dialect.
pub async fn client(server: &MariaDb, user: &str, password: &str) -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(server.port())
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false);
    tokio::time::timeout(TIMEOUT, mysql_async::Conn::new(opts))
        .await
        .expect("client connects in time")
        .expect("client connects")
}

/// A root client for fixtures.
pub async fn root_client(server: &MariaDb) -> mysql_async::Conn {
    server.client().await.expect("root client connects")
}

/// Runs fixture statements.
pub async fn exec(conn: &mut mysql_async::Conn, statements: &[&str]) {
    use mysql_async::prelude::Queryable;
    for statement in statements {
        tokio::time::timeout(TIMEOUT, conn.query_drop(*statement))
            .await
            .unwrap_or_else(|_| panic!("{statement} timed out"))
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
}

/// Counts rows of `table`.
pub async fn count(conn: &mut mysql_async::Conn, table: &str) -> u64 {
    use mysql_async::prelude::Queryable;
    let count: Option<u64> = conn
        .query_first(format!("SELECT COUNT(*) FROM {table}"))
        .await
        .unwrap_or_else(|error| panic!("count {table}: {error}"));
    count.unwrap_or_default()
}

/// Waits until `replica` has executed everything `primary` has.
pub async fn catch_up(primary: &MariaDb, replica: &MariaDb) {
    let position = connect(primary)
        .await
        .observe()
        .await
        .expect("primary observed")
        .gtid_executed;
    let mut connection = connect(replica).await;
    if let Err(error) = connection
        .wait_for_position(&position, Duration::from_secs(10))
        .await
    {
        let status = connection.observe().await.map(|status| status.replica);
        panic!("replica did not catch up: {error}; its replication status: {status:#?}");
    }
}
