//! A drill's results: one record per trial and the summary over all of them,
//! as JSON for `docs/benchmarks.md` and as a few lines for people. Pure.

use serde::Serialize;

use super::check::WriteCheck;
use super::stats::{Summary, summarize};

/// What became of the old primary after the trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum OldPrimary {
    /// It came back without errant transactions and replicates again.
    Rejoined,
    /// It came back with transactions the new primary lacks, was
    /// quarantined, and was rebuilt by the drill.
    QuarantinedThenRebuilt,
}

/// One trial.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trial {
    /// 1-based.
    pub index: usize,
    /// The primary the fault hit.
    pub from: String,
    /// The instance promoted, when a failover happened.
    pub to: Option<String>,
    /// Fault → first write acknowledged through the writer endpoint by
    /// another server.
    pub rto_seconds: Option<f64>,
    /// Fault → failover decided (the history record's start).
    pub detection_seconds: Option<f64>,
    /// Failover decided → finished, new primary serving (the history
    /// record's duration).
    pub promotion_seconds: Option<f64>,
    /// The controller's RPO estimate: the candidate's lag when the failover
    /// started.
    pub rpo_estimate_seconds: Option<f64>,
    /// Failovers recorded for this trial; anything but 1 is a defect.
    pub failovers: usize,
    /// What became of the old primary.
    pub old_primary: Option<OldPrimary>,
    /// The acknowledged-write check.
    pub writes: WriteCheck,
    /// Failed write attempts and connects after the fault.
    pub failed_writes: usize,
    /// The first few of them, `+seconds after the fault: why`.
    pub failure_samples: Vec<String>,
    /// Why the trial could not complete, if it could not.
    pub error: Option<String>,
}

/// Totals over the trials.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Trials run.
    pub trials: usize,
    /// Trials that could not complete.
    pub failed_trials: usize,
    /// Writes acknowledged.
    pub acknowledged: usize,
    /// Acknowledged writes lost.
    pub lost: usize,
    /// Acknowledged writes only the old primary held.
    pub split_brain: usize,
    /// Trials with other than exactly one failover.
    pub wrong_failover_count: usize,
    /// Trials whose old primary had to be rebuilt.
    pub rebuilt: usize,
}

/// The whole drill.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The fault injected.
    pub fault: String,
    /// The replication mode.
    pub mode: String,
    /// `spec.failover.detectionSeconds` used.
    pub detection_window_seconds: u32,
    /// Writer connections.
    pub writers: usize,
    /// Pause between two inserts of one writer, milliseconds.
    pub write_pause_millis: u64,
    /// Every trial.
    pub trials: Vec<Trial>,
    /// RTO distribution.
    pub rto: Option<Summary>,
    /// Detection-time distribution.
    pub detection: Option<Summary>,
    /// Promotion-time distribution.
    pub promotion: Option<Summary>,
    /// Totals.
    pub totals: Totals,
}

impl Report {
    /// The report of `trials` run with these parameters.
    pub fn new(
        fault: &str,
        mode: &str,
        detection_window_seconds: u32,
        writers: usize,
        write_pause_millis: u64,
        trials: Vec<Trial>,
    ) -> Self {
        let times =
            |pick: fn(&Trial) -> Option<f64>| -> Vec<f64> { trials.iter().filter_map(pick).collect() };
        let totals = Totals {
            trials: trials.len(),
            failed_trials: trials.iter().filter(|trial| trial.error.is_some()).count(),
            acknowledged: trials.iter().map(|trial| trial.writes.acknowledged).sum(),
            lost: trials.iter().map(|trial| trial.writes.lost.len()).sum(),
            split_brain: trials.iter().map(|trial| trial.writes.split_brain.len()).sum(),
            wrong_failover_count: trials.iter().filter(|trial| trial.failovers != 1).count(),
            rebuilt: trials
                .iter()
                .filter(|trial| trial.old_primary == Some(OldPrimary::QuarantinedThenRebuilt))
                .count(),
        };
        Self {
            fault: fault.to_owned(),
            mode: mode.to_owned(),
            detection_window_seconds,
            writers,
            write_pause_millis,
            rto: summarize(&times(|trial| trial.rto_seconds)),
            detection: summarize(&times(|trial| trial.detection_seconds)),
            promotion: summarize(&times(|trial| trial.promotion_seconds)),
            trials,
            totals,
        }
    }

    /// Whether every trial completed with exactly one failover, nothing lost
    /// and no split brain: what the short drill in CI asserts.
    pub fn is_correct(&self) -> bool {
        let totals = &self.totals;
        totals.failed_trials == 0
            && totals.lost == 0
            && totals.split_brain == 0
            && totals.wrong_failover_count == 0
    }

    /// A few lines for people.
    pub fn human(&self) -> String {
        let totals = &self.totals;
        let line = |name: &str, summary: &Option<Summary>| match summary {
            Some(summary) => format!("{name}: {summary}"),
            None => format!("{name}: not measured"),
        };
        let mut lines = vec![
            format!(
                "drill: {} fault, {} mode, {} trials, {} writers every {} ms, detection window {} s",
                self.fault,
                self.mode,
                totals.trials,
                self.writers,
                self.write_pause_millis,
                self.detection_window_seconds
            ),
            line("RTO (fault to first write accepted elsewhere)", &self.rto),
            line("detection (fault to failover decided)", &self.detection),
            line("promotion (decided to new primary serving)", &self.promotion),
            format!(
                "writes acknowledged {}, lost {}, split brain {}; trials with other than one failover {}; old primary rebuilt {} times; failed trials {}",
                totals.acknowledged,
                totals.lost,
                totals.split_brain,
                totals.wrong_failover_count,
                totals.rebuilt,
                totals.failed_trials
            ),
        ];
        for trial in self.trials.iter().filter(|trial| trial.error.is_some()) {
            lines.push(format!(
                "trial {} failed: {}",
                trial.index,
                trial.error.as_deref().unwrap_or_default()
            ));
        }
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(index: usize, rto: f64, lost: Vec<u64>, failovers: usize) -> Trial {
        Trial {
            index,
            from: "orders-a".into(),
            to: Some("orders-b".into()),
            rto_seconds: Some(rto),
            detection_seconds: Some(rto / 2.0),
            promotion_seconds: Some(0.1),
            rpo_estimate_seconds: Some(0.0),
            failovers,
            old_primary: Some(OldPrimary::Rejoined),
            writes: WriteCheck {
                acknowledged: 100,
                lost,
                ..WriteCheck::default()
            },
            failed_writes: 0,
            failure_samples: Vec::new(),
            error: None,
        }
    }

    #[test]
    fn clean_trials_are_correct_and_summarised() {
        let report = Report::new(
            "kill",
            "Lossless",
            6,
            3,
            20,
            vec![
                trial(1, 0.5, vec![], 1),
                trial(2, 0.7, vec![], 1),
                trial(3, 0.6, vec![], 1),
            ],
        );
        assert!(report.is_correct());
        assert_eq!(report.totals.acknowledged, 300);
        assert_eq!(report.rto.as_ref().map(|rto| rto.p50), Some(0.6));
        let human = report.human();
        assert!(
            human.contains("RTO (fault to first write accepted elsewhere): p50 0.600 s"),
            "{human}"
        );
        let json = serde_json::to_value(&report).expect("serialises");
        assert_eq!(json["trials"][0]["writes"]["acknowledged"], 100);
        assert_eq!(json["totals"]["splitBrain"], 0);
    }

    #[test]
    fn a_loss_a_double_failover_or_a_failed_trial_is_not_correct() {
        let lost = Report::new("kill", "Async", 6, 1, 20, vec![trial(1, 0.5, vec![7], 1)]);
        assert!(!lost.is_correct());
        assert_eq!(lost.totals.lost, 1);
        let twice = Report::new("kill", "Async", 6, 1, 20, vec![trial(1, 0.5, vec![], 2)]);
        assert!(!twice.is_correct());
        let mut failed = trial(1, 0.5, vec![], 1);
        failed.error = Some("no failover within 60 s".into());
        let failed = Report::new("kill", "Async", 6, 1, 20, vec![failed]);
        assert!(!failed.is_correct());
        assert!(failed.human().contains("trial 1 failed: no failover within 60 s"));
    }
}
