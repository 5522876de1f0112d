//! The writer, reader and per-instance Services.
//!
//! The writer `<name>-primary` and the reader `<name>-replicas` select on the
//! role label; a replica that lags leaves the reader's endpoints through its
//! readiness. Each instance also gets a headless Service that publishes its
//! address even while it is not ready, so that peers and the controller can
//! reach a server that is catching up.

use drmysql_api::drmysql::{DRMySQL, Instance, ServiceType};
use drmysql_api::names;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config::MYSQL_PORT;
use crate::labels;

fn mysql_port(port: i32, node_port: Option<i32>, service_type: ServiceType) -> ServicePort {
    ServicePort {
        name: Some("mysql".to_owned()),
        port,
        target_port: Some(IntOrString::String("mysql".to_owned())),
        protocol: Some("TCP".to_owned()),
        node_port: node_port.filter(|_| service_type != ServiceType::ClusterIP),
        ..ServicePort::default()
    }
}

/// The writer Service, `<name>-primary`.
pub fn writer(drmysql: &DRMySQL) -> Service {
    let cluster = drmysql.metadata.name.clone().unwrap_or_default();
    let spec = &drmysql.spec.service;
    let external = spec.type_ != ServiceType::ClusterIP;
    Service {
        metadata: ObjectMeta {
            name: Some(drmysql.writer_service_name()),
            namespace: drmysql.metadata.namespace.clone(),
            labels: Some(labels::cluster_labels(&cluster)),
            annotations: (!spec.annotations.is_empty()).then(|| spec.annotations.clone()),
            owner_references: super::owner(drmysql),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(spec.type_.as_str().to_owned()),
            selector: Some(labels::role_selector(&cluster, names::ROLE_PRIMARY)),
            ports: Some(vec![mysql_port(spec.port, spec.node_port, spec.type_)]),
            load_balancer_ip: spec.load_balancer_ip.clone(),
            load_balancer_class: spec.load_balancer_class.clone(),
            external_traffic_policy: spec
                .external_traffic_policy
                .filter(|_| external)
                .map(|policy| format!("{policy:?}")),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// The reader Service, `<name>-replicas`, when enabled.
pub fn reader(drmysql: &DRMySQL) -> Option<Service> {
    let readers = &drmysql.spec.service.readers;
    if !readers.enabled {
        return None;
    }
    let cluster = drmysql.metadata.name.clone().unwrap_or_default();
    Some(Service {
        metadata: ObjectMeta {
            name: Some(drmysql.reader_service_name()),
            namespace: drmysql.metadata.namespace.clone(),
            labels: Some(labels::cluster_labels(&cluster)),
            annotations: (!readers.annotations.is_empty()).then(|| readers.annotations.clone()),
            owner_references: super::owner(drmysql),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(readers.type_.as_str().to_owned()),
            selector: Some(labels::role_selector(&cluster, names::ROLE_REPLICA)),
            ports: Some(vec![mysql_port(drmysql.spec.service.port, None, readers.type_)]),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// The headless Service of one instance, named like the instance.
pub fn headless(drmysql: &DRMySQL, instance: &Instance<'_>) -> Service {
    let cluster = drmysql.metadata.name.clone().unwrap_or_default();
    Service {
        metadata: ObjectMeta {
            name: Some(instance.name.clone()),
            namespace: drmysql.metadata.namespace.clone(),
            labels: Some(labels::instance_labels(&cluster, &instance.name)),
            owner_references: super::owner(drmysql),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            publish_not_ready_addresses: Some(true),
            selector: Some(labels::instance_selector(&cluster, &instance.name)),
            ports: Some(vec![ServicePort {
                name: Some("mysql".to_owned()),
                port: MYSQL_PORT,
                target_port: Some(IntOrString::Int(MYSQL_PORT)),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}
