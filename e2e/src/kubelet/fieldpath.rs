//! The downward API: the Pod fields a container may see through an env
//! `fieldRef` or a `downwardAPI` volume, in the kubelet's own format.
//!
//! Label and annotation maps are written as the kubelet's `FormatMap` does:
//! one `key="value"` line per entry, sorted by key, the value quoted with Go's
//! `%q`, and no newline after the last line. The drmysql sidecar parses exactly
//! that format to follow its role label, so it is reproduced byte for byte.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;

/// What the kubelet knows about a Pod beyond its object: where it runs.
#[derive(Clone, Copy, Debug)]
pub struct PodFacts<'a> {
    /// The Pod.
    pub pod: &'a Pod,
    /// The node it runs on (`spec.nodeName`).
    pub node_name: &'a str,
    /// Its address (`status.podIP`).
    pub pod_ip: IpAddr,
    /// Its node's address (`status.hostIP`).
    pub host_ip: IpAddr,
}

/// `metadata.labels['key']` → (`metadata.labels`, `Some("key")`).
fn split_subscript(path: &str) -> (&str, Option<&str>) {
    if let Some((base, rest)) = path.split_once("['")
        && let Some(key) = rest.strip_suffix("']")
    {
        return (base, Some(key));
    }
    (path, None)
}

fn map_of<'a>(pod: &'a Pod, base: &str) -> Option<Option<&'a BTreeMap<String, String>>> {
    match base {
        "metadata.labels" => Some(pod.metadata.labels.as_ref()),
        "metadata.annotations" => Some(pod.metadata.annotations.as_ref()),
        _ => None,
    }
}

/// The value of a metadata field a `downwardAPI` volume item may name.
pub fn volume_field(pod: &Pod, path: &str) -> Result<String, String> {
    let (base, key) = split_subscript(path);
    if let Some(map) = map_of(pod, base) {
        return Ok(match key {
            Some(key) => map.and_then(|map| map.get(key)).cloned().unwrap_or_default(),
            None => format_map(map.unwrap_or(&BTreeMap::new())),
        });
    }
    let metadata = &pod.metadata;
    match path {
        "metadata.name" => Ok(metadata.name.clone().unwrap_or_default()),
        "metadata.namespace" => Ok(metadata.namespace.clone().unwrap_or_default()),
        "metadata.uid" => Ok(metadata.uid.clone().unwrap_or_default()),
        other => Err(format!("unsupported fieldPath {other}")),
    }
}

/// The value of a field an env `fieldRef` may name.
pub fn env_field(facts: &PodFacts<'_>, path: &str) -> Result<String, String> {
    let (base, key) = split_subscript(path);
    if let (Some(map), Some(key)) = (map_of(facts.pod, base), key) {
        return Ok(map.and_then(|map| map.get(key)).cloned().unwrap_or_default());
    }
    let spec = facts.pod.spec.as_ref();
    match path {
        "metadata.name" | "metadata.namespace" | "metadata.uid" => volume_field(facts.pod, path),
        "spec.nodeName" => Ok(spec
            .and_then(|spec| spec.node_name.clone())
            .unwrap_or_else(|| facts.node_name.to_owned())),
        "spec.serviceAccountName" => Ok(spec
            .and_then(|spec| spec.service_account_name.clone())
            .unwrap_or_else(|| "default".to_owned())),
        "status.podIP" | "status.podIPs" => Ok(facts.pod_ip.to_string()),
        "status.hostIP" | "status.hostIPs" => Ok(facts.host_ip.to_string()),
        other => Err(format!("unsupported fieldPath {other}")),
    }
}

/// A label or annotation map as the kubelet writes it into a volume.
pub fn format_map(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(key, value)| format!("{key}={}", go_quote(value)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `value` as Go's `%q` writes it: double-quoted, with `"` and `\` escaped,
/// the usual C escapes, `\xNN` for other ASCII control bytes, and `\uNNNN` or
/// `\UNNNNNNNN` for other control characters and Unicode spaces. (Go also
/// escapes a few rarer non-printable code points, such as format characters;
/// labels cannot hold them and the sidecar reads only labels.)
pub fn go_quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for character in value.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\u{7}' => quoted.push_str("\\a"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\u{b}' => quoted.push_str("\\v"),
            c if c.is_ascii_control() => {
                let _ = write!(quoted, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() || is_unicode_space_not_printed(c) => {
                let code = u32::from(c);
                if code <= 0xffff {
                    let _ = write!(quoted, "\\u{code:04x}");
                } else {
                    let _ = write!(quoted, "\\U{code:08x}");
                }
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Spaces Go's `strconv.IsPrint` rejects (everything but U+0020 in the
/// Unicode space categories), which `%q` therefore escapes.
fn is_unicode_space_not_printed(c: char) -> bool {
    c != ' ' && c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;
    use drmysql_controller::sidecar::podinfo::parse_labels;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::net::Ipv4Addr;

    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("orders-0".to_owned()),
                namespace: Some("shop".to_owned()),
                uid: Some("u-1".to_owned()),
                labels: Some(BTreeMap::from([
                    ("drmysql.io/role".to_owned(), "primary".to_owned()),
                    ("app".to_owned(), "a\"b\\c\nd".to_owned()),
                ])),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some("kosmos-member-a".to_owned()),
                ..PodSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn labels_are_written_in_the_kubelet_format_the_sidecar_parses() {
        let pod = pod();
        let text = volume_field(&pod, "metadata.labels").expect("labels");
        assert_eq!(text, "app=\"a\\\"b\\\\c\\nd\"\ndrmysql.io/role=\"primary\"");
        let parsed = parse_labels(&text);
        assert_eq!(parsed, pod.metadata.labels.clone().expect("labels"));
        assert_eq!(volume_field(&pod, "metadata.annotations").expect("empty"), "");
        assert_eq!(
            volume_field(&pod, "metadata.labels['drmysql.io/role']").expect("one label"),
            "primary"
        );
        assert!(
            volume_field(&pod, "spec.nodeName").is_err(),
            "volumes see metadata only"
        );
    }

    #[test]
    fn go_quoting_matches_percent_q() {
        assert_eq!(go_quote("plain"), "\"plain\"");
        assert_eq!(go_quote("tab\there"), "\"tab\\there\"");
        assert_eq!(go_quote("\u{1}\u{7f}"), "\"\\x01\\x7f\"");
        assert_eq!(go_quote("é ü"), "\"é ü\"");
        assert_eq!(go_quote("\u{a0}"), "\"\\u00a0\"");
    }

    #[test]
    fn env_fields_cover_metadata_spec_and_status() {
        let pod = pod();
        let facts = PodFacts {
            pod: &pod,
            node_name: "ignored-when-bound",
            pod_ip: IpAddr::V4(Ipv4Addr::new(10, 244, 1, 5)),
            host_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        };
        let field = |path: &str| env_field(&facts, path).expect(path);
        assert_eq!(field("metadata.name"), "orders-0");
        assert_eq!(field("metadata.namespace"), "shop");
        assert_eq!(field("metadata.uid"), "u-1");
        assert_eq!(field("metadata.labels['drmysql.io/role']"), "primary");
        assert_eq!(field("metadata.labels['absent']"), "");
        assert_eq!(field("spec.nodeName"), "kosmos-member-a");
        assert_eq!(field("spec.serviceAccountName"), "default");
        assert_eq!(field("status.podIP"), "10.244.1.5");
        assert_eq!(field("status.hostIP"), "192.0.2.7");
        let error = env_field(&facts, "metadata.labels").expect_err("a whole map is not an env value");
        assert!(error.contains("metadata.labels"), "{error}");
    }
}
