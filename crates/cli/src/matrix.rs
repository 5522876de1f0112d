//! The round-trip matrix `check-tunnel` prints: one row per probing
//! instance, one column per probed one, each cell the round trip or
//! `unreachable`, then the error of each failing pair.
//!
//! The controller reports the tunnel as a list of directed checks; a person
//! asking "can every site reach every other" reads a matrix faster, and sees
//! at once when only one direction is broken. Pure functions of the checks,
//! so the layout is pinned by unit tests.

use drmysql_api::drmysql::{DRMySQL, TunnelStatus};

use crate::follow::newest_check;
use crate::table::{self, NONE, Table};
use crate::validate::{instance_names, qualified};

/// The matrix of `checks` with a title line, and the failing pairs' errors.
pub fn render(drmysql: &DRMySQL, checks: &[TunnelStatus]) -> String {
    let Some(newest) = newest_check(checks) else {
        return format!("No tunnel checks reported for DRMySQL {}\n", qualified(drmysql));
    };
    let names = ordered_names(drmysql, checks);
    let mut header = vec!["FROM\\TO"];
    header.extend(names.iter().map(String::as_str));
    let mut rows = Table::new(&header);
    for from in &names {
        let mut row = vec![from.clone()];
        row.extend(names.iter().map(|to| cell(checks, from, to)));
        rows.row(row);
    }
    let mut out = format!(
        "Tunnel round trips of DRMySQL {}, checked {} (rows: from, columns: to):\n\n{}",
        qualified(drmysql),
        table::time(newest),
        rows.render()
    );
    let failed = unreachable(checks);
    if failed.is_empty() {
        out.push_str(&format!("\nAll {} pairs are reachable.\n", checks.len()));
    } else {
        out.push_str("\nUnreachable:\n");
        for check in failed {
            out.push_str(&format!(
                "  {}: {}\n",
                pair(check),
                check.error.as_deref().unwrap_or("no error reported")
            ));
        }
    }
    out
}

/// The checks that failed.
pub fn unreachable(checks: &[TunnelStatus]) -> Vec<&TunnelStatus> {
    checks.iter().filter(|check| !check.reachable).collect()
}

/// The error `check-tunnel` exits with when pairs failed, naming them.
pub fn failure(checks: &[TunnelStatus]) -> Option<String> {
    let failed = unreachable(checks);
    if failed.is_empty() {
        return None;
    }
    let pairs: Vec<String> = failed.iter().map(|check| pair(check)).collect();
    let verb = if pairs.len() == 1 { "is" } else { "are" };
    Some(format!(
        "{} of {} tunnel checks failed: {} {verb} unreachable",
        failed.len(),
        checks.len(),
        pairs.join(", ")
    ))
}

/// `from → to`.
fn pair(check: &TunnelStatus) -> String {
    format!("{} → {}", check.from, check.to)
}

fn cell(checks: &[TunnelStatus], from: &str, to: &str) -> String {
    match checks
        .iter()
        .rev()
        .find(|check| check.from == from && check.to == to)
    {
        Some(check) if !check.reachable => "unreachable".to_owned(),
        Some(check) => check.rtt_ms.map_or_else(|| "reachable".to_owned(), table::rtt),
        None => NONE.to_owned(),
    }
}

/// The instances that appear in `checks`, in the order the status lists
/// instances (primary first), then the spec's order, then as they appear.
fn ordered_names(drmysql: &DRMySQL, checks: &[TunnelStatus]) -> Vec<String> {
    let known = drmysql
        .status
        .iter()
        .flat_map(|status| status.instances.iter().map(|instance| instance.name.clone()))
        .chain(instance_names(drmysql));
    let seen = checks
        .iter()
        .flat_map(|check| [check.from.clone(), check.to.clone()]);
    let mut names: Vec<String> = Vec::new();
    for name in known.chain(seen) {
        let used = checks.iter().any(|check| check.from == name || check.to == name);
        if used && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn orders() -> DRMySQL {
        serde_json::from_value(json!({
            "apiVersion": "drmysql.io/v1alpha1",
            "kind": "DRMySQL",
            "metadata": {"name": "orders", "namespace": "shop"},
            "spec": {
                "engine": {"image": "mariadb:11.4"},
                "primary": {"name": "cloud-a", "node": "n0"},
                "replicas": [{"name": "tencent", "node": "n1"}, {"name": "aws", "node": "n2"}]
            }
        }))
        .expect("a valid DRMySQL")
    }

    fn checks(value: serde_json::Value) -> Vec<TunnelStatus> {
        serde_json::from_value(value).expect("valid checks")
    }

    #[test]
    fn rows_are_from_columns_are_to_and_failures_are_listed() {
        let checks = checks(json!([
            {"from": "orders-aws", "to": "orders-cloud-a", "reachable": true, "rttMs": 48.0,
             "checkedAt": "2026-03-01T11:59:50Z"},
            {"from": "orders-cloud-a", "to": "orders-tencent", "reachable": true, "rttMs": 12.34,
             "checkedAt": "2026-03-01T12:00:05Z"},
            {"from": "orders-tencent", "to": "orders-cloud-a", "reachable": true,
             "checkedAt": "2026-03-01T12:00:05Z"},
            {"from": "orders-cloud-a", "to": "orders-aws", "reachable": false,
             "checkedAt": "2026-03-01T12:00:05Z", "error": "connect timeout after 2s"}
        ]));
        assert_eq!(
            render(&orders(), &checks),
            "Tunnel round trips of DRMySQL shop/orders, checked 2026-03-01T12:00:05Z (rows: from, columns: to):\n\
             \n\
             FROM\\TO          orders-cloud-a   orders-tencent   orders-aws\n\
             orders-cloud-a   -                12.3ms           unreachable\n\
             orders-tencent   reachable        -                -\n\
             orders-aws       48.0ms           -                -\n\
             \n\
             Unreachable:\n\
             \x20 orders-cloud-a → orders-aws: connect timeout after 2s\n"
        );
        assert_eq!(
            failure(&checks).as_deref(),
            Some("1 of 4 tunnel checks failed: orders-cloud-a → orders-aws is unreachable")
        );
    }

    #[test]
    fn all_reachable_is_said_and_is_no_failure() {
        let checks = checks(json!([
            {"from": "orders-cloud-a", "to": "orders-tencent", "reachable": true, "rttMs": 1.0,
             "checkedAt": "2026-03-01T12:00:05Z"},
            {"from": "orders-tencent", "to": "orders-cloud-a", "reachable": true, "rttMs": 1.25,
             "checkedAt": "2026-03-01T12:00:05Z"}
        ]));
        let text = render(&orders(), &checks);
        assert!(text.ends_with("\nAll 2 pairs are reachable.\n"), "{text}");
        assert!(
            !text.contains("orders-aws"),
            "instances without checks are left out: {text}"
        );
        assert_eq!(failure(&checks), None);
        assert_eq!(
            render(&orders(), &[]),
            "No tunnel checks reported for DRMySQL shop/orders\n"
        );
    }

    #[test]
    fn several_failures_are_all_named() {
        let checks = checks(json!([
            {"from": "orders-cloud-a", "to": "orders-tencent", "reachable": false,
             "checkedAt": "2026-03-01T12:00:05Z"},
            {"from": "orders-tencent", "to": "orders-cloud-a", "reachable": false,
             "checkedAt": "2026-03-01T12:00:05Z", "error": "no route to host"}
        ]));
        assert_eq!(
            failure(&checks).as_deref(),
            Some(
                "2 of 2 tunnel checks failed: orders-cloud-a → orders-tencent, orders-tencent → orders-cloud-a \
                 are unreachable"
            )
        );
        assert!(
            render(&orders(), &checks).contains("  orders-cloud-a → orders-tencent: no error reported\n")
        );
    }
}
