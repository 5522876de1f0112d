//! Object metadata as the server owns it: names and their validation, uids,
//! timestamps and the `generateName` suffix.
//!
//! Objects are kept as JSON so that every kind, built-in or custom, goes
//! through one code path; these helpers read and write the few metadata
//! fields the server itself manages.

use super::error::{ApiError, Cause};
use super::registry::ResourceType;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `value` as a JSON object, replacing it with an empty one when it is not.
pub(crate) fn ensure_object(value: &mut Value) -> &mut Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => {
            *other = Value::Object(Map::new());
            ensure_object(other)
        }
    }
}

/// `metadata` of `object`, created when missing (or not an object).
pub(crate) fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    ensure_object(ensure_object(object).entry("metadata").or_insert(Value::Null))
}

/// A string field of `metadata`.
pub(crate) fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

/// `metadata.name`, or "".
pub(crate) fn name(object: &Value) -> &str {
    meta_str(object, "name").unwrap_or_default()
}

/// `metadata.namespace`, or "".
pub(crate) fn namespace(object: &Value) -> &str {
    meta_str(object, "namespace").unwrap_or_default()
}

/// `metadata.uid`, or "".
pub(crate) fn uid(object: &Value) -> &str {
    meta_str(object, "uid").unwrap_or_default()
}

/// `metadata.labels` as a map (non-string values are ignored).
pub(crate) fn labels(object: &Value) -> BTreeMap<String, String> {
    object
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.finalizers`.
pub(crate) fn finalizers(object: &Value) -> Vec<String> {
    object
        .get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces `metadata.finalizers` (removing the field when empty).
pub(crate) fn set_finalizers(object: &mut Value, finalizers: &[String]) {
    let metadata = metadata_mut(object);
    if finalizers.is_empty() {
        metadata.remove("finalizers");
    } else {
        metadata.insert("finalizers".to_owned(), Value::from(finalizers.to_vec()));
    }
}

/// Whether `metadata.deletionTimestamp` is set.
pub(crate) fn is_deleting(object: &Value) -> bool {
    meta_str(object, "deletionTimestamp").is_some()
}

/// The uids `metadata.ownerReferences` point to.
pub(crate) fn owner_uids(object: &Value) -> Vec<String> {
    object
        .get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Now, as Kubernetes writes `metav1.Time` (RFC 3339, whole seconds, UTC).
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| ApiError::internal(format!("no randomness: {error}")))?;
    Ok(bytes)
}

/// A random (version 4) UUID.
pub(crate) fn new_uid() -> Result<String, ApiError> {
    let mut bytes = random_bytes::<16>()?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// The 5-character suffix of `generateName`, from the alphabet Kubernetes uses
/// (no vowels, no easily confused characters).
pub(crate) fn random_suffix() -> Result<String, ApiError> {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = random_bytes::<5>()?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

const DNS1123_SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(text: &str, letter_first: bool) -> bool {
    let bytes = text.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            (if letter_first {
                first.is_ascii_lowercase()
            } else {
                alnum(first)
            }) && alnum(last)
                && bytes.iter().all(|b| alnum(b) || *b == b'-')
        }
        _ => false,
    }
}

/// Why `name` is not a valid name for `rt`, as `metadata.name` causes.
pub(crate) fn name_causes(rt: &ResourceType, name: &str) -> Vec<Cause> {
    let invalid = |detail: &str| Cause {
        reason: "FieldValueInvalid".to_owned(),
        message: format!("Invalid value: \"{name}\": {detail}"),
        field: "metadata.name".to_owned(),
    };
    let mut causes = Vec::new();
    match (rt.group.as_str(), rt.resource.as_str()) {
        ("", "namespaces") => {
            if name.len() > 63 {
                causes.push(invalid("must be no more than 63 characters"));
            }
            if !is_label(name, false) {
                causes.push(invalid(DNS1123_LABEL));
            }
        }
        ("", "services") => {
            if name.len() > 63 {
                causes.push(invalid("must be no more than 63 characters"));
            }
            if !is_label(name, true) {
                causes.push(invalid(DNS1035_LABEL));
            }
        }
        _ => {
            if name.len() > 253 {
                causes.push(invalid("must be no more than 253 characters"));
            }
            if !name.split('.').all(|label| is_label(label, false)) {
                causes.push(invalid(DNS1123_SUBDOMAIN));
            }
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::registry::Registry;
    use serde_json::json;

    #[test]
    fn uids_are_version_4() {
        let uid = new_uid().expect("uid");
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
        assert_ne!(uid, new_uid().expect("second uid"));
    }

    #[test]
    fn suffixes_use_the_kubernetes_alphabet() {
        let suffix = random_suffix().expect("suffix");
        assert_eq!(suffix.len(), 5);
        assert!(suffix.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }

    #[test]
    fn names_are_validated_per_kind() {
        let registry = Registry::new();
        let pods = registry.find("", "v1", "pods").expect("pods");
        let services = registry.find("", "v1", "services").expect("services");
        let namespaces = registry.find("", "v1", "namespaces").expect("namespaces");
        assert!(name_causes(pods, "orders-0.a").is_empty());
        assert!(!name_causes(pods, "Orders").is_empty());
        assert!(!name_causes(services, "0rders").is_empty());
        assert!(!name_causes(namespaces, "a.b").is_empty());
        assert!(name_causes(namespaces, "kube-system").is_empty());
    }

    #[test]
    fn metadata_helpers_read_and_write() {
        let mut object = json!({"metadata": {"name": "a", "finalizers": ["x", "y"],
            "ownerReferences": [{"uid": "u1"}], "resourceVersion": "17"}});
        assert_eq!(name(&object), "a");
        assert_eq!(finalizers(&object), vec!["x", "y"]);
        assert_eq!(owner_uids(&object), vec!["u1"]);
        set_finalizers(&mut object, &[]);
        assert!(object["metadata"].get("finalizers").is_none());
        let mut bare = json!(null);
        metadata_mut(&mut bare).insert("name".to_owned(), json!("b"));
        assert_eq!(name(&bare), "b");
    }
}
