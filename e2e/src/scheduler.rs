//! Which node a pending Pod may run on: the part of kube-scheduler the sandbox
//! needs, so that the controller's placement is proven for real.
//!
//! A Pod fits a node when the node is Ready, every `nodeSelector` label
//! matches, one of its required nodeAffinity terms matches (terms are ORed,
//! expressions within a term ANDed, and an empty term matches nothing, as in
//! Kubernetes), and every NoSchedule or NoExecute taint of the node is
//! tolerated. A Pod that fits nowhere stays Pending with the reasons, the way
//! the real scheduler reports `FailedScheduling`.

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration};

/// Whether `pod` may run on `node`; the reason when it may not.
pub fn fits(pod: &Pod, node: &Node) -> Result<(), String> {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    if !is_ready(node) {
        return Err(format!("node {name} is not Ready"));
    }
    if node.spec.as_ref().and_then(|spec| spec.unschedulable) == Some(true) {
        return Err(format!("node {name} is unschedulable"));
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let spec = pod.spec.as_ref();
    for (key, value) in spec
        .and_then(|spec| spec.node_selector.as_ref())
        .into_iter()
        .flatten()
    {
        if labels.get(key) != Some(value) {
            return Err(format!("node {name} does not match nodeSelector {key}={value}"));
        }
    }
    let required = spec
        .and_then(|spec| spec.affinity.as_ref())
        .and_then(|affinity| affinity.node_affinity.as_ref())
        .and_then(|affinity| {
            affinity
                .required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    if let Some(selector) = required
        && !selector
            .node_selector_terms
            .iter()
            .any(|term| term_matches(term, name, &labels))
    {
        return Err(format!(
            "node {name} does not match the Pod's required node affinity"
        ));
    }
    let tolerations = spec
        .and_then(|spec| spec.tolerations.as_deref())
        .unwrap_or_default();
    let taints = node
        .spec
        .as_ref()
        .and_then(|spec| spec.taints.as_deref())
        .unwrap_or_default();
    if let Some(taint) = taints
        .iter()
        .filter(|taint| taint.effect == "NoSchedule" || taint.effect == "NoExecute")
        .find(|taint| !tolerations.iter().any(|toleration| tolerates(toleration, taint)))
    {
        return Err(format!(
            "node {name} has the taint {}={}:{} that the Pod does not tolerate",
            taint.key,
            taint.value.as_deref().unwrap_or_default(),
            taint.effect
        ));
    }
    Ok(())
}

/// The first node (in the given order) that `pod` fits, or every node's reason.
pub fn choose<'a>(pod: &Pod, nodes: &'a [Node]) -> Result<&'a Node, Vec<String>> {
    let mut reasons = Vec::new();
    for node in nodes {
        match fits(pod, node) {
            Ok(()) => return Ok(node),
            Err(reason) => reasons.push(reason),
        }
    }
    if reasons.is_empty() {
        reasons.push("there are no nodes".to_owned());
    }
    Err(reasons)
}

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|condition| condition.type_ == "Ready" && condition.status == "True")
}

fn term_matches(
    term: &NodeSelectorTerm,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    expressions
        .iter()
        .all(|requirement| requirement_matches(requirement, labels.get(&requirement.key).map(String::as_str)))
        && fields.iter().all(|requirement| {
            requirement.key == "metadata.name" && requirement_matches(requirement, Some(name))
        })
}

fn requirement_matches(requirement: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let number = |text: &str| text.parse::<i64>().ok();
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|value| values.iter().any(|candidate| candidate == value)),
        "NotIn" => value.is_none_or(|value| values.iter().all(|candidate| candidate != value)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => {
            matches!((value.and_then(number), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a > b)
        }
        "Lt" => {
            matches!((value.and_then(number), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a < b)
        }
        _ => false,
    }
}

/// Whether `toleration` tolerates `taint`, by Kubernetes' rules.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect_matches = toleration
        .effect
        .as_deref()
        .is_none_or(|effect| effect.is_empty() || effect == taint.effect);
    if !effect_matches {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    let operator = toleration.operator.as_deref().unwrap_or("Equal");
    match operator {
        "Exists" => key.is_empty() || key == taint.key,
        "Equal" => {
            key == taint.key
                && toleration.value.as_deref().unwrap_or_default()
                    == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
