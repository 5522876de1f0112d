//! What each acting subcommand asks of the controller, spelled as the
//! request annotations of `drmysql_api::names::request`.
//!
//! A person asks the controller to act by annotating the DRMySQL; the
//! controller removes the annotation once it has answered. This module is the
//! one place that knows which annotation each request uses, which value it
//! carries, which pending annotations stand in its way, and the `kubectl
//! annotate` command that withdraws one, so that the commands, the validation
//! and the messages cannot disagree about a key.

use chrono::{DateTime, SecondsFormat, Utc};
use drmysql_api::drmysql::RequestKind;
use drmysql_api::names::request as annotation;
use serde_json::{Map, Value, json};

/// One request to the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {
    /// `switchover-to`: to the named instance, or to the one drmysql chooses.
    Switchover {
        /// The instance to promote.
        to: Option<String>,
    },
    /// `failover-to`, with `failover-force` when forced.
    Failover {
        /// The instance to promote.
        to: String,
        /// Bypass the data-loss guards.
        force: bool,
    },
    /// `rebuild`.
    Rebuild {
        /// The instance to re-create.
        instance: String,
    },
    /// `check-tunnel`, whose value is the time it was asked.
    CheckTunnel {
        /// When the plugin asked (the annotation's value).
        at: DateTime<Utc>,
    },
}

impl Ask {
    /// The kind the controller answers with in `status.lastRequest`.
    pub fn kind(&self) -> RequestKind {
        match self {
            Self::Switchover { .. } => RequestKind::Switchover,
            Self::Failover { .. } => RequestKind::Failover,
            Self::Rebuild { .. } => RequestKind::Rebuild,
            Self::CheckTunnel { .. } => RequestKind::CheckTunnel,
        }
    }

    /// Whether the controller follows a `Started` answer in `status.failover`
    /// and `status.history`.
    pub fn moves_the_primary(&self) -> bool {
        matches!(self, Self::Switchover { .. } | Self::Failover { .. })
    }

    /// The annotation that carries the request, and whose removal is the answer.
    pub fn annotation(&self) -> &'static str {
        match self {
            Self::Switchover { .. } => annotation::SWITCHOVER_TO,
            Self::Failover { .. } => annotation::FAILOVER_TO,
            Self::Rebuild { .. } => annotation::REBUILD,
            Self::CheckTunnel { .. } => annotation::CHECK_TUNNEL,
        }
    }

    /// The annotation's value.
    pub fn value(&self) -> String {
        match self {
            Self::Switchover { to } => to.clone().unwrap_or_default(),
            Self::Failover { to, .. } => to.clone(),
            Self::Rebuild { instance } => instance.clone(),
            Self::CheckTunnel { at } => at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }

    /// For people: `switchover to orders-tencent`, `forced failover to ...`.
    pub fn describe(&self) -> String {
        match self {
            Self::Switchover { to: Some(to) } => format!("switchover to {to}"),
            Self::Switchover { to: None } => "switchover (to the replica drmysql chooses)".to_owned(),
            Self::Failover { to, force: true } => format!("forced failover to {to}"),
            Self::Failover { to, force: false } => format!("failover to {to}"),
            Self::Rebuild { instance } => format!("rebuild of {instance}"),
            Self::CheckTunnel { .. } => "tunnel check".to_owned(),
        }
    }

    /// The JSON merge patch that asks: the annotation, `failover-force` set or
    /// removed for a failover, and the resourceVersion the request was checked
    /// against, so that the write fails (409) if the object changed meanwhile.
    pub fn patch(&self, resource_version: Option<&str>) -> Value {
        let mut annotations = Map::new();
        annotations.insert(self.annotation().to_owned(), Value::from(self.value()));
        if let Self::Failover { force, .. } = self {
            let force = if *force { Value::from("true") } else { Value::Null };
            annotations.insert(annotation::FAILOVER_FORCE.to_owned(), force);
        }
        let mut metadata = json!({ "annotations": annotations });
        if let Some(version) = resource_version {
            metadata["resourceVersion"] = Value::from(version);
        }
        json!({ "metadata": metadata })
    }

    /// Annotations that, while present, mean an earlier request of the same
    /// sort is unanswered: one primary move at a time, one rebuild, one check.
    pub fn blocked_by(&self) -> &'static [&'static str] {
        match self {
            Self::Switchover { .. } | Self::Failover { .. } => {
                &[annotation::SWITCHOVER_TO, annotation::FAILOVER_TO]
            }
            Self::Rebuild { .. } => &[annotation::REBUILD],
            Self::CheckTunnel { .. } => &[annotation::CHECK_TUNNEL],
        }
    }
}

/// The annotations to remove to withdraw the request carried by `key`
/// (a failover's force flag goes with it).
pub fn withdrawn_with(key: &str) -> Vec<&'static str> {
    annotation::ALL
        .into_iter()
        .filter(|candidate| {
            *candidate == key || (key == annotation::FAILOVER_TO && *candidate == annotation::FAILOVER_FORCE)
        })
        .collect()
}

/// `kubectl annotate drm NAME -n NAMESPACE KEY- ...`: withdraws a pending request.
pub fn withdraw_command(name: &str, namespace: &str, key: &str) -> String {
    let removals: Vec<String> = withdrawn_with(key)
        .into_iter()
        .map(|key| format!("{key}-"))
        .collect();
    format!(
        "kubectl annotate drm {name} -n {namespace} {}",
        removals.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failover_sets_or_removes_the_force_flag_and_pins_the_version() {
        let forced = Ask::Failover {
            to: "orders-tencent".into(),
            force: true,
        };
        assert_eq!(
            forced.patch(Some("42")),
            json!({"metadata": {"resourceVersion": "42", "annotations": {
                "drmysql.io/failover-to": "orders-tencent",
                "drmysql.io/failover-force": "true"
            }}})
        );
        let plain = Ask::Failover {
            to: "orders-tencent".into(),
            force: false,
        };
        assert_eq!(
            plain.patch(None),
            json!({"metadata": {"annotations": {
                "drmysql.io/failover-to": "orders-tencent",
                "drmysql.io/failover-force": null
            }}})
        );
    }

    #[test]
    fn values_are_the_instance_empty_or_the_time() {
        assert_eq!(Ask::Switchover { to: None }.value(), "");
        assert_eq!(
            Ask::Switchover {
                to: Some("orders-tencent".into())
            }
            .patch(None),
            json!({"metadata": {"annotations": {"drmysql.io/switchover-to": "orders-tencent"}}})
        );
        let at = DateTime::parse_from_rfc3339("2026-03-01T12:00:05.123Z")
            .expect("time")
            .with_timezone(&Utc);
        let check = Ask::CheckTunnel { at };
        assert_eq!(check.value(), "2026-03-01T12:00:05Z");
        assert_eq!(check.annotation(), "drmysql.io/check-tunnel");
        assert_eq!(
            Ask::Rebuild {
                instance: "orders-tencent".into()
            }
            .annotation(),
            "drmysql.io/rebuild"
        );
    }

    #[test]
    fn withdrawing_a_failover_removes_its_force_flag_too() {
        assert_eq!(
            withdraw_command("orders", "shop", annotation::FAILOVER_TO),
            "kubectl annotate drm orders -n shop drmysql.io/failover-to- drmysql.io/failover-force-"
        );
        assert_eq!(
            withdraw_command("orders", "default", annotation::SWITCHOVER_TO),
            "kubectl annotate drm orders -n default drmysql.io/switchover-to-"
        );
    }
}
