//! The sidecar against real `mariadbd` servers: it writes heartbeats on the
//! primary, its readiness follows the replica's lag, and its probe endpoint
//! measures a real TCP connect and MySQL greeting and insists on the token.

use std::path::Path;
use std::time::{Duration, Instant};

use drmysql_controller::sidecar::{Sidecar, SidecarConfig};
use drmysql_mysql::testing::{MariaDb, ServerOptions};
use drmysql_mysql::{Account, Accounts, SourceConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "sidecar-test-token";
const INTERVAL: Duration = Duration::from_millis(100);

fn accounts() -> Accounts {
    Accounts {
        replication: Account::new("drmysql_repl", "repl-pw"),
        heartbeat: Account::new("drmysql_heartbeat", "hb-pw"),
    }
}

async fn prepared(options: ServerOptions) -> MariaDb {
    let server = MariaDb::start(options).await.expect("starts");
    server
        .connect()
        .await
        .expect("connects")
        .prepare(&accounts())
        .await
        .expect("prepares");
    server
}

fn write_role(dir: &Path, role: &str) {
    std::fs::write(
        dir.join("labels"),
        format!("drmysql.io/cluster=\"orders\"\ndrmysql.io/role=\"{role}\"\n"),
    )
    .expect("labels file");
}

async fn sidecar(server: &MariaDb, podinfo: &Path, max_lag: Duration) -> Sidecar {
    Sidecar::start(SidecarConfig {
        namespace: "shop".into(),
        cluster: "orders".into(),
        instance: format!("orders-{}", server.server_id()),
        podinfo_dir: podinfo.to_path_buf(),
        mysql_host: "127.0.0.1".into(),
        mysql_port: server.port(),
        listen: "127.0.0.1:0".parse().expect("address"),
        heartbeat_interval: INTERVAL,
        ready_max_lag: max_lag,
        heartbeat_user: "drmysql_heartbeat".into(),
        heartbeat_password: "hb-pw".into(),
        token: TOKEN.into(),
        timeout: Duration::from_secs(3),
    })
    .await
    .expect("sidecar starts")
}

/// A minimal HTTP/1.1 GET: returns the status code and the body.
async fn get(sidecar: &Sidecar, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(sidecar.local_addr)
        .await
        .expect("connects");
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: sidecar\r\n{authorization}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("reads");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn wait_for_status(sidecar: &Sidecar, path: &str, expected: u16, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = get(sidecar, path, None).await;
        if status == expected {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} stayed {status} ({body}) instead of {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_primarys_sidecar_writes_heartbeats_and_is_ready_when_writable() {
    let server = prepared(ServerOptions::new(1)).await;
    let podinfo = tempfile::tempdir().expect("tempdir");
    write_role(podinfo.path(), "primary");
    let sidecar = sidecar(&server, podinfo.path(), Duration::from_secs(5)).await;
    wait_for_status(&sidecar, "/readyz", 200, Duration::from_secs(10)).await;
    let mut root = server.connect().await.expect("connects");
    let first = root
        .primary_heartbeat_sample()
        .await
        .expect("sample")
        .heartbeat
        .expect("a heartbeat was written");
    tokio::time::sleep(INTERVAL * 4).await;
    let later = root
        .primary_heartbeat_sample()
        .await
        .expect("sample")
        .heartbeat
        .expect("heartbeat");
    assert!(later > first, "heartbeats keep coming: {first} then {later}");
    let (status, metrics) = get(&sidecar, "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("drmysql_sidecar_ready{"), "{metrics}");
    assert!(
        metrics.contains("drmysql_sidecar_heartbeat_writes_total"),
        "{metrics}"
    );

    // Fenced (read-only), the primary leaves the writer Service.
    let report = root.fence().await;
    assert!(report.fenced(), "{report:?}");
    let reason = wait_for_status(&sidecar, "/readyz", 503, Duration::from_secs(5)).await;
    assert!(reason.contains("read-only"), "{reason}");
    assert_eq!(get(&sidecar, "/healthz", None).await.0, 200);
}

#[tokio::test]
async fn a_replicas_readiness_follows_its_lag() {
    let primary = prepared(ServerOptions::new(1)).await;
    let replica = prepared(ServerOptions {
        read_only: true,
        ..ServerOptions::new(2)
    })
    .await;
    let source = SourceConfig::new("127.0.0.1", primary.port(), "drmysql_repl", "repl-pw");
    replica
        .connect()
        .await
        .expect("connects")
        .replicate_from(&source)
        .await
        .expect("attaches");

    let primary_info = tempfile::tempdir().expect("tempdir");
    write_role(primary_info.path(), "primary");
    let _primary_sidecar = sidecar(&primary, primary_info.path(), Duration::from_millis(500)).await;
    let replica_info = tempfile::tempdir().expect("tempdir");
    write_role(replica_info.path(), "replica");
    let replica_sidecar = sidecar(&replica, replica_info.path(), Duration::from_millis(500)).await;
    wait_for_status(&replica_sidecar, "/readyz", 200, Duration::from_secs(10)).await;

    // Block the replica's applier on the heartbeat table: lag grows past 500 ms.
    use mysql_async::prelude::Queryable;
    let mut locker = replica.client().await.expect("connects");
    locker
        .query_drop("LOCK TABLES drmysql.heartbeat READ")
        .await
        .expect("locks");
    let reason = wait_for_status(&replica_sidecar, "/readyz", 503, Duration::from_secs(5)).await;
    assert!(reason.contains("exceeds"), "{reason}");
    locker.query_drop("UNLOCK TABLES").await.expect("unlocks");
    wait_for_status(&replica_sidecar, "/readyz", 200, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_probe_measures_a_real_handshake_and_requires_the_token() {
    let server = prepared(ServerOptions::new(1)).await;
    let podinfo = tempfile::tempdir().expect("tempdir");
    write_role(podinfo.path(), "primary");
    let sidecar = sidecar(&server, podinfo.path(), Duration::from_secs(5)).await;
    let path = format!("/probe?target=127.0.0.1:{}&timeout_ms=2000", server.port());

    assert_eq!(get(&sidecar, &path, None).await.0, 401);
    assert_eq!(get(&sidecar, &path, Some("wrong-token-of-same-len")).await.0, 401);

    let (status, body) = get(&sidecar, &path, Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let result: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(result["reachable"], true, "{body}");
    assert!(
        result["serverVersion"]
            .as_str()
            .expect("version")
            .contains("MariaDB"),
        "{body}"
    );
    assert!(result["handshakeMs"].as_f64().expect("timed") >= result["connectMs"].as_f64().expect("timed"));

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        listener.local_addr().expect("address").port()
    };
    let (status, body) = get(
        &sidecar,
        &format!("/probe?target=127.0.0.1:{closed}"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    let result: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(result["reachable"], false);
    assert!(
        result["error"]
            .as_str()
            .expect("error")
            .contains("connect failed"),
        "{body}"
    );
    assert_eq!(get(&sidecar, "/probe", Some(TOKEN)).await.0, 400);
}

#[tokio::test]
async fn the_controller_checks_the_tunnel_through_a_sidecar() {
    use drmysql_controller::tunnel::{TunnelCheck, run};
    let server = prepared(ServerOptions::new(1)).await;
    let podinfo = tempfile::tempdir().expect("tempdir");
    write_role(podinfo.path(), "replica");
    let sidecar = sidecar(&server, podinfo.path(), Duration::from_secs(5)).await;
    let check = |target: String, sidecar_address: String| TunnelCheck {
        from: "orders-1".into(),
        sidecar: sidecar_address,
        to: "orders-0".into(),
        target,
    };
    let now = chrono::Utc::now();
    let good = check(
        format!("127.0.0.1:{}", server.port()),
        sidecar.local_addr.to_string(),
    );

    let reachable = run(&good, TOKEN, Duration::from_secs(3), now).await;
    assert!(reachable.reachable, "{reachable:?}");
    assert!(reachable.rtt_ms.is_some_and(|rtt| rtt > 0.0), "{reachable:?}");
    assert_eq!(
        (
            reachable.from.as_str(),
            reachable.to.as_str(),
            reachable.checked_at
        ),
        ("orders-1", "orders-0", now)
    );

    let refused = run(&good, "not-the-token", Duration::from_secs(3), now).await;
    assert!(!refused.reachable);
    assert!(
        refused.error.as_deref().is_some_and(|e| e.contains("401")),
        "{refused:?}"
    );

    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        listener.local_addr().expect("address").port()
    };
    let dead_target = run(
        &check(format!("127.0.0.1:{closed_port}"), sidecar.local_addr.to_string()),
        TOKEN,
        Duration::from_secs(3),
        now,
    )
    .await;
    assert!(!dead_target.reachable);
    assert!(
        dead_target
            .error
            .as_deref()
            .is_some_and(|e| e.contains("connect failed")),
        "{dead_target:?}"
    );

    let dead_sidecar = run(
        &check(good.target.clone(), format!("127.0.0.1:{closed_port}")),
        TOKEN,
        Duration::from_secs(3),
        now,
    )
    .await;
    assert!(!dead_sidecar.reachable);
    assert!(
        dead_sidecar
            .error
            .as_deref()
            .is_some_and(|e| e.contains("the sidecar of orders-1") && e.contains("unreachable")),
        "{dead_sidecar:?}"
    );
}
