//! The checks made before a request is written, as a pure function of the
//! DRMySQL just read.
//!
//! The controller checks every request again and answers Refused when it
//! cannot act; these checks exist so that a mistake the plugin can already see
//! (a misspelt instance, promoting the primary, a request already pending)
//! fails at once with what to type instead, and leaves the object untouched,
//! rather than costing a round trip through the controller.

use anyhow::{anyhow, bail};
use drmysql_api::drmysql::DRMySQL;
use kube::ResourceExt;

use crate::report;
use crate::request::{self, Ask};

/// Checks `ask` against `drmysql` and returns it with instance names in
/// their full form (`orders-tencent` for `tencent`).
pub fn check(drmysql: &DRMySQL, ask: Ask) -> anyhow::Result<Ask> {
    let ask = match ask {
        Ask::Switchover { to: Some(to) } => Ask::Switchover {
            to: Some(not_primary(drmysql, resolve(drmysql, &to, "--to")?, "--to")?),
        },
        Ask::Failover { to, force } => Ask::Failover {
            to: not_primary(drmysql, resolve(drmysql, &to, "--to")?, "--to")?,
            force,
        },
        Ask::Rebuild { instance } => Ask::Rebuild {
            instance: not_primary(drmysql, resolve(drmysql, &instance, "INSTANCE")?, "INSTANCE")?,
        },
        other => other,
    };
    if ask.moves_the_primary() {
        no_transition_in_progress(drmysql)?;
    }
    nothing_pending(drmysql, &ask)?;
    Ok(ask)
}

/// `given` as one of the DRMySQL's instance names, accepting the short form
/// (the spec's instance name) too.
fn resolve(drmysql: &DRMySQL, given: &str, flag: &str) -> anyhow::Result<String> {
    let names = instance_names(drmysql);
    if names.iter().any(|name| name == given) {
        return Ok(given.to_owned());
    }
    let long = format!("{}-{given}", drmysql.name_any());
    if names.contains(&long) {
        return Ok(long);
    }
    Err(anyhow!(
        "{flag} \"{given}\" is not an instance of DRMySQL {}; its instances are: {}",
        qualified(drmysql),
        names.join(", ")
    ))
}

/// The instances the spec declares, primary first: `<name>-<instance name>`.
pub fn instance_names(drmysql: &DRMySQL) -> Vec<String> {
    drmysql
        .instances()
        .into_iter()
        .map(|instance| instance.name)
        .collect()
}

fn current_primary(drmysql: &DRMySQL) -> Option<&str> {
    drmysql.status.as_ref()?.current_primary.as_deref()
}

/// Refuses `instance` when it is the current primary.
fn not_primary(drmysql: &DRMySQL, instance: String, flag: &str) -> anyhow::Result<String> {
    if current_primary(drmysql) != Some(instance.as_str()) {
        return Ok(instance);
    }
    let others: Vec<String> = instance_names(drmysql)
        .into_iter()
        .filter(|name| *name != instance)
        .collect();
    let others = others.join(", ");
    if flag == "--to" {
        bail!(
            "{instance} is already the primary of DRMySQL {} (status.currentPrimary); \
             --to must name another instance: {others}",
            qualified(drmysql)
        );
    }
    bail!(
        "{instance} is the primary of DRMySQL {} (status.currentPrimary), and a rebuild re-creates an \
         instance empty from the primary; move the primary first (`kubectl drmysql switchover {} -n {} --to \
         INSTANCE`, one of: {others}), then rebuild {instance}",
        qualified(drmysql),
        drmysql.name_any(),
        drmysql.namespace().unwrap_or_default()
    )
}

fn no_transition_in_progress(drmysql: &DRMySQL) -> anyhow::Result<()> {
    let Some(progress) = drmysql
        .status
        .as_ref()
        .and_then(|status| status.failover.as_ref())
    else {
        return Ok(());
    };
    bail!(
        "{} is in progress on DRMySQL {} (status.failover); wait for it to finish \
         (`kubectl drmysql status {} -n {}` follows it) and ask again",
        report::progress(progress),
        qualified(drmysql),
        drmysql.name_any(),
        drmysql.namespace().unwrap_or_default()
    )
}

/// Refuses while an earlier request of the same sort is unanswered.
fn nothing_pending(drmysql: &DRMySQL, ask: &Ask) -> anyhow::Result<()> {
    let annotations = drmysql.annotations();
    for key in ask.blocked_by() {
        if let Some(value) = annotations.get(*key) {
            bail!(
                "a request is already pending on DRMySQL {}: {key}=\"{value}\" has not been answered by the \
                 controller yet; wait for its answer (`kubectl drmysql status {} -n {}`), or withdraw it with \
                 `{}`",
                qualified(drmysql),
                drmysql.name_any(),
                drmysql.namespace().unwrap_or_default(),
                request::withdraw_command(&drmysql.name_any(), &drmysql.namespace().unwrap_or_default(), key)
            );
        }
    }
    Ok(())
}

/// `namespace/name`.
pub fn qualified(drmysql: &DRMySQL) -> String {
    format!(
        "{}/{}",
        drmysql.namespace().unwrap_or_default(),
        drmysql.name_any()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn orders(annotations: Value, status: Value) -> DRMySQL {
        serde_json::from_value(json!({
            "apiVersion": "drmysql.io/v1alpha1",
            "kind": "DRMySQL",
            "metadata": {"name": "orders", "namespace": "shop", "annotations": annotations},
            "spec": {
                "engine": {"image": "mariadb:11.4"},
                "primary": {"name": "cloud-a", "node": "n0"},
                "replicas": [{"name": "tencent", "node": "n1"}, {"node": "n2"}]
            },
            "status": status
        }))
        .expect("a valid DRMySQL")
    }

    fn running() -> DRMySQL {
        orders(json!({}), json!({"currentPrimary": "orders-cloud-a"}))
    }

    fn error(drmysql: &DRMySQL, ask: Ask) -> String {
        check(drmysql, ask).expect_err("refused").to_string()
    }

    #[test]
    fn instances_are_taken_in_full_or_short_form() {
        let ask = check(
            &running(),
            Ask::Switchover {
                to: Some("tencent".into()),
            },
        )
        .expect("valid");
        assert_eq!(
            ask,
            Ask::Switchover {
                to: Some("orders-tencent".into())
            }
        );
        let ask = check(
            &running(),
            Ask::Rebuild {
                instance: "orders-2".into(),
            },
        )
        .expect("valid");
        assert_eq!(
            ask,
            Ask::Rebuild {
                instance: "orders-2".into()
            }
        );
        assert_eq!(
            check(&running(), Ask::Switchover { to: None }).expect("valid"),
            Ask::Switchover { to: None }
        );
    }

    #[test]
    fn an_unknown_instance_is_named_with_the_valid_ones() {
        assert_eq!(
            error(
                &running(),
                Ask::Failover {
                    to: "orders-aws".into(),
                    force: false
                }
            ),
            "--to \"orders-aws\" is not an instance of DRMySQL shop/orders; its instances are: \
             orders-cloud-a, orders-tencent, orders-2"
        );
        assert!(
            error(
                &running(),
                Ask::Rebuild {
                    instance: "aws".into()
                }
            )
            .starts_with("INSTANCE \"aws\" is not an instance of DRMySQL shop/orders"),
        );
    }

    #[test]
    fn the_primary_is_neither_promoted_nor_rebuilt() {
        assert_eq!(
            error(
                &running(),
                Ask::Switchover {
                    to: Some("cloud-a".into())
                }
            ),
            "orders-cloud-a is already the primary of DRMySQL shop/orders (status.currentPrimary); \
             --to must name another instance: orders-tencent, orders-2"
        );
        let rebuild = error(
            &running(),
            Ask::Rebuild {
                instance: "orders-cloud-a".into(),
            },
        );
        assert!(
            rebuild
                .starts_with("orders-cloud-a is the primary of DRMySQL shop/orders (status.currentPrimary)"),
            "{rebuild}"
        );
        assert!(
            rebuild.contains("`kubectl drmysql switchover orders -n shop --to INSTANCE`"),
            "{rebuild}"
        );
        // Before the controller has reported a primary, nothing is known to refuse.
        let new = orders(json!({}), json!({}));
        assert!(
            check(
                &new,
                Ask::Rebuild {
                    instance: "cloud-a".into()
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn a_transition_in_progress_blocks_another_but_not_a_check() {
        let busy = orders(
            json!({}),
            json!({"currentPrimary": "orders-cloud-a", "failover": {
                "kind": "Failover", "from": "orders-cloud-a", "target": "orders-tencent", "step": "Promote",
                "startedAt": "2026-03-01T11:59:20Z", "reason": "primary lost", "forced": false
            }}),
        );
        assert_eq!(
            error(
                &busy,
                Ask::Switchover {
                    to: Some("orders-2".into())
                }
            ),
            "a Failover from orders-cloud-a to orders-tencent (step Promote, started 2026-03-01T11:59:20Z) \
             is in progress on DRMySQL shop/orders (status.failover); wait for it to finish \
             (`kubectl drmysql status orders -n shop` follows it) and ask again"
        );
        assert!(
            check(
                &busy,
                Ask::CheckTunnel {
                    at: chrono::Utc::now()
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn a_pending_request_is_named_with_how_to_withdraw_it() {
        let pending = orders(
            json!({"drmysql.io/failover-to": "orders-tencent", "drmysql.io/failover-force": "true"}),
            json!({"currentPrimary": "orders-cloud-a"}),
        );
        assert_eq!(
            error(
                &pending,
                Ask::Switchover {
                    to: Some("orders-2".into())
                }
            ),
            "a request is already pending on DRMySQL shop/orders: drmysql.io/failover-to=\"orders-tencent\" \
             has not been answered by the controller yet; wait for its answer (`kubectl drmysql status orders \
             -n shop`), or withdraw it with `kubectl annotate drm orders -n shop drmysql.io/failover-to- \
             drmysql.io/failover-force-`"
        );
        // A pending failover does not block a rebuild or a tunnel check.
        assert!(
            check(
                &pending,
                Ask::Rebuild {
                    instance: "orders-2".into()
                }
            )
            .is_ok()
        );
        let checking = orders(
            json!({"drmysql.io/check-tunnel": "2026-03-01T12:00:00Z"}),
            json!({}),
        );
        assert!(
            error(
                &checking,
                Ask::CheckTunnel {
                    at: chrono::Utc::now()
                }
            )
            .ends_with("`kubectl annotate drm orders -n shop drmysql.io/check-tunnel-`")
        );
    }
}
