//! Golden statements for every flavor. No MySQL 8 server can be installed where
//! drmysql is built, so these texts are the MySQL dialect's test; MariaDB's are
//! also exercised live by the integration tests.

use super::*;

const FLAVORS: [Flavor; 3] = [Flavor::MySql80, Flavor::MySql84, Flavor::MariaDb];

fn source() -> SourceConfig {
    SourceConfig::new("10.233.64.7", 3306, "repl", "s3cr'et\\")
}

#[test]
fn change_source_per_flavor() {
    let mariadb = Dialect::new(Flavor::MariaDb).change_source(&source());
    assert_eq!(
        mariadb.sql(),
        "CHANGE MASTER TO MASTER_HOST = '10.233.64.7', MASTER_PORT = 3306, MASTER_USER = 'repl', \
         MASTER_PASSWORD = 's3cr''et\\\\', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1, \
         MASTER_HEARTBEAT_PERIOD = 1.000, MASTER_DELAY = 0"
    );
    assert!(mariadb.is_sensitive());
    assert!(
        !format!("{mariadb:?}").contains("s3cr"),
        "Debug redacts the password"
    );
    for flavor in [Flavor::MySql80, Flavor::MySql84] {
        let mysql = Dialect::new(flavor).change_source(&source());
        assert_eq!(
            mysql.sql(),
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST = '10.233.64.7', SOURCE_PORT = 3306, SOURCE_USER = 'repl', \
             SOURCE_PASSWORD = 's3cr''et\\\\', SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1, \
             SOURCE_CONNECT_RETRY = 1, SOURCE_RETRY_COUNT = 86400, SOURCE_HEARTBEAT_PERIOD = 1.000, SOURCE_DELAY = 0"
        );
        assert!(
            !mysql.sql().contains("MASTER"),
            "MySQL 8.4 removed every MASTER_* option"
        );
    }
    let mut delayed = source();
    delayed.delay = Some(Duration::from_millis(2500));
    delayed.heartbeat_period = Duration::from_millis(250);
    let sql = Dialect::new(Flavor::MariaDb)
        .change_source(&delayed)
        .sql()
        .to_owned();
    assert!(
        sql.contains("MASTER_DELAY = 3") && sql.contains("MASTER_HEARTBEAT_PERIOD = 0.250"),
        "{sql}"
    );
}

#[test]
fn replication_control_per_flavor() {
    let table = [
        (
            Flavor::MariaDb,
            "SHOW SLAVE STATUS",
            "START SLAVE",
            "STOP SLAVE",
            "STOP SLAVE IO_THREAD",
            "RESET SLAVE ALL",
        ),
        (
            Flavor::MySql80,
            "SHOW REPLICA STATUS",
            "START REPLICA",
            "STOP REPLICA",
            "STOP REPLICA IO_THREAD",
            "RESET REPLICA ALL",
        ),
        (
            Flavor::MySql84,
            "SHOW REPLICA STATUS",
            "START REPLICA",
            "STOP REPLICA",
            "STOP REPLICA IO_THREAD",
            "RESET REPLICA ALL",
        ),
    ];
    for (flavor, status, start, stop, stop_io, reset) in table {
        let dialect = Dialect::new(flavor);
        assert_eq!(dialect.replica_status().sql(), status);
        assert_eq!(dialect.start_replica().sql(), start);
        assert_eq!(dialect.stop_replica().sql(), stop);
        assert_eq!(dialect.stop_io_thread().sql(), stop_io);
        assert_eq!(dialect.reset_replica_all().sql(), reset);
    }
    assert_eq!(
        Dialect::new(Flavor::MariaDb)
            .align_replica_position()
            .expect("MariaDB aligns")
            .sql(),
        "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_current_pos"
    );
    assert!(Dialect::new(Flavor::MySql84).align_replica_position().is_none());
    assert_eq!(
        Dialect::new(Flavor::MariaDb)
            .set_net_timeout(Duration::from_secs(4))
            .sql(),
        "SET GLOBAL slave_net_timeout = ?"
    );
    assert_eq!(
        Dialect::new(Flavor::MySql80)
            .set_net_timeout(Duration::from_millis(1500))
            .params(),
        [Value::from(2u64)]
    );
    assert_eq!(
        Dialect::new(Flavor::MySql84)
            .set_net_timeout(Duration::ZERO)
            .params(),
        [Value::from(1u64)]
    );
}

#[test]
fn semi_sync_per_flavor() {
    let mariadb: Vec<String> = Dialect::new(Flavor::MariaDb)
        .enable_semi_sync_source()
        .iter()
        .map(|s| s.sql().to_owned())
        .collect();
    assert_eq!(
        mariadb,
        [
            "SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'",
            "SET GLOBAL rpl_semi_sync_master_timeout = ?",
            "SET GLOBAL rpl_semi_sync_master_enabled = ON",
        ]
    );
    assert!(
        Dialect::new(Flavor::MariaDb)
            .install_semi_sync_plugins(&[])
            .is_empty()
    );
    assert!(Dialect::new(Flavor::MariaDb).loaded_semi_sync_plugins().is_none());
    for flavor in [Flavor::MySql80, Flavor::MySql84] {
        let dialect = Dialect::new(flavor);
        let sql: Vec<String> = dialect
            .enable_semi_sync_source()
            .iter()
            .map(|s| s.sql().to_owned())
            .collect();
        assert_eq!(
            sql,
            [
                "SET GLOBAL rpl_semi_sync_source_wait_point = 'AFTER_SYNC'",
                "SET GLOBAL rpl_semi_sync_source_timeout = ?",
                "SET GLOBAL rpl_semi_sync_source_wait_for_replica_count = 1",
                "SET GLOBAL rpl_semi_sync_source_enabled = ON",
            ]
        );
        assert_eq!(
            dialect.set_semi_sync_replica(true).sql(),
            "SET GLOBAL rpl_semi_sync_replica_enabled = ON"
        );
        assert_eq!(
            dialect.disable_semi_sync_source().sql(),
            "SET GLOBAL rpl_semi_sync_source_enabled = OFF"
        );
        let plugins: Vec<String> = dialect
            .install_semi_sync_plugins(&[])
            .iter()
            .map(|s| s.sql().to_owned())
            .collect();
        assert_eq!(
            plugins,
            [
                "INSTALL PLUGIN rpl_semi_sync_source SONAME 'semisync_source.so'",
                "INSTALL PLUGIN rpl_semi_sync_replica SONAME 'semisync_replica.so'",
            ]
        );
        let missing: Vec<String> = dialect
            .install_semi_sync_plugins(&["RPL_SEMI_SYNC_SOURCE".to_owned()])
            .iter()
            .map(|s| s.sql().to_owned())
            .collect();
        assert_eq!(
            missing,
            ["INSTALL PLUGIN rpl_semi_sync_replica SONAME 'semisync_replica.so'"]
        );
        assert!(
            dialect
                .loaded_semi_sync_plugins()
                .expect("MySQL")
                .sql()
                .contains("information_schema.PLUGINS")
        );
    }
    assert_eq!(
        Dialect::new(Flavor::MariaDb).set_semi_sync_replica(false).sql(),
        "SET GLOBAL rpl_semi_sync_slave_enabled = OFF"
    );
    let timeout = &Dialect::new(Flavor::MariaDb).enable_semi_sync_source()[1];
    assert_eq!(timeout.params(), [Value::from(4_294_967_295u64)]);
}

#[test]
fn fencing_and_gtid_functions_per_flavor() {
    assert!(
        Dialect::new(Flavor::MariaDb).set_super_read_only(true).is_none(),
        "MariaDB has no super_read_only"
    );
    for flavor in [Flavor::MySql80, Flavor::MySql84] {
        let dialect = Dialect::new(flavor);
        assert_eq!(
            dialect.set_super_read_only(true).expect("MySQL").sql(),
            "SET GLOBAL super_read_only = ON"
        );
        let wait = dialect.wait_for_position("uuid:1-5", Duration::from_millis(1500));
        assert_eq!(wait.sql(), "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)");
        assert_eq!(wait.params(), [Value::from("uuid:1-5"), Value::from(1.5f64)]);
        assert!(
            dialect
                .server_variables()
                .sql()
                .contains("@@GLOBAL.gtid_executed AS gtid_executed")
        );
        assert!(
            dialect
                .server_variables()
                .sql()
                .contains("@@GLOBAL.super_read_only AS super_read_only")
        );
    }
    let mariadb = Dialect::new(Flavor::MariaDb);
    assert_eq!(
        mariadb.wait_for_position("0-1-5", Duration::from_secs(2)).sql(),
        "SELECT MASTER_GTID_WAIT(?, ?)"
    );
    assert!(
        mariadb
            .server_variables()
            .sql()
            .contains("@@GLOBAL.gtid_current_pos AS gtid_executed")
    );
    assert!(
        mariadb
            .server_variables()
            .sql()
            .contains("NULL AS super_read_only")
    );
    assert_eq!(Dialect::set_read_only(false).sql(), "SET GLOBAL read_only = OFF");
    assert_eq!(Dialect::kill_connection(42).sql(), "KILL CONNECTION 42");
}

#[test]
fn accounts_per_flavor() {
    for flavor in FLAVORS {
        let dialect = Dialect::new(flavor);
        let statements = dialect.ensure_account(AccountKind::Heartbeat, "drm_hb", "p'w\0");
        assert_eq!(
            statements[0].sql(),
            "CREATE USER IF NOT EXISTS 'drm_hb'@'%' IDENTIFIED BY 'p''w\\0'"
        );
        assert_eq!(
            statements[1].sql(),
            "ALTER USER 'drm_hb'@'%' IDENTIFIED BY 'p''w\\0'"
        );
        assert!(statements[0].is_sensitive() && statements[1].is_sensitive());
        let grants: Vec<&str> = statements[2..].iter().map(Statement::sql).collect();
        if flavor.is_mariadb() {
            assert_eq!(
                grants,
                [
                    "GRANT SELECT, INSERT, UPDATE ON `drmysql`.* TO 'drm_hb'@'%'",
                    "GRANT BINLOG MONITOR, SLAVE MONITOR ON *.* TO 'drm_hb'@'%'"
                ]
            );
        } else {
            assert_eq!(
                grants,
                [
                    "GRANT SELECT, INSERT, UPDATE ON `drmysql`.* TO 'drm_hb'@'%'",
                    "GRANT REPLICATION CLIENT ON *.* TO 'drm_hb'@'%'"
                ]
            );
        }
        let replication = dialect.ensure_account(AccountKind::Replication, "repl", "x");
        assert_eq!(
            replication[2].sql(),
            "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'"
        );
    }
}

#[test]
fn heartbeat_statements_per_flavor() {
    assert!(
        Dialect::new(Flavor::MariaDb)
            .write_heartbeat()
            .sql()
            .contains("VALUES(server_id)")
    );
    for flavor in [Flavor::MySql80, Flavor::MySql84] {
        let sql = Dialect::new(flavor).write_heartbeat().sql().to_owned();
        assert!(
            sql.contains(") AS new ON DUPLICATE KEY UPDATE server_id = new.server_id"),
            "{sql}"
        );
    }
    let [schema, table] = Dialect::create_heartbeat_schema();
    assert_eq!(schema.sql(), "CREATE DATABASE IF NOT EXISTS `drmysql`");
    assert!(table.sql().contains("ts DATETIME(6) NOT NULL"));
    assert_eq!(
        Dialect::session_binlog(false).sql(),
        "SET SESSION sql_log_bin = 0"
    );
    assert!(
        Dialect::heartbeat_sample()
            .sql()
            .starts_with("SELECT UTC_TIMESTAMP(6) AS now")
    );
}
