//! A container's environment, resolved as the kubelet resolves it before it
//! creates the container: `envFrom` first, then `env` in order (a later name
//! wins), `$(VAR)` references in plain values expanded against what is
//! defined so far, and `valueFrom` read from Secrets, ConfigMaps and the
//! downward API.
//!
//! A missing Secret, ConfigMap or key that is not `optional` is an error with
//! the kubelet's own message (`couldn't find key K in Secret NS/NAME`), which
//! the runtime reports as `CreateContainerConfigError`, as a kubelet does.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EnvVarSource};

use super::fieldpath::{PodFacts, env_field};
use super::objects::{Lookup, PodObjects};

/// Expands `$(NAME)` references in `input` with `lookup`, the way Kubernetes
/// does for env values, `command` and `args`: `$$` is a literal `$`, a
/// reference to an unknown name stays as written, and so does an unclosed one.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(position) = rest.find('$') {
        out.push_str(&rest[..position]);
        let after = &rest[position + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match lookup(name) {
                Some(value) => out.push_str(&value),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// An ordered environment where a later definition replaces an earlier one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Environment {
    variables: Vec<(String, String)>,
}

impl Environment {
    /// Defines or replaces `name`.
    pub fn set(&mut self, name: &str, value: String) {
        match self.variables.iter_mut().find(|(existing, _)| existing == name) {
            Some(entry) => entry.1 = value,
            None => self.variables.push((name.to_owned(), value)),
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .find(|(existing, _)| existing == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every variable, in definition order.
    pub fn variables(&self) -> &[(String, String)] {
        &self.variables
    }

    /// `$(VAR)` expansion against this environment.
    pub fn expand(&self, input: &str) -> String {
        expand(input, |name| self.get(name).map(str::to_owned))
    }
}

fn utf8(value: Vec<u8>, what: impl FnOnce() -> String) -> Result<String, String> {
    String::from_utf8(value).map_err(|_| format!("{} is not UTF-8 text", what()))
}

/// Resolves `container`'s environment for the Pod in `facts`, reading the
/// referenced objects from `objects` (all in the Pod's namespace).
pub fn resolve(
    container: &Container,
    facts: &PodFacts<'_>,
    objects: &PodObjects,
) -> Result<Environment, String> {
    let namespace = facts.pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut environment = Environment::default();
    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.as_deref().unwrap_or_default();
        let entries: BTreeMap<String, Vec<u8>> = if let Some(reference) = &source.config_map_ref {
            match objects.config_map(&reference.name) {
                Some(map) => super::objects::config_map_entries(map).into_iter().collect(),
                None if reference.optional == Some(true) => continue,
                None => return Err(format!("configmap \"{}\" not found", reference.name)),
            }
        } else if let Some(reference) = &source.secret_ref {
            match objects.secret(&reference.name) {
                Some(secret) => super::objects::secret_entries(secret).into_iter().collect(),
                None if reference.optional == Some(true) => continue,
                None => return Err(format!("secret \"{}\" not found", reference.name)),
            }
        } else {
            continue;
        };
        for (key, value) in entries {
            let name = format!("{prefix}{key}");
            let value = utf8(value, || format!("key {key} of an envFrom source"))?;
            environment.set(&name, value);
        }
    }
    for variable in container.env.iter().flatten() {
        let value = match &variable.value_from {
            // A plain value may refer to the variables defined before it.
            None => environment.expand(variable.value.as_deref().unwrap_or_default()),
            Some(source) => match resolve_source(source, facts, objects, namespace)? {
                Some(value) => value,
                None => continue,
            },
        };
        environment.set(&variable.name, value);
    }
    Ok(environment)
}

fn resolve_source(
    source: &EnvVarSource,
    facts: &PodFacts<'_>,
    objects: &PodObjects,
    namespace: &str,
) -> Result<Option<String>, String> {
    if let Some(selector) = &source.secret_key_ref {
        let optional = selector.optional == Some(true);
        return match objects.secret_value(&selector.name, &selector.key) {
            Lookup::Found(value) => utf8(value, || {
                format!("key {} in Secret {namespace}/{}", selector.key, selector.name)
            })
            .map(Some),
            _ if optional => Ok(None),
            Lookup::NoObject => Err(format!("secret \"{}\" not found", selector.name)),
            Lookup::NoKey => Err(format!(
                "couldn't find key {} in Secret {namespace}/{}",
                selector.key, selector.name
            )),
        };
    }
    if let Some(selector) = &source.config_map_key_ref {
        let optional = selector.optional == Some(true);
        return match objects.config_map_value(&selector.name, &selector.key) {
            Lookup::Found(value) => utf8(value, || {
                format!("key {} in ConfigMap {namespace}/{}", selector.key, selector.name)
            })
            .map(Some),
            _ if optional => Ok(None),
            Lookup::NoObject => Err(format!("configmap \"{}\" not found", selector.name)),
            Lookup::NoKey => Err(format!(
                "couldn't find key {} in ConfigMap {namespace}/{}",
                selector.key, selector.name
            )),
        };
    }
    if let Some(selector) = &source.field_ref {
        return env_field(facts, &selector.field_path).map(Some);
    }
    if source.resource_field_ref.is_some() {
        return Err("resourceFieldRef is not supported by the sandbox kubelet".to_owned());
    }
    Err("valueFrom names no source the sandbox kubelet supports".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::{
        ConfigMap, ConfigMapKeySelector, EnvFromSource, EnvVar, ObjectFieldSelector, Pod, Secret,
        SecretEnvSource, SecretKeySelector,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::net::{IpAddr, Ipv4Addr};

    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("orders-0".to_owned()),
                namespace: Some("shop".to_owned()),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    fn facts(pod: &Pod) -> PodFacts<'_> {
        PodFacts {
            pod,
            node_name: "n1",
            pod_ip: IpAddr::V4(Ipv4Addr::new(10, 244, 1, 5)),
            host_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        }
    }

    fn objects() -> PodObjects {
        PodObjects {
            secrets: vec![Secret {
                metadata: ObjectMeta {
                    name: Some("creds".to_owned()),
                    ..ObjectMeta::default()
                },
                data: Some(BTreeMap::from([(
                    "root-password".to_owned(),
                    ByteString(b"s3cret".to_vec()),
                )])),
                ..Secret::default()
            }],
            config_maps: vec![ConfigMap {
                metadata: ObjectMeta {
                    name: Some("settings".to_owned()),
                    ..ObjectMeta::default()
                },
                data: Some(BTreeMap::from([("mode".to_owned(), "fast".to_owned())])),
                ..ConfigMap::default()
            }],
            claims: Vec::new(),
        }
    }

    fn plain(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.to_owned(),
            value: Some(value.to_owned()),
            value_from: None,
        }
    }

    fn from(name: &str, source: EnvVarSource) -> EnvVar {
        EnvVar {
            name: name.to_owned(),
            value: None,
            value_from: Some(source),
        }
    }

    fn secret_ref(name: &str, key: &str, optional: Option<bool>) -> EnvVarSource {
        EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: name.to_owned(),
                key: key.to_owned(),
                optional,
            }),
            ..EnvVarSource::default()
        }
    }

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let lookup = |name: &str| (name == "A").then(|| "x".to_owned());
        assert_eq!(expand("$(A)-$(B)", lookup), "x-$(B)");
        assert_eq!(expand("$$(A) $ $(A", lookup), "$(A) $ $(A");
        assert_eq!(expand("no refs", lookup), "no refs");
        assert_eq!(expand("end$", lookup), "end$");
    }

    #[test]
    fn values_secrets_config_maps_and_fields_resolve() {
        let pod = pod();
        let container = Container {
            name: "c".to_owned(),
            env: Some(vec![
                plain("PLAIN", "v"),
                from("PASSWORD", secret_ref("creds", "root-password", Some(false))),
                from(
                    "MODE",
                    EnvVarSource {
                        config_map_key_ref: Some(ConfigMapKeySelector {
                            name: "settings".to_owned(),
                            key: "mode".to_owned(),
                            optional: None,
                        }),
                        ..EnvVarSource::default()
                    },
                ),
                from(
                    "POD_IP",
                    EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            api_version: None,
                            field_path: "status.podIP".to_owned(),
                        }),
                        ..EnvVarSource::default()
                    },
                ),
                from("ABSENT", secret_ref("creds", "nope", Some(true))),
                from("ABSENT_SECRET", secret_ref("nothing", "k", Some(true))),
                plain("URL", "mysql://$(POD_IP):3306/$(UNKNOWN)"),
                plain("PLAIN", "second wins"),
            ]),
            ..Container::default()
        };
        let environment = resolve(&container, &facts(&pod), &objects()).expect("resolves");
        assert_eq!(
            environment.variables(),
            [
                ("PLAIN".to_owned(), "second wins".to_owned()),
                ("PASSWORD".to_owned(), "s3cret".to_owned()),
                ("MODE".to_owned(), "fast".to_owned()),
                ("POD_IP".to_owned(), "10.244.1.5".to_owned()),
                ("URL".to_owned(), "mysql://10.244.1.5:3306/$(UNKNOWN)".to_owned()),
            ]
        );
    }

    #[test]
    fn env_from_applies_prefixes_and_env_overrides_it() {
        let pod = pod();
        let container = Container {
            name: "c".to_owned(),
            env_from: Some(vec![EnvFromSource {
                prefix: Some("DB_".to_owned()),
                secret_ref: Some(SecretEnvSource {
                    name: "creds".to_owned(),
                    optional: None,
                }),
                config_map_ref: None,
            }]),
            env: Some(vec![plain("DB_root-password", "overridden")]),
            ..Container::default()
        };
        let environment = resolve(&container, &facts(&pod), &objects()).expect("resolves");
        assert_eq!(environment.get("DB_root-password"), Some("overridden"));
    }

    #[test]
    fn missing_required_sources_name_the_object_and_key() {
        let pod = pod();
        let with = |source: EnvVarSource| Container {
            name: "c".to_owned(),
            env: Some(vec![from("X", source)]),
            ..Container::default()
        };
        let error = resolve(
            &with(secret_ref("creds", "heartbeat-password", Some(false))),
            &facts(&pod),
            &objects(),
        )
        .expect_err("missing key");
        assert_eq!(error, "couldn't find key heartbeat-password in Secret shop/creds");
        let error = resolve(&with(secret_ref("gone", "k", None)), &facts(&pod), &objects())
            .expect_err("missing Secret");
        assert_eq!(error, "secret \"gone\" not found");
        let missing_map = EnvVarSource {
            config_map_key_ref: Some(ConfigMapKeySelector {
                name: "settings".to_owned(),
                key: "absent".to_owned(),
                optional: None,
            }),
            ..EnvVarSource::default()
        };
        let error = resolve(&with(missing_map), &facts(&pod), &objects()).expect_err("missing key");
        assert_eq!(error, "couldn't find key absent in ConfigMap shop/settings");
    }
}
