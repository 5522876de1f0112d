//! Label and field selectors of lists and watches.
//!
//! kube's watchers and kubectl filter on the server: a controller that
//! `.owns()` Pods through a label selector, the agent that watches its own
//! NodeConfig by `metadata.name`, `kubectl delete --wait` watching one object.
//! Label selectors follow the Kubernetes grammar (`=`, `==`, `!=`, `in`,
//! `notin`, `key`, `!key`). Field selectors support `=`, `==` and `!=` on the
//! fields each resource declares; any other field is refused with 400, as the
//! real server does.

use super::error::ApiError;
use super::registry::ResourceType;
use serde_json::Value;
use std::collections::BTreeMap;

/// One label requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(Self { requirements })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|requirement| match requirement {
            Requirement::Equals(key, value) => labels.get(key) == Some(value),
            Requirement::NotEquals(key, value) => labels.get(key) != Some(value),
            Requirement::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(key, values) => labels.get(key).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(key) => labels.contains_key(key),
            Requirement::DoesNotExist(key) => !labels.contains_key(key),
        })
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn unparsable(part: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("unable to parse requirement: {part:?}: {why}"))
}

fn check_key(part: &str, key: &str) -> Result<String, ApiError> {
    let valid = !key.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if valid {
        Ok(key.to_owned())
    } else {
        Err(unparsable(part, &format!("invalid label key {key:?}")))
    }
}

fn check_value(part: &str, value: &str) -> Result<String, ApiError> {
    let valid = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(unparsable(part, &format!("invalid label value {value:?}")))
    }
}

fn parse_set(part: &str, rest: &str) -> Result<Vec<String>, ApiError> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| unparsable(part, "expected a parenthesised set of values"))?;
    inner
        .split(',')
        .map(|value| check_value(part, value.trim()))
        .collect()
}

fn parse_requirement(part: &str) -> Result<Requirement, ApiError> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(check_key(part, key.trim())?));
    }
    if let Some((key, value)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(
            check_key(part, key.trim())?,
            check_value(part, value.trim())?,
        ));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(
            check_key(part, key.trim())?,
            check_value(part, value.trim())?,
        ));
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default();
    let rest = words.next().unwrap_or_default().trim_start();
    if rest.is_empty() {
        return Ok(Requirement::Exists(check_key(part, key)?));
    }
    if let Some(set) = rest.strip_prefix("notin") {
        return Ok(Requirement::NotIn(check_key(part, key)?, parse_set(part, set)?));
    }
    if let Some(set) = rest.strip_prefix("in") {
        return Ok(Requirement::In(check_key(part, key)?, parse_set(part, set)?));
    }
    Err(unparsable(part, "expected one of =, ==, !=, in, notin"))
}

/// One field requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldRequirement {
    field: String,
    value: String,
    equal: bool,
}

/// A parsed field selector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter, refusing fields `rt` does not support.
    pub fn parse(text: &str, rt: &ResourceType) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for part in split_unescaped(text, ',') {
            if part.trim().is_empty() {
                continue;
            }
            let (field, value, equal) = if let Some((field, value)) = split_operator(&part, "!=") {
                (field, value, false)
            } else if let Some((field, value)) = split_operator(&part, "==") {
                (field, value, true)
            } else if let Some((field, value)) = split_operator(&part, "=") {
                (field, value, true)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{text}'; can't understand '{part}'"
                )));
            };
            let field = field.trim().to_owned();
            if !rt.accepts_field_label(&field) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            requirements.push(FieldRequirement {
                field,
                value: unescape(value.trim()),
                equal,
            });
        }
        Ok(Self { requirements })
    }

    /// Whether `object` (as served) satisfies every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements
            .iter()
            .all(|r| (field_value(object, &r.field) == r.value) == r.equal)
    }
}

fn split_operator(part: &str, operator: &str) -> Option<(String, String)> {
    let index = find_unescaped(part, operator)?;
    Some((
        part[..index].to_owned(),
        part[index + operator.len()..].to_owned(),
    ))
}

fn find_unescaped(text: &str, needle: &str) -> Option<usize> {
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        if text[index..].starts_with(needle) {
            return Some(index);
        }
    }
    None
}

fn split_unescaped(text: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == separator {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in text.chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}

/// The value a field selector compares: strings as they are, booleans and
/// numbers as text, a missing field as "".
pub(crate) fn field_value(object: &Value, field: &str) -> String {
    let mut current = object;
    for segment in field.split('.') {
        match current.get(segment) {
            Some(next) => current = next,
            None => return String::new(),
        }
    }
    match current {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::registry::Registry;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_label_operator_works() {
        let set = labels(&[("app", "orders"), ("role", "primary")]);
        let yes = [
            "",
            "app=orders",
            "app==orders",
            "role!=replica",
            "missing!=x",
            "role in (primary, replica)",
            "role notin (replica)",
            "missing notin (x)",
            "app",
            "!missing",
            "app=orders,role in (primary),!missing",
        ];
        for selector in yes {
            assert!(
                LabelSelector::parse(selector).expect(selector).matches(&set),
                "{selector} should match"
            );
        }
        let no = [
            "app=other",
            "role!=primary",
            "role in (replica)",
            "role notin (primary,x)",
            "missing",
            "!app",
        ];
        for selector in no {
            assert!(
                !LabelSelector::parse(selector).expect(selector).matches(&set),
                "{selector} should not match"
            );
        }
    }

    #[test]
    fn malformed_label_selectors_are_refused() {
        for selector in ["app in orders", "a b c", "app=(x", "bad key=x"] {
            let error = LabelSelector::parse(selector).expect_err(selector);
            assert_eq!(error.code, 400, "{selector}");
        }
    }

    #[test]
    fn field_selectors_check_the_declared_fields() {
        let registry = Registry::new();
        let pods = registry.find("", "v1", "pods").expect("pods");
        let pod = json!({"metadata": {"name": "p", "namespace": "default"},
                          "spec": {"nodeName": "n1", "hostNetwork": false}, "status": {"phase": "Running"}});
        let selector = FieldSelector::parse("spec.nodeName=n1,status.phase!=Pending", pods).expect("valid");
        assert!(selector.matches(&pod));
        assert!(
            FieldSelector::parse("spec.hostNetwork=false", pods)
                .expect("bool")
                .matches(&pod)
        );
        assert!(
            !FieldSelector::parse("metadata.name==q", pods)
                .expect("name")
                .matches(&pod)
        );
        assert!(
            FieldSelector::parse("metadata.name=p", pods)
                .expect("name")
                .matches(&pod)
        );
        let error = FieldSelector::parse("spec.unknown=x", pods).expect_err("unsupported");
        assert_eq!(error.message, "field label not supported: spec.unknown");
    }

    #[test]
    fn escaped_commas_stay_in_the_value() {
        let registry = Registry::new();
        let events = registry.find("events.k8s.io", "v1", "events").expect("events");
        let selector = FieldSelector::parse(r"reason=a\,b", events).expect("escaped");
        assert!(selector.matches(&json!({"reason": "a,b"})));
    }
}
