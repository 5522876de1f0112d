//! The sidecar's view of its own Pod labels, through a downward-API volume.
//!
//! The kubelet rewrites the file when the controller moves the role label, so
//! the sidecar follows a failover without a restart.

use std::collections::BTreeMap;
use std::path::Path;

use drmysql_api::names;

/// The instance's role, as the controller labelled its Pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `drmysql.io/role=primary`.
    Primary,
    /// `drmysql.io/role=replica`.
    Replica,
    /// `drmysql.io/role=fenced`: a former primary awaiting its rejoin check.
    Fenced,
    /// `drmysql.io/role=quarantined`: kept out of service until rebuilt.
    Quarantined,
}

/// Parses the downward-API labels file: one `key="value"` per line, values
/// quoted with Go's `%q`.
pub fn parse_labels(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (key, quoted) = line.split_once('=')?;
            let value = quoted.trim().strip_prefix('"')?.strip_suffix('"')?;
            Some((key.trim().to_owned(), unescape(value)))
        })
        .collect()
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The role from a labels map, if the label is there and known.
pub fn role_of(labels: &BTreeMap<String, String>) -> Option<Role> {
    match labels.get(names::LABEL_ROLE).map(String::as_str) {
        Some(names::ROLE_PRIMARY) => Some(Role::Primary),
        Some(names::ROLE_REPLICA) => Some(Role::Replica),
        Some(names::ROLE_FENCED) => Some(Role::Fenced),
        Some(names::ROLE_QUARANTINED) => Some(Role::Quarantined),
        _ => None,
    }
}

/// Reads the role from the labels file in `dir`; `None` when it cannot be read
/// or has no role label.
pub fn read_role(dir: &Path) -> Option<Role> {
    let text = std::fs::read_to_string(dir.join("labels")).ok()?;
    role_of(&parse_labels(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downward_api_labels_parse() {
        let text =
            "app.kubernetes.io/name=\"drmysql\"\ndrmysql.io/role=\"primary\"\nweird=\"a\\\"b\"\nbroken\n";
        let labels = parse_labels(text);
        assert_eq!(labels["app.kubernetes.io/name"], "drmysql");
        assert_eq!(labels["weird"], "a\"b");
        assert_eq!(role_of(&labels), Some(Role::Primary));
        assert_eq!(
            role_of(&parse_labels("drmysql.io/role=\"replica\"")),
            Some(Role::Replica)
        );
        assert_eq!(
            role_of(&parse_labels("drmysql.io/role=\"fenced\"")),
            Some(Role::Fenced)
        );
        assert_eq!(
            role_of(&parse_labels("drmysql.io/role=\"quarantined\"")),
            Some(Role::Quarantined)
        );
        assert_eq!(role_of(&parse_labels("drmysql.io/role=\"leader\"")), None);
        assert_eq!(role_of(&parse_labels("")), None);
    }
}
