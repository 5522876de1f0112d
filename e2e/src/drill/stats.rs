//! Percentiles of a drill's timings: nearest-rank p50, p90, p99 and the
//! maximum, the figures `docs/benchmarks.md` quotes. Pure.

use serde::Serialize;

/// The distribution of one timing over the trials that measured it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Trials that measured it.
    pub count: usize,
    /// Median, seconds.
    pub p50: f64,
    /// 90th percentile, seconds.
    pub p90: f64,
    /// 99th percentile, seconds.
    pub p99: f64,
    /// Maximum, seconds.
    pub max: f64,
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of sorted `values`.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The summary of `values` (NaN ignored); `None` when nothing was measured.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|value| !value.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    Some(Summary {
        count: sorted.len(),
        p50: nearest_rank(&sorted, 50.0),
        p90: nearest_rank(&sorted, 90.0),
        p99: nearest_rank(&sorted, 99.0),
        max: sorted[sorted.len() - 1],
    })
}

impl std::fmt::Display for Summary {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "p50 {:.3} s, p90 {:.3} s, p99 {:.3} s, max {:.3} s (n={})",
            self.p50, self.p90, self.p99, self.max, self.count
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred() {
        let values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let summary = summarize(&values).expect("values");
        assert_eq!(
            (summary.count, summary.p50, summary.p90, summary.p99, summary.max),
            (100, 50.0, 90.0, 99.0, 100.0)
        );
    }

    #[test]
    fn few_values_and_none() {
        let summary = summarize(&[0.4, f64::NAN, 0.2, 0.3]).expect("values");
        assert_eq!(
            (summary.count, summary.p50, summary.p90, summary.max),
            (3, 0.3, 0.4, 0.4)
        );
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[f64::NAN]), None);
        assert_eq!(
            summarize(&[1.0]).expect("one").to_string(),
            "p50 1.000 s, p90 1.000 s, p99 1.000 s, max 1.000 s (n=1)"
        );
    }
}
