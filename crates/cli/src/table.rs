//! Aligned text tables and the human forms of lags, round trips and ages.
//!
//! kubectl prints tables as left-aligned columns separated by three spaces,
//! with upper-case headers and no trailing blanks; the plugin's tables look
//! the same so that they read (and `awk` apart) like `kubectl get`. Kept apart
//! from `render` so that the layout rules live in one place.

use chrono::{DateTime, Utc};

/// Columns are separated by this many spaces, as kubectl does.
const GAP: usize = 3;

/// A table of text cells under a header.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headers.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|cell| (*cell).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; it must have as many cells as the header.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len());
        self.rows.push(cells);
    }

    /// The table as lines, each column as wide as its widest cell.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths = vec![0; columns];
        for line in std::iter::once(&self.header).chain(&self.rows) {
            for (width, cell) in widths.iter_mut().zip(line) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for line in std::iter::once(&self.header).chain(&self.rows) {
            let mut text = String::new();
            for (index, cell) in line.iter().enumerate() {
                text.push_str(cell);
                if index + 1 < columns {
                    let pad = widths[index] - cell.chars().count() + GAP;
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A lag in the controller's own form (`status.lag`): `250ms`, `3.2s`, `75s`.
pub fn lag(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{}ms", (seconds * 1000.0).round() as u64)
    } else if seconds < 10.0 {
        format!("{seconds:.1}s")
    } else {
        format!("{}s", seconds.round() as u64)
    }
}

/// A threshold in seconds without needless decimals: `30s`, `0.5s`.
pub fn seconds(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}s")
    } else {
        format!("{value}s")
    }
}

/// A round-trip time in milliseconds: `12.3ms`.
pub fn rtt(milliseconds: f64) -> String {
    format!("{milliseconds:.1}ms")
}

/// A point in time, to the second, in UTC: `2026-03-01T12:00:05Z`.
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// How long ago `at` was, as kubectl prints ages: `45s`, `3m12s`, `5h2m`, `3d4h`.
/// A time in the future (clock skew) reads as `0s`.
pub fn age(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    duration((now - at).num_seconds().max(0))
}

/// A span of whole seconds in kubectl's short form.
pub fn duration(total: i64) -> String {
    let (days, hours, minutes, seconds) = (
        total / 86_400,
        total % 86_400 / 3_600,
        total % 3_600 / 60,
        total % 60,
    );
    if days > 0 {
        format!("{days}d{hours}h")
    } else if hours > 0 {
        format!("{hours}h{minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `yes` or `no`.
pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

/// The cell for an absent value.
pub const NONE: &str = "-";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_lines_carry_no_trailing_blanks() {
        let mut table = Table::new(&["NAME", "ROLE", "NOTE"]);
        table.row(vec!["orders-cloud-a".into(), "Primary".into(), String::new()]);
        table.row(vec!["b".into(), "Replica".into(), "lagging".into()]);
        assert_eq!(
            table.render(),
            "NAME             ROLE      NOTE\n\
             orders-cloud-a   Primary\n\
             b                Replica   lagging\n"
        );
    }

    #[test]
    fn human_forms() {
        assert_eq!(lag(0.25), "250ms");
        assert_eq!(lag(3.24), "3.2s");
        assert_eq!(lag(74.6), "75s");
        assert_eq!(seconds(30.0), "30s");
        assert_eq!(seconds(0.5), "0.5s");
        assert_eq!(rtt(12.345), "12.3ms");
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(192), "3m12s");
        assert_eq!(duration(5 * 3600 + 125), "5h2m");
        assert_eq!(duration(3 * 86_400 + 4 * 3600 + 7), "3d4h");
        let now = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(age(now + chrono::Duration::seconds(5), now), "0s");
        assert_eq!(time(now), "2026-03-01T12:00:00Z");
    }
}
