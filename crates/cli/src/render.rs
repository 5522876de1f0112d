//! What `status` and `lag` print, as pure functions of a DRMySQL (and the
//! current time, for ages).
//!
//! Everything a person reads is decided here, away from the API calls, so that
//! the exact text is pinned by golden tests built from JSON fixtures and the
//! commands themselves stay thin. The layout follows `kubectl describe`:
//! `Key: value` lines, then titled sections of kubectl-style tables.

use chrono::{DateTime, Utc};
use drmysql_api::drmysql::{DRMySQL, DRMySQLStatus, InstanceRole, InstanceStatus};
use drmysql_api::names::request;
use kube::ResourceExt;
use serde::Serialize;
use std::fmt::Write;

use crate::report;
use crate::table::{self, NONE, Table};

/// How many entries of `status.history` the status table shows.
pub const HISTORY_SHOWN: usize = 5;

/// The full picture of one DRMySQL: summary, instances, tunnel checks,
/// conditions, the last request and any pending one, the failover in
/// progress and the last failovers.
pub fn status(drmysql: &DRMySQL, now: DateTime<Utc>) -> String {
    let empty = DRMySQLStatus::default();
    let status = drmysql.status.as_ref().unwrap_or(&empty);
    let mut out = String::new();
    summary(&mut out, drmysql, status);
    instances(&mut out, status);
    tunnel(&mut out, status, now);
    conditions(&mut out, status, now);
    last_request(&mut out, drmysql, status, now);
    failover(&mut out, status, now);
    history(&mut out, status);
    out
}

/// `.status` as pretty JSON with the API's field names (`{}` before the
/// controller has written any).
pub fn status_json(drmysql: &DRMySQL) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(&status_of(drmysql))?;
    text.push('\n');
    Ok(text)
}

/// `.status` as YAML with the API's field names.
pub fn status_yaml(drmysql: &DRMySQL) -> Result<String, serde_saphyr::ser::Error> {
    serde_saphyr::to_string(&status_of(drmysql))
}

fn status_of(drmysql: &DRMySQL) -> DRMySQLStatus {
    drmysql.status.clone().unwrap_or_default()
}

/// The lag of every instance but the primary (replicas, and fenced or
/// quarantined ones) against `spec.lag.alertThresholdSeconds`, those above it
/// marked, and a closing count.
pub fn lag(drmysql: &DRMySQL) -> String {
    let threshold = drmysql.spec.lag.alert_threshold_seconds;
    let mut out = String::new();
    line(&mut out, format_args!("DRMySQL:    {}", qualified(drmysql)));
    let primary = drmysql
        .status
        .as_ref()
        .and_then(|status| status.current_primary.as_deref())
        .unwrap_or(NONE);
    line(&mut out, format_args!("Primary:    {primary}"));
    line(
        &mut out,
        format_args!(
            "Threshold:  {} (spec.lag.alertThresholdSeconds)",
            table::seconds(threshold)
        ),
    );
    out.push('\n');
    let replicas: Vec<&InstanceStatus> = drmysql
        .status
        .iter()
        .flat_map(|status| &status.instances)
        .filter(|instance| instance.role != Some(InstanceRole::Primary))
        .collect();
    if replicas.is_empty() {
        out.push_str("No replica lag reported yet (is the drmysql controller running?)\n");
        return out;
    }
    let mut rows = Table::new(&["INSTANCE", "ROLE", "NODE", "LAG", "THRESHOLD", "STATE"]);
    let (mut above, mut unknown) = (0, 0);
    for replica in &replicas {
        let state = match replica.lag_seconds {
            Some(lag) if lag > threshold => {
                above += 1;
                "ABOVE THRESHOLD"
            }
            Some(_) => "ok",
            None => {
                unknown += 1;
                "unknown"
            }
        };
        rows.row(vec![
            replica.name.clone(),
            optional_name(replica.role.as_ref()),
            optional(replica.node.as_deref()),
            replica.lag_seconds.map_or_else(|| NONE.to_owned(), table::lag),
            table::seconds(threshold),
            state.to_owned(),
        ]);
    }
    out.push_str(&rows.render());
    let unknown = if unknown > 0 {
        format!(", {unknown} unknown")
    } else {
        String::new()
    };
    line(
        &mut out,
        format_args!("{above} of {} above the threshold{unknown}", replicas.len()),
    );
    out
}

fn summary(out: &mut String, drmysql: &DRMySQL, status: &DRMySQLStatus) {
    line(out, format_args!("Name:        {}", qualified(drmysql)));
    match &status.phase {
        Some(phase) => line(out, format_args!("Phase:       {}", name(phase))),
        None => line(
            out,
            format_args!("Phase:       - (no status yet: is the drmysql controller running?)"),
        ),
    }
    let primary = match (&status.current_primary, &status.primary_node) {
        (Some(primary), Some(node)) => format!("{primary} on {node}"),
        (Some(primary), None) => primary.clone(),
        _ => NONE.to_owned(),
    };
    line(out, format_args!("Primary:     {primary}"));
    line(
        out,
        format_args!(
            "Replicas:    {}",
            status
                .replicas_ready
                .as_ref()
                .map_or_else(|| NONE.to_owned(), |ready| format!("{ready} ready"))
        ),
    );
    line(
        out,
        format_args!(
            "Lag:         {} (alert above {})",
            optional(status.lag.as_deref()),
            table::seconds(drmysql.spec.lag.alert_threshold_seconds)
        ),
    );
    line(
        out,
        format_args!("Tunnel:      {}", optional_name(status.tunnel_state.as_ref())),
    );
    if let (Some(observed), Some(generation)) = (status.observed_generation, drmysql.metadata.generation)
        && observed < generation
    {
        line(
            out,
            format_args!(
                "Observed:    generation {observed} of {generation} (the controller has not yet acted on the latest spec)"
            ),
        );
    }
}

fn instances(out: &mut String, status: &DRMySQLStatus) {
    if status.instances.is_empty() {
        out.push_str("\nInstances: none reported yet\n");
        return;
    }
    out.push_str("\nInstances:\n");
    let mut rows = Table::new(&["NAME", "ROLE", "NODE", "POD IP", "READY", "LAG", "IO", "SQL"]);
    for instance in &status.instances {
        rows.row(vec![
            instance.name.clone(),
            optional_name(instance.role.as_ref()),
            optional(instance.node.as_deref()),
            optional(instance.pod_ip.as_deref()),
            table::yes_no(instance.ready),
            instance.lag_seconds.map_or_else(|| NONE.to_owned(), table::lag),
            optional_name(instance.io_thread.as_ref()),
            optional_name(instance.sql_thread.as_ref()),
        ]);
    }
    indent(out, &rows.render());
    for instance in &status.instances {
        if let Some(errant) = &instance.errant_gtids {
            line(out, format_args!("  * {}: errant GTIDs {errant}", instance.name));
        }
        if let Some(error) = &instance.last_error {
            line(out, format_args!("  * {}: last error: {error}", instance.name));
        }
    }
}

fn tunnel(out: &mut String, status: &DRMySQLStatus, now: DateTime<Utc>) {
    if status.tunnel.is_empty() {
        out.push_str("\nTunnel checks: none yet\n");
        return;
    }
    out.push_str("\nTunnel checks:\n");
    let mut rows = Table::new(&["FROM", "TO", "REACHABLE", "RTT", "CHECKED", "ERROR"]);
    for check in &status.tunnel {
        rows.row(vec![
            check.from.clone(),
            check.to.clone(),
            table::yes_no(check.reachable),
            check.rtt_ms.map_or_else(|| NONE.to_owned(), table::rtt),
            format!("{} ago", table::age(check.checked_at, now)),
            check.error.clone().unwrap_or_default(),
        ]);
    }
    indent(out, &rows.render());
}

fn conditions(out: &mut String, status: &DRMySQLStatus, now: DateTime<Utc>) {
    if status.conditions.is_empty() {
        out.push_str("\nConditions: none yet\n");
        return;
    }
    out.push_str("\nConditions:\n");
    let mut rows = Table::new(&["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"]);
    for condition in &status.conditions {
        let since = DateTime::from_timestamp(condition.last_transition_time.0.as_second(), 0)
            .map_or_else(|| NONE.to_owned(), |at| table::age(at, now));
        rows.row(vec![
            condition.type_.clone(),
            condition.status.clone(),
            condition.reason.clone(),
            since,
            condition.message.clone(),
        ]);
    }
    indent(out, &rows.render());
}

fn last_request(out: &mut String, drmysql: &DRMySQL, status: &DRMySQLStatus, now: DateTime<Utc>) {
    match &status.last_request {
        None => out.push_str("\nLast request: none\n"),
        Some(answer) => {
            line(
                out,
                format_args!(
                    "\nLast request: {}, {} {} ({} ago)",
                    report::asked(answer),
                    name(&answer.outcome),
                    table::time(answer.answered_at),
                    table::age(answer.answered_at, now)
                ),
            );
            line(out, format_args!("  Message: {}", answer.message));
        }
    }
    let annotations = drmysql.annotations();
    for key in request::ALL {
        if key == request::FAILOVER_FORCE {
            continue;
        }
        if let Some(value) = annotations.get(key) {
            // As the controller reads it: `true` in any case, blanks ignored.
            let forced = if key == request::FAILOVER_TO
                && annotations
                    .get(request::FAILOVER_FORCE)
                    .is_some_and(|force| force.trim().eq_ignore_ascii_case("true"))
            {
                " (forced)"
            } else {
                ""
            };
            line(
                out,
                format_args!("  Pending: {key}=\"{value}\"{forced}, not answered yet"),
            );
        }
    }
}

fn failover(out: &mut String, status: &DRMySQLStatus, now: DateTime<Utc>) {
    let Some(progress) = &status.failover else {
        out.push_str("\nFailover in progress: none\n");
        return;
    };
    line(
        out,
        format_args!(
            "\nFailover in progress: {} from {} to {}, step {}, started {} ({} ago)",
            name(&progress.kind),
            progress.from,
            progress.target,
            name(&progress.step),
            table::time(progress.started_at),
            table::age(progress.started_at, now)
        ),
    );
    line(out, format_args!("  Reason: {}", progress.reason));
    if progress.forced {
        out.push_str("  Forced: the RPO guard (spec.replication.maxLagForFailoverSeconds) was overridden\n");
    }
}

fn history(out: &mut String, status: &DRMySQLStatus) {
    if status.history.is_empty() {
        out.push_str("\nLast failovers: none\n");
        return;
    }
    let shown = status.history.len().min(HISTORY_SHOWN);
    line(
        out,
        format_args!(
            "\nLast failovers (newest first, {shown} of {} in status.history):",
            status.history.len()
        ),
    );
    let mut rows = Table::new(&[
        "STARTED", "KIND", "FROM", "TO", "OUTCOME", "TOOK", "RPO", "FORCED", "DETAIL",
    ]);
    for record in status.history.iter().rev().take(shown) {
        let mut detail = record.reason.clone();
        if let Some(message) = &record.message {
            detail.push_str("; ");
            detail.push_str(message);
        }
        if let Some(lost) = &record.lost_gtids {
            detail.push_str("; lost GTIDs ");
            detail.push_str(lost);
        }
        rows.row(vec![
            table::time(record.started_at),
            name(&record.kind),
            record.from.clone(),
            record.to.clone(),
            name(&record.outcome),
            record.duration_seconds.map_or_else(
                || table::duration((record.finished_at - record.started_at).num_seconds().max(0)),
                report::seconds,
            ),
            record
                .rpo_seconds
                .map_or_else(|| NONE.to_owned(), report::seconds),
            table::yes_no(record.forced),
            detail,
        ]);
    }
    indent(out, &rows.render());
}

/// `namespace/name`.
fn qualified(drmysql: &DRMySQL) -> String {
    format!(
        "{}/{}",
        drmysql.namespace().unwrap_or_default(),
        drmysql.name_any()
    )
}

/// An API enum's value as the API spells it (its serde name).
fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => NONE.to_owned(),
    }
}

fn optional_name<T: Serialize>(value: Option<&T>) -> String {
    value.map_or_else(|| NONE.to_owned(), name)
}

fn optional(value: Option<&str>) -> String {
    value.unwrap_or(NONE).to_owned()
}

fn line(out: &mut String, args: std::fmt::Arguments<'_>) {
    // Writing to a String cannot fail.
    let _ = out.write_fmt(args);
    out.push('\n');
}

fn indent(out: &mut String, text: &str) {
    for row in text.lines() {
        out.push_str("  ");
        out.push_str(row);
        out.push('\n');
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
