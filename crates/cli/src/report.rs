//! What the acting subcommands print about the controller's work: its answer
//! to a request (`status.lastRequest`), a transition in progress
//! (`status.failover`) and a finished one (a `status.history` record).
//!
//! Pure functions, like `render`, so that the text is pinned by unit tests;
//! kept apart from `render` because these are the answers to one command,
//! not the overview `status` prints.

use drmysql_api::drmysql::{FailoverProgress, FailoverRecord, RequestKind, RequestRecord};
use serde::Serialize;
use std::fmt::Write;

use crate::table::{self, NONE};

/// An API enum's value as the API spells it (its serde name).
pub fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => NONE.to_owned(),
    }
}

/// `a Failover from A to B (step Promote, started T)`.
pub fn progress(progress: &FailoverProgress) -> String {
    format!(
        "a {} from {} to {} (step {}, started {})",
        name(&progress.kind),
        progress.from,
        progress.target,
        name(&progress.step),
        table::time(progress.started_at)
    )
}

/// One progress line: `Switchover orders-cloud-a → orders-tencent: step CatchUp`.
pub fn step(progress: &FailoverProgress) -> String {
    let forced = if progress.forced { " (forced)" } else { "" };
    format!(
        "{}{forced} {} → {}: step {}",
        name(&progress.kind),
        progress.from,
        progress.target,
        name(&progress.step)
    )
}

/// What was asked, as the answer names it: `Switchover to orders-tencent`,
/// `Rebuild of orders-2`, `CheckTunnel`.
pub fn asked(record: &RequestRecord) -> String {
    let forced = if record.forced { " (forced)" } else { "" };
    let target = match (&record.kind, &record.target) {
        (RequestKind::Rebuild, Some(target)) => format!(" of {target}"),
        (_, Some(target)) if !target.is_empty() => format!(" to {target}"),
        _ => String::new(),
    };
    format!("{}{target}{forced}", name(&record.kind))
}

/// `Switchover to orders-tencent: Started at T: message`.
pub fn answer(record: &RequestRecord) -> String {
    format!(
        "{}: {} at {}: {}",
        asked(record),
        name(&record.outcome),
        table::time(record.answered_at),
        record.message
    )
}

/// A finished switchover or failover, field by field.
pub fn transition(record: &FailoverRecord) -> String {
    let duration = record.duration_seconds.unwrap_or_else(|| {
        (record.finished_at - record.started_at).num_milliseconds().max(0) as f64 / 1000.0
    });
    let mut out = String::new();
    let mut field = |label: &str, value: &str| {
        let _ = writeln!(out, "  {label:<16}{value}");
    };
    field("Started:", &table::time(record.started_at));
    field("Duration:", &seconds(duration));
    field(
        "RPO estimate:",
        &record.rpo_seconds.map_or_else(|| NONE.to_owned(), seconds),
    );
    field("Forced:", &table::yes_no(record.forced));
    field(
        "Promoted GTIDs:",
        record.promoted_gtids.as_deref().unwrap_or(NONE),
    );
    field("Lost GTIDs:", record.lost_gtids.as_deref().unwrap_or(NONE));
    field("Reason:", &record.reason);
    field("Message:", record.message.as_deref().unwrap_or(NONE));
    format!(
        "{} {} → {}: {}\n{out}",
        name(&record.kind),
        record.from,
        record.to,
        name(&record.outcome)
    )
}

/// A span in seconds for people: `0s`, `250ms`, `4.2s`, `12s`, `2m5s`.
pub fn seconds(value: f64) -> String {
    if value <= 0.0 {
        "0s".to_owned()
    } else if value < 1.0 {
        format!("{}ms", (value * 1000.0).round() as u64)
    } else if value < 60.0 && value.fract() != 0.0 {
        format!("{value:.1}s")
    } else {
        table::duration(value.round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(extra: serde_json::Value) -> FailoverRecord {
        let mut value = json!({
            "kind": "Failover", "from": "orders-cloud-a", "to": "orders-tencent",
            "reason": "primary lost: connection refused from 2 vantage points",
            "startedAt": "2026-03-01T12:00:00Z", "finishedAt": "2026-03-01T12:00:09Z",
            "outcome": "Succeeded"
        });
        if let (Some(base), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        serde_json::from_value(value).expect("a valid record")
    }

    #[test]
    fn a_forced_failover_shows_its_loss() {
        let text = transition(&record(json!({
            "forced": true, "durationSeconds": 8.74, "rpoSeconds": 3.5,
            "promotedGtids": "0-2-1050", "lostGtids": "0-1-1051-1053", "message": "promoted despite lag"
        })));
        assert_eq!(
            text,
            "Failover orders-cloud-a → orders-tencent: Succeeded\n\
             \x20 Started:        2026-03-01T12:00:00Z\n\
             \x20 Duration:       8.7s\n\
             \x20 RPO estimate:   3.5s\n\
             \x20 Forced:         yes\n\
             \x20 Promoted GTIDs: 0-2-1050\n\
             \x20 Lost GTIDs:     0-1-1051-1053\n\
             \x20 Reason:         primary lost: connection refused from 2 vantage points\n\
             \x20 Message:        promoted despite lag\n"
        );
    }

    #[test]
    fn an_old_record_without_the_new_fields_falls_back() {
        let text = transition(&record(json!({"outcome": "Aborted"})));
        assert!(
            text.starts_with("Failover orders-cloud-a → orders-tencent: Aborted\n"),
            "{text}"
        );
        assert!(
            text.contains("  Duration:       9s\n"),
            "from the timestamps: {text}"
        );
        assert!(text.contains("  RPO estimate:   -\n"), "{text}");
        assert!(text.contains("  Forced:         no\n"), "{text}");
        assert!(text.contains("  Message:        -\n"), "{text}");
    }

    #[test]
    fn answers_name_what_was_asked() {
        let answer_of = |value: serde_json::Value| -> String {
            answer(&serde_json::from_value(value).expect("a valid answer"))
        };
        assert_eq!(
            answer_of(
                json!({"kind": "Switchover", "target": "orders-tencent", "outcome": "Started",
                             "message": "moving the primary", "answeredAt": "2026-03-01T12:00:01Z"})
            ),
            "Switchover to orders-tencent: Started at 2026-03-01T12:00:01Z: moving the primary"
        );
        assert_eq!(
            answer_of(
                json!({"kind": "Failover", "target": "orders-2", "forced": true, "outcome": "Refused",
                             "message": "orders-2 has errant transactions", "answeredAt": "2026-03-01T12:00:01Z"})
            ),
            "Failover to orders-2 (forced): Refused at 2026-03-01T12:00:01Z: orders-2 has errant transactions"
        );
        assert_eq!(
            answer_of(json!({"kind": "Rebuild", "target": "orders-2", "outcome": "Done",
                             "message": "re-creating", "answeredAt": "2026-03-01T12:00:01Z"})),
            "Rebuild of orders-2: Done at 2026-03-01T12:00:01Z: re-creating"
        );
        assert_eq!(
            answer_of(
                json!({"kind": "CheckTunnel", "outcome": "Done", "message": "2 pairs checked",
                             "answeredAt": "2026-03-01T12:00:01Z"})
            ),
            "CheckTunnel: Done at 2026-03-01T12:00:01Z: 2 pairs checked"
        );
    }

    #[test]
    fn spans() {
        assert_eq!(seconds(0.0), "0s");
        assert_eq!(seconds(0.25), "250ms");
        assert_eq!(seconds(4.25), "4.2s");
        assert_eq!(seconds(12.0), "12s");
        assert_eq!(seconds(125.4), "2m5s");
    }
}
