//! What a simulated node writes back about its Pods, decided without an API
//! server: a Pod's status when the runtime's view of it changed (and only
//! then: probes are polled every second, most polls change nothing), and
//! the binding of a claim the Pod uses, since the sandbox has no volume
//! provisioner that would bind it.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PodStatus};
use serde_json::{Value, json};

/// The merge patch of `pods/status` that writes `current`, or `None` when
/// it equals what was written last. Lists (conditions, container statuses)
/// are replaced whole, as the kubelet owns them; fields the runtime does not
/// report (the simulator's `qosClass`) are kept.
pub fn status_patch(written: Option<&PodStatus>, current: &PodStatus) -> Option<Value> {
    if written == Some(current) {
        return None;
    }
    Some(json!({ "status": current }))
}

/// The merge patch of `persistentvolumeclaims/status` that marks `claim`
/// Bound with the access modes and capacity it asked for, or `None` when it
/// is Bound already.
pub fn claim_bound_patch(claim: &PersistentVolumeClaim) -> Option<Value> {
    let phase = claim.status.as_ref().and_then(|status| status.phase.as_deref());
    if phase == Some("Bound") {
        return None;
    }
    let spec = claim.spec.as_ref();
    let access_modes = spec
        .and_then(|spec| spec.access_modes.clone())
        .unwrap_or_default();
    let capacity = spec
        .and_then(|spec| spec.resources.as_ref())
        .and_then(|resources| resources.requests.clone())
        .unwrap_or_default();
    Some(json!({
        "status": {
            "phase": "Bound",
            "accessModes": access_modes,
            "capacity": capacity,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_status_is_not_written_again() {
        let status = PodStatus {
            phase: Some("Running".to_owned()),
            pod_ip: Some("10.244.1.2".to_owned()),
            ..PodStatus::default()
        };
        let patch = status_patch(None, &status).expect("the first status is written");
        assert_eq!(patch["status"]["podIP"], "10.244.1.2");
        assert_eq!(status_patch(Some(&status), &status.clone()), None);
        let mut newer = status.clone();
        newer.phase = Some("Failed".to_owned());
        assert!(status_patch(Some(&status), &newer).is_some());
    }

    #[test]
    fn a_pending_claim_is_bound_with_what_it_asked_for() {
        let claim: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "orders-a-data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
            "status": {"phase": "Pending"}
        }))
        .expect("a claim");
        let patch = claim_bound_patch(&claim).expect("a patch");
        assert_eq!(
            patch,
            json!({"status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}})
        );
        let mut bound = claim.clone();
        if let Some(status) = bound.status.as_mut() {
            status.phase = Some("Bound".to_owned());
        }
        assert_eq!(claim_bound_patch(&bound), None);
    }
}
