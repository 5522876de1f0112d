//! Bounded failures: an unreachable endpoint, a silent one, and a wrong
//! password each give an error naming the server, within the bound, without a
//! hang or a panic.

use std::time::{Duration, Instant};

use drmysql_mysql::testing::{MariaDb, ROOT_PASSWORD, ServerOptions};
use drmysql_mysql::{Error, Server, Target};

#[tokio::test]
async fn a_closed_port_is_refused_with_the_endpoint_named() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        listener.local_addr().expect("address").port()
    };
    let started = Instant::now();
    let error = Server::connect(
        &Target::new("127.0.0.1", port, "root", "x"),
        Duration::from_secs(2),
    )
    .await
    .expect_err("refused");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(error, Error::Connect { .. }), "{error}");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out_within_the_bound() {
    // Accepts TCP connections and never says a word, like a half-dead link.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let port = listener.local_addr().expect("address").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let bound = Duration::from_millis(500);
    let started = Instant::now();
    let error = Server::connect(&Target::new("127.0.0.1", port, "root", "x"), bound)
        .await
        .expect_err("times out");
    let took = started.elapsed();
    assert!(
        took >= bound && took < bound + Duration::from_millis(500),
        "took {took:?}"
    );
    assert!(error.is_timeout(), "{error}");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
    silent.abort();
}

#[tokio::test]
async fn a_wrong_password_is_an_authentication_error() {
    let server = MariaDb::start(ServerOptions::new(1)).await.expect("starts");
    let error = Server::connect(
        &Target::new(
            "127.0.0.1",
            server.port(),
            "root",
            format!("{ROOT_PASSWORD}-wrong"),
        ),
        Duration::from_secs(5),
    )
    .await
    .expect_err("refused");
    assert!(error.is_authentication(), "{error}");
    assert!(error.to_string().contains(&server.port().to_string()), "{error}");
    assert!(
        !error.to_string().contains(ROOT_PASSWORD),
        "the password never appears in errors"
    );
}

#[tokio::test]
async fn a_replication_password_the_replica_could_not_use_is_refused_up_front() {
    let server = MariaDb::start(ServerOptions::new(1)).await.expect("starts");
    let mut connection = server.connect().await.expect("connects");
    for password in ["emoji-🔑", "nul\0byte"] {
        let accounts = drmysql_mysql::Accounts {
            replication: drmysql_mysql::Account::new("drm_repl", password),
            heartbeat: drmysql_mysql::Account::new("drm_heartbeat", "hb"),
        };
        let error = connection.prepare(&accounts).await.expect_err("refused");
        assert!(matches!(error, Error::UnusablePassword { .. }), "{error}");
        let source = drmysql_mysql::SourceConfig::new("127.0.0.1", 3306, "drm_repl", password);
        let error = connection.replicate_from(&source).await.expect_err("refused");
        assert!(matches!(error, Error::UnusablePassword { .. }), "{error}");
    }
    assert!(
        connection.replica_status().await.expect("status").is_none(),
        "nothing was changed"
    );
}
