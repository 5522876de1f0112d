//! `switchover`, `failover`, `check-tunnel` and `rebuild`: each writes one
//! request annotation and, unless `--no-wait`, waits for the controller's
//! answer and prints it.
//!
//! The shape is the same for all four (validate, write, follow, conclude);
//! what differs is what is confirmed before writing (`rebuild` needs `--yes`,
//! a forced failover warns) and what is printed at the end. Results go to
//! stdout, progress and warnings to stderr, and any outcome other than
//! success exits 1 with a message saying what happened.

use anyhow::{anyhow, bail};
use drmysql_api::drmysql::{DRMySQL, TransitionOutcome};
use kube::ResourceExt;

use crate::act::{self, Written};
use crate::args::{CheckTunnelArgs, FailoverArgs, Output, RebuildArgs, SwitchoverArgs, WaitArgs};
use crate::client::Target;
use crate::follow::{Baseline, Follower, Outcome};
use crate::request::Ask;
use crate::{emit, matrix, report};

/// `switchover NAME [--to INSTANCE]`.
pub async fn switchover(target: &Target, args: &SwitchoverArgs) -> anyhow::Result<()> {
    let ask = Ask::Switchover { to: args.to.clone() };
    let written = act::annotate(target, &args.name, ask, |_, _| Ok(())).await?;
    wait_and_conclude(target, &written, args.wait).await
}

/// `failover NAME --to INSTANCE [--force]`.
pub async fn failover(target: &Target, args: &FailoverArgs) -> anyhow::Result<()> {
    let ask = Ask::Failover {
        to: args.to.clone(),
        force: args.force,
    };
    let written = act::annotate(target, &args.name, ask, |drmysql, ask| {
        if let Ask::Failover { to, force: true } = ask {
            eprintln!("{}", force_warning(drmysql, to));
        }
        Ok(())
    })
    .await?;
    wait_and_conclude(target, &written, args.wait).await
}

/// `rebuild NAME INSTANCE --yes`.
pub async fn rebuild(target: &Target, args: &RebuildArgs) -> anyhow::Result<()> {
    let ask = Ask::Rebuild {
        instance: args.instance.clone(),
    };
    let written = act::annotate(target, &args.name, ask, |drmysql, ask| match ask {
        Ask::Rebuild { instance } if !args.yes => bail!(unconfirmed_rebuild(drmysql, instance)),
        _ => Ok(()),
    })
    .await?;
    wait_and_conclude(target, &written, args.wait).await
}

/// `check-tunnel NAME [-o json|yaml]`.
pub async fn check_tunnel(target: &Target, args: &CheckTunnelArgs) -> anyhow::Result<()> {
    let ask = Ask::CheckTunnel {
        at: chrono::Utc::now(),
    };
    let written = act::annotate(target, &args.name, ask, |_, _| Ok(())).await?;
    match follow(target, &written, args.timeout).await? {
        Outcome::Checked { checks } => {
            let text = match args.output {
                Output::Table => matrix::render(&written.before, &checks),
                Output::Json => format!("{}\n", serde_json::to_string_pretty(&checks)?),
                Output::Yaml => serde_saphyr::to_string(&checks)?,
            };
            emit(&text)?;
            match matrix::failure(&checks) {
                Some(failure) => bail!(failure),
                None => Ok(()),
            }
        }
        Outcome::Answered(answer) => bail!(
            "the controller answered the tunnel check ({}), but status.tunnel holds no check newer than before: \
             it ran no probes",
            report::answer(&answer)
        ),
        other => conclude(&written.ask, other),
    }
}

async fn wait_and_conclude(target: &Target, written: &Written, wait: WaitArgs) -> anyhow::Result<()> {
    if wait.no_wait {
        let (name, namespace) = (written.before.name_any(), target.namespace.as_str());
        return emit(&format!(
            "{}; not waiting: `kubectl drmysql status {name} -n {namespace}` shows the answer under \
             \"Last request\"\n",
            asked(written)
        ));
    }
    let outcome = follow(target, written, wait.timeout).await?;
    conclude(&written.ask, outcome)
}

async fn follow(target: &Target, written: &Written, timeout: std::time::Duration) -> anyhow::Result<Outcome> {
    eprintln!(
        "{}; waiting up to {} (--timeout) for the controller",
        asked(written),
        report::seconds(timeout.as_secs_f64())
    );
    let mut follower = Follower::new(written.ask.clone(), Baseline::of(&written.before));
    act::follow(target, written, &mut follower, timeout).await
}

/// `Asked for a switchover to X on DRMySQL ns/name (drmysql.io/switchover-to="X")`.
fn asked(written: &Written) -> String {
    format!(
        "Asked for a {} on DRMySQL {}/{} ({}=\"{}\")",
        written.ask.describe(),
        written.before.namespace().unwrap_or_default(),
        written.before.name_any(),
        written.ask.annotation(),
        written.ask.value()
    )
}

/// Prints the outcome; anything but a success is an error.
fn conclude(ask: &Ask, outcome: Outcome) -> anyhow::Result<()> {
    let (text, result) = conclusion(ask, outcome);
    emit(&text)?;
    result
}

/// What to print on stdout for `outcome`, and whether it is a success.
fn conclusion(ask: &Ask, outcome: Outcome) -> (String, anyhow::Result<()>) {
    match outcome {
        Outcome::Refused(answer) => (
            String::new(),
            Err(anyhow!(
                "the controller refused the {}: {}",
                ask.describe(),
                answer.message
            )),
        ),
        Outcome::Answered(answer) => (format!("{}\n", report::answer(&answer)), Ok(())),
        Outcome::Finished { answer, record } => {
            let text = format!("{}\n{}", report::answer(&answer), report::transition(&record));
            if record.outcome == TransitionOutcome::Succeeded {
                return (text, Ok(()));
            }
            let error = anyhow!(
                "the {} {} → {} ended {}: {}",
                report::name(&record.kind).to_lowercase(),
                record.from,
                record.to,
                report::name(&record.outcome),
                record.message.as_deref().unwrap_or("no message")
            );
            (text, Err(error))
        }
        Outcome::Checked { checks } => (format!("{} tunnel checks ran\n", checks.len()), Ok(())),
    }
}

/// What `--force` gives up, said before anything is written.
pub fn force_warning(drmysql: &DRMySQL, to: &str) -> String {
    let primary = drmysql
        .status
        .as_ref()
        .and_then(|status| status.current_primary.as_deref())
        .unwrap_or("the primary");
    format!(
        "WARNING: --force bypasses the data-loss guards (spec.replication.maxLagForFailoverSeconds and the \
         most-advanced-replica rule): every transaction {to} has not received from {primary} is lost for good. \
         The forced failover is recorded in status.history. (The errant-transaction check still applies.)"
    )
}

/// Why `rebuild` without `--yes` does nothing.
pub fn unconfirmed_rebuild(drmysql: &DRMySQL, instance: &str) -> String {
    let primary = drmysql
        .status
        .as_ref()
        .and_then(|status| status.current_primary.as_deref())
        .unwrap_or("the primary");
    format!(
        "rebuild is destructive: the controller deletes the Pod and the volume of {instance}, re-creates them \
         empty, and {instance} copies all its data again from {primary}. Nothing was changed; to confirm, run \
         `kubectl drmysql rebuild {} {instance} -n {} --yes`",
        drmysql.name_any(),
        drmysql.namespace().unwrap_or_default()
    )
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
                "replicas": [{"name": "tencent", "node": "n1"}]
            },
            "status": {"currentPrimary": "orders-cloud-a"}
        }))
        .expect("a valid DRMySQL")
    }

    #[test]
    fn the_rebuild_refusal_says_what_is_lost_and_how_to_confirm() {
        assert_eq!(
            unconfirmed_rebuild(&orders(), "orders-tencent"),
            "rebuild is destructive: the controller deletes the Pod and the volume of orders-tencent, \
             re-creates them empty, and orders-tencent copies all its data again from orders-cloud-a. \
             Nothing was changed; to confirm, run `kubectl drmysql rebuild orders orders-tencent -n shop --yes`"
        );
    }

    #[test]
    fn the_force_warning_names_what_is_lost() {
        let warning = force_warning(&orders(), "orders-tencent");
        assert!(
            warning.starts_with("WARNING: --force bypasses the data-loss guards"),
            "{warning}"
        );
        assert!(
            warning.contains("every transaction orders-tencent has not received from orders-cloud-a is lost"),
            "{warning}"
        );
        assert!(warning.contains("recorded in status.history"), "{warning}");
    }

    #[test]
    fn only_a_succeeded_transition_is_a_success() {
        let ask = Ask::Switchover { to: None };
        let answer = || {
            serde_json::from_value(json!({"kind": "Switchover", "outcome": "Started", "message": "m",
                                          "answeredAt": "2026-03-01T12:00:01Z"}))
            .expect("answer")
        };
        let record = |outcome: &str| {
            serde_json::from_value(
                json!({"kind": "Switchover", "from": "a", "to": "b", "reason": "r",
                "startedAt": "2026-03-01T12:00:01Z", "finishedAt": "2026-03-01T12:00:02Z", "outcome": outcome,
                "message": "candidate lag 45s above maxLagForFailoverSeconds 30"}),
            )
            .expect("record")
        };
        let (text, result) = conclusion(
            &ask,
            Outcome::Finished {
                answer: answer(),
                record: Box::new(record("Aborted")),
            },
        );
        assert!(
            text.contains("Switchover a → b: Aborted\n"),
            "the record is printed: {text}"
        );
        let aborted = result.expect_err("an aborted switchover fails");
        assert_eq!(
            aborted.to_string(),
            "the switchover a → b ended Aborted: candidate lag 45s above maxLagForFailoverSeconds 30"
        );
        let (_, succeeded) = conclusion(
            &ask,
            Outcome::Finished {
                answer: answer(),
                record: Box::new(record("Succeeded")),
            },
        );
        assert!(succeeded.is_ok());
        let (text, refused) = conclusion(&ask, Outcome::Refused(answer()));
        assert_eq!(text, "", "a refusal prints only the error");
        let refused = refused.expect_err("a refusal fails");
        assert_eq!(
            refused.to_string(),
            "the controller refused the switchover (to the replica drmysql chooses): m"
        );
    }
}
