//! The API objects a Pod refers to, as the kubelet would read them: its
//! Secrets, ConfigMaps and PersistentVolumeClaims. The caller fetches them
//! (from a simulator or a real API server) and hands them over; the runtime
//! never talks to an API server itself, so it can be tested without one.

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret};

/// The objects in a Pod's namespace that its env and volumes name.
#[derive(Clone, Debug, Default)]
pub struct PodObjects {
    /// Secrets.
    pub secrets: Vec<Secret>,
    /// ConfigMaps.
    pub config_maps: Vec<ConfigMap>,
    /// PersistentVolumeClaims.
    pub claims: Vec<PersistentVolumeClaim>,
}

fn named<'a, T>(items: &'a [T], name: &str, metadata: impl Fn(&T) -> Option<&str>) -> Option<&'a T> {
    items.iter().find(|item| metadata(item) == Some(name))
}

/// Where a looked-up value came from, for kubelet-style messages.
pub(crate) enum Lookup<T> {
    /// The object does not exist.
    NoObject,
    /// The object exists but has no such key.
    NoKey,
    /// The value.
    Found(T),
}

impl PodObjects {
    /// The Secret `name`.
    pub fn secret(&self, name: &str) -> Option<&Secret> {
        named(&self.secrets, name, |secret| secret.metadata.name.as_deref())
    }

    /// The ConfigMap `name`.
    pub fn config_map(&self, name: &str) -> Option<&ConfigMap> {
        named(&self.config_maps, name, |map| map.metadata.name.as_deref())
    }

    /// The PersistentVolumeClaim `name`.
    pub fn claim(&self, name: &str) -> Option<&PersistentVolumeClaim> {
        named(&self.claims, name, |claim| claim.metadata.name.as_deref())
    }

    /// Key `key` of Secret `name`, as bytes.
    pub(crate) fn secret_value(&self, name: &str, key: &str) -> Lookup<Vec<u8>> {
        let Some(secret) = self.secret(name) else {
            return Lookup::NoObject;
        };
        // The API server merges `stringData` over `data` on write; a Secret
        // handed over unmerged is read the same way.
        let string_data = secret
            .string_data
            .as_ref()
            .and_then(|data| data.get(key))
            .map(|value| value.clone().into_bytes());
        let data = || {
            secret
                .data
                .as_ref()
                .and_then(|data| data.get(key))
                .map(|value| value.0.clone())
        };
        match string_data.or_else(data) {
            Some(value) => Lookup::Found(value),
            None => Lookup::NoKey,
        }
    }

    /// Key `key` of ConfigMap `name`, as bytes (`data` or `binaryData`).
    pub(crate) fn config_map_value(&self, name: &str, key: &str) -> Lookup<Vec<u8>> {
        let Some(map) = self.config_map(name) else {
            return Lookup::NoObject;
        };
        let data = map
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .map(|value| value.clone().into_bytes());
        let binary = || {
            map.binary_data
                .as_ref()
                .and_then(|data| data.get(key))
                .map(|value| value.0.clone())
        };
        match data.or_else(binary) {
            Some(value) => Lookup::Found(value),
            None => Lookup::NoKey,
        }
    }
}

/// Every key of a Secret with its value.
pub(crate) fn secret_entries(secret: &Secret) -> Vec<(String, Vec<u8>)> {
    let mut entries: Vec<(String, Vec<u8>)> = secret
        .data
        .iter()
        .flatten()
        .map(|(key, value)| (key.clone(), value.0.clone()))
        .collect();
    for (key, value) in secret.string_data.iter().flatten() {
        entries.retain(|(existing, _)| existing != key);
        entries.push((key.clone(), value.clone().into_bytes()));
    }
    entries.sort();
    entries
}

/// Every key of a ConfigMap with its value.
pub(crate) fn config_map_entries(map: &ConfigMap) -> Vec<(String, Vec<u8>)> {
    let mut entries: Vec<(String, Vec<u8>)> = map
        .data
        .iter()
        .flatten()
        .map(|(key, value)| (key.clone(), value.clone().into_bytes()))
        .chain(
            map.binary_data
                .iter()
                .flatten()
                .map(|(key, value)| (key.clone(), value.0.clone())),
        )
        .collect();
    entries.sort();
    entries
}
