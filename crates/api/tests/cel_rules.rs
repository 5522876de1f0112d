//! Table-driven proof that every validation rule of the DRMySQL CRD accepts what
//! it should and refuses what it should, with a message that names the field.
//! The rules run in kube-cel, the CEL implementation kube ships, on the schema
//! exactly as generated into `crds/`.

mod support;

use serde_json::json;
use support::{assert_admitted, assert_refused, create, minimal, update, with};

#[test]
fn the_minimal_spec_is_admitted_and_defaulted() {
    let admitted = assert_admitted(create(&minimal()));
    let spec = &admitted["spec"];
    assert_eq!(spec["replication"]["mode"], "Async");
    assert_eq!(spec["replication"]["maxLagForFailoverSeconds"], 30);
    assert_eq!(spec["lag"]["heartbeatIntervalMillis"], 1000);
    assert_eq!(spec["lag"]["alertThresholdSeconds"], 30.0);
    assert_eq!(spec["failover"]["policy"], "Automatic");
    assert_eq!(spec["failover"]["detectionSeconds"], 10);
    assert_eq!(spec["failover"]["cooldownSeconds"], 300);
    assert_eq!(spec["failover"]["failback"], "Manual");
    assert_eq!(spec["service"]["type"], "ClusterIP");
    assert_eq!(spec["service"]["port"], 3306);
    assert_eq!(spec["service"]["readers"]["enabled"], true);
    assert_eq!(spec["storage"]["size"], "10Gi");
}

#[test]
fn placement_rules() {
    let cases = [
        (
            "replica on the primary's node",
            json!({"spec": {"primary": {"node": "n1"}, "replicas": [{"node": "n1"}]}}),
            Some("spec.replicas[].node must differ from spec.primary.node"),
        ),
        (
            "second replica on the primary's node",
            json!({"spec": {"primary": {"node": "n1"}, "replicas": [{"node": "n2"}, {"node": "n1"}]}}),
            Some("spec.replicas[].node must differ from spec.primary.node"),
        ),
        (
            "two replicas on one node",
            json!({"spec": {"replicas": [{"node": "n2"}, {"node": "n2"}]}}),
            Some("spec.replicas[].node must be unique"),
        ),
        (
            "replicas on distinct nodes",
            json!({"spec": {"replicas": [{"node": "n2"}, {"node": "n3"}, {"node": "n4"}, {"node": "n5"}]}}),
            None,
        ),
        (
            "two replicas with one name",
            json!({"spec": {"replicas": [{"node": "n2", "name": "dr"}, {"node": "n3", "name": "dr"}]}}),
            Some("spec.replicas[].name must be unique and differ from spec.primary.name"),
        ),
        (
            "a replica named like the primary",
            json!({"spec": {"primary": {"node": "n1", "name": "site"}, "replicas": [{"node": "n2", "name": "site"}]}}),
            Some("spec.replicas[].name must be unique and differ from spec.primary.name"),
        ),
        (
            "a digits-only name",
            json!({"spec": {"replicas": [{"node": "n2", "name": "1"}]}}),
            Some("name must be a DNS label that starts with a letter"),
        ),
        (
            "an upper-case name",
            json!({"spec": {"replicas": [{"node": "n2", "name": "Tencent"}]}}),
            Some("name must be a DNS label that starts with a letter"),
        ),
        (
            "node together with affinity",
            json!({"spec": {"replicas": [{"node": "n2", "affinity": {"nodeAffinity": {}}}]}}),
            Some("node and affinity are mutually exclusive"),
        ),
        (
            "affinity alone",
            json!({"spec": {"replicas": [{"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "kosmos.io/node", "operator": "In", "values": ["true"]}]}]}}}}]}}),
            None,
        ),
        (
            "nodeSelector alone",
            json!({"spec": {"replicas": [{"nodeSelector": {"topology.kubernetes.io/region": "ap-guangzhou"}}]}}),
            None,
        ),
        (
            "no placement at all",
            json!({"spec": {"replicas": [{"name": "floating"}]}}),
            Some("an instance needs a placement"),
        ),
        (
            "no replicas",
            json!({"spec": {"replicas": []}}),
            Some("spec.replicas: Too few: 0: must have at least 1 items"),
        ),
        (
            "five replicas",
            json!({"spec": {"replicas": [{"node": "a"}, {"node": "b"}, {"node": "c"}, {"node": "d"}, {"node": "e"}]}}),
            Some("spec.replicas: Too many: 5: must have at most 4 items"),
        ),
    ];
    for (name, patch, expected) in cases {
        let result = create(&with(patch));
        match expected {
            Some(message) => assert_refused(result, message),
            None => {
                assert_admitted(result);
            }
        }
        eprintln!("ok: {name}");
    }
}

#[test]
fn lag_and_replication_rules() {
    let cases = [
        (
            json!({"spec": {"lag": {"heartbeatIntervalMillis": 99}}}),
            Some("spec.lag.heartbeatIntervalMillis must be between 100 and 10000"),
        ),
        (json!({"spec": {"lag": {"heartbeatIntervalMillis": 100}}}), None),
        (json!({"spec": {"lag": {"heartbeatIntervalMillis": 10000}}}), None),
        (
            json!({"spec": {"lag": {"heartbeatIntervalMillis": 10001}}}),
            Some("spec.lag.heartbeatIntervalMillis must be between 100 and 10000"),
        ),
        (
            json!({"spec": {"lag": {"alertThresholdSeconds": 0}}}),
            Some("spec.lag.alertThresholdSeconds must be greater than 0"),
        ),
        (
            json!({"spec": {"lag": {"alertThresholdSeconds": -5.5}}}),
            Some("spec.lag.alertThresholdSeconds must be greater than 0"),
        ),
        (json!({"spec": {"lag": {"alertThresholdSeconds": 0.5}}}), None),
        (json!({"spec": {"lag": {"alertThresholdSeconds": 45}}}), None),
        (
            json!({"spec": {"replication": {"mode": "SemiSync"}}}),
            Some("spec.replication.mode: Unsupported value: \"SemiSync\""),
        ),
        (json!({"spec": {"replication": {"mode": "Lossless"}}}), None),
        (
            json!({"spec": {"failover": {"detectionSeconds": 0}}}),
            Some("spec.failover.detectionSeconds: Invalid value: 0: must be greater than or equal to 1"),
        ),
        (
            json!({"spec": {"failover": {"policy": "Manual", "failback": "Automatic"}}}),
            None,
        ),
        (
            json!({"spec": {"replicationMode": "Async"}}),
            Some("spec.replicationMode: unknown field"),
        ),
    ];
    for (patch, expected) in cases {
        let result = create(&with(patch.clone()));
        match expected {
            Some(message) => assert_refused(result, message),
            None => {
                assert_admitted(result);
            }
        }
        eprintln!("ok: {patch}");
    }
}

#[test]
fn service_rules() {
    let cases = [
        (
            json!({"spec": {"service": {"loadBalancerIP": "10.0.0.9"}}}),
            Some("spec.service.loadBalancerIP requires spec.service.type LoadBalancer"),
        ),
        (
            json!({"spec": {"service": {"type": "LoadBalancer", "loadBalancerIP": "10.0.0.9"}}}),
            None,
        ),
        (
            json!({"spec": {"service": {"type": "ClusterIP", "nodePort": 30306}}}),
            Some("spec.service.nodePort requires spec.service.type NodePort or LoadBalancer"),
        ),
        (
            json!({"spec": {"service": {"type": "NodePort", "nodePort": 30306}}}),
            None,
        ),
        (
            json!({"spec": {"service": {"type": "NodePort", "nodePort": 80}}}),
            Some("spec.service.nodePort: Invalid value: 80"),
        ),
        (
            json!({"spec": {"service": {"loadBalancerClass": "metallb"}}}),
            Some("spec.service.loadBalancerClass requires spec.service.type LoadBalancer"),
        ),
        (
            json!({"spec": {"service": {"readers": {"maxLagSeconds": 0}}}}),
            Some("spec.service.readers.maxLagSeconds must be greater than 0"),
        ),
        (
            json!({"spec": {"service": {"type": "ExternalName"}}}),
            Some("spec.service.type: Unsupported value"),
        ),
    ];
    for (patch, expected) in cases {
        let result = create(&with(patch.clone()));
        match expected {
            Some(message) => assert_refused(result, message),
            None => {
                assert_admitted(result);
            }
        }
        eprintln!("ok: {patch}");
    }
}

#[test]
fn storage_size_rules() {
    let cases = [
        ("1Gi", None),
        ("1024Mi", None),
        ("2G", None),
        ("1T", None),
        (
            "1023Mi",
            Some("spec.storage.size must be a quantity of at least 1Gi"),
        ),
        (
            "512Mi",
            Some("spec.storage.size must be a quantity of at least 1Gi"),
        ),
        (
            "lots",
            Some("spec.storage.size must be a quantity of at least 1Gi"),
        ),
    ];
    for (size, expected) in cases {
        let result = create(&with(json!({"spec": {"storage": {"size": size}}})));
        match expected {
            Some(message) => assert_refused(result, message),
            None => {
                assert_admitted(result);
            }
        }
        eprintln!("ok: {size}");
    }
}

#[test]
fn engine_config_rules() {
    let owned = [
        "server_id",
        "server-id",
        "SERVER_ID",
        "loose-server-id",
        "gtid_mode",
        "gtid-strict-mode",
        "enforce-gtid-consistency",
        "log_bin",
        "log-bin-basename",
        "skip-log-bin",
        "disable_log_bin",
        "log_slave_updates",
        "log-replica-updates",
        "read_only",
        "read-only",
        "super_read_only",
        "rpl_semi_sync_master_enabled",
        "rpl-semi-sync-source-timeout",
        "relay_log",
        "relay-log-index",
        "skip_slave_start",
        "skip-replica-start",
        "datadir",
        "port",
        "bind-address",
        "socket",
        "report_host",
    ];
    for name in owned {
        assert!(
            drmysql_api::drmysql::is_owned_option(name),
            "{name} should be owned"
        );
        let result = create(&with(
            json!({"spec": {"engine": {"config": [{"name": name, "value": "1"}]}}}),
        ));
        assert_refused(result, "spec.engine.config: this option is owned by drmysql");
    }
    let free = [
        "innodb_buffer_pool_size",
        "max_connections",
        "max-connections",
        "binlog_format",
        "character-set-server",
        "skip-name-resolve",
        "slow_query_log",
        "long_query_time",
        "portal",
        "readonly_mode",
    ];
    for name in free {
        assert!(
            !drmysql_api::drmysql::is_owned_option(name),
            "{name} should be free"
        );
        assert_admitted(create(&with(
            json!({"spec": {"engine": {"config": [{"name": name, "value": "1"}]}}}),
        )));
    }
    assert_refused(
        create(&with(
            json!({"spec": {"engine": {"config": [{"name": "init_connect", "value": "x\n[client]"}]}}}),
        )),
        "spec.engine.config[0].value: Invalid value",
    );
    assert_refused(
        create(&with(
            json!({"spec": {"engine": {"config": [{"name": "1abc", "value": "1"}]}}}),
        )),
        "spec.engine.config[0].name: Invalid value",
    );
    assert_refused(
        create(&with(json!({"spec": {"engine": {"image": ""}}}))),
        "spec.engine.image: Invalid value",
    );
}

#[test]
fn metadata_name_length_rule() {
    let long_name = "a".repeat(41);
    assert_refused(
        create(&with(json!({"metadata": {"name": long_name}}))),
        "metadata.name must be at most 40 characters",
    );
    assert_admitted(create(&with(json!({"metadata": {"name": "a".repeat(40)}}))));
}

#[test]
fn transition_rules() {
    let old = with(
        json!({"spec": {"storage": {"size": "20Gi", "storageClassName": "fast"}, "credentialsSecret": "orders-db"}}),
    );

    let grown = with(
        json!({"spec": {"storage": {"size": "40Gi", "storageClassName": "fast"}, "credentialsSecret": "orders-db"}}),
    );
    assert_admitted(update(&old, &grown));

    let shrunk = with(
        json!({"spec": {"storage": {"size": "10Gi", "storageClassName": "fast"}, "credentialsSecret": "orders-db"}}),
    );
    assert_refused(update(&old, &shrunk), "spec.storage.size cannot shrink");

    let reclassed = with(
        json!({"spec": {"storage": {"size": "20Gi", "storageClassName": "slow"}, "credentialsSecret": "orders-db"}}),
    );
    assert_refused(
        update(&old, &reclassed),
        "spec.storage.storageClassName is immutable",
    );

    let declassed = with(json!({"spec": {"storage": {"size": "20Gi"}, "credentialsSecret": "orders-db"}}));
    assert_refused(
        update(&old, &declassed),
        "spec.storage.storageClassName is immutable",
    );

    let unclassed_old = with(json!({"spec": {"storage": {"size": "20Gi"}}}));
    let classed = with(json!({"spec": {"storage": {"size": "20Gi", "storageClassName": "fast"}}}));
    assert_refused(
        update(&unclassed_old, &classed),
        "spec.storage.storageClassName is immutable",
    );

    let resecreted = with(
        json!({"spec": {"storage": {"size": "20Gi", "storageClassName": "fast"}, "credentialsSecret": "other"}}),
    );
    assert_refused(update(&old, &resecreted), "spec.credentialsSecret is immutable");

    let moved_replica = with(
        json!({"spec": {"storage": {"size": "20Gi", "storageClassName": "fast"}, "credentialsSecret": "orders-db",
        "replicas": [{"node": "kosmos-member-aliyun"}]}}),
    );
    assert_admitted(update(&old, &moved_replica));
}

#[test]
fn serde_defaults_agree_with_the_crd_defaults() {
    let admitted = assert_admitted(create(&minimal()));
    let typed: drmysql_api::drmysql::DRMySQL =
        serde_json::from_value(minimal()).expect("minimal deserializes");
    let serialized = serde_json::to_value(&typed).expect("serializes");
    assert_eq!(
        serialized["spec"], admitted["spec"],
        "what the controller assumes for an omitted field is what the API server stores"
    );
}
