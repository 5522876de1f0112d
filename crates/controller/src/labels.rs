//! The labels every object drmysql creates carries, and the selectors built
//! from them.
//!
//! `drmysql.io/role` is the switch clients hang on: the writer Service selects
//! `role=primary`, the reader Service `role=replica`, and moving the label
//! moves the clients.

use std::collections::BTreeMap;

use drmysql_api::names;

/// Labels shared by everything that belongs to the DRMySQL `cluster`.
pub fn cluster_labels(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), names::APP_NAME.to_owned()),
        ("app.kubernetes.io/instance".to_owned(), cluster.to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            names::MANAGED_BY.to_owned(),
        ),
        (names::LABEL_CLUSTER.to_owned(), cluster.to_owned()),
    ])
}

/// Labels of one instance's objects (Pod, PVC, ConfigMap, headless Service).
pub fn instance_labels(cluster: &str, instance: &str) -> BTreeMap<String, String> {
    let mut labels = cluster_labels(cluster);
    labels.insert("app.kubernetes.io/component".to_owned(), "database".to_owned());
    labels.insert(names::LABEL_INSTANCE.to_owned(), instance.to_owned());
    labels
}

/// Selector of the instances of `cluster` that have `role`.
pub fn role_selector(cluster: &str, role: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (names::LABEL_CLUSTER.to_owned(), cluster.to_owned()),
        (names::LABEL_ROLE.to_owned(), role.to_owned()),
    ])
}

/// Selector of one instance.
pub fn instance_selector(cluster: &str, instance: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (names::LABEL_CLUSTER.to_owned(), cluster.to_owned()),
        (names::LABEL_INSTANCE.to_owned(), instance.to_owned()),
    ])
}

/// Label selector text matching everything of `cluster`, for narrowed watches.
pub fn cluster_selector_text(cluster: &str) -> String {
    format!("{}={cluster}", names::LABEL_CLUSTER)
}
