//! When an exited container is started again: the Pod's `restartPolicy`,
//! and the kubelet's crash-loop back-off (the first restart at once, then
//! 10 s, doubling up to 5 minutes, forgotten once a run lasts 10 minutes).
//! Pure, so the schedule is tested without waiting for it.

use std::time::Duration;

/// The crash-loop back-off schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartBackoff {
    /// The wait before the second restart.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// A run at least this long starts the schedule over.
    pub reset_after: Duration,
}

impl Default for RestartBackoff {
    /// The kubelet's: 10 s, up to 300 s, reset after 10 minutes of running.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }
}

/// Where a container is in its back-off schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackoffState {
    next: Option<Duration>,
}

impl RestartBackoff {
    /// How long to wait before restarting a container that just exited
    /// after running for `ran_for`, advancing `state`.
    pub fn delay(&self, state: &mut BackoffState, ran_for: Duration) -> Duration {
        if ran_for >= self.reset_after {
            *state = BackoffState::default();
        }
        let wait = state.next.unwrap_or(Duration::ZERO);
        state.next = Some(match state.next {
            None => self.initial,
            Some(previous) => previous.saturating_mul(2).min(self.max),
        });
        wait
    }
}

/// Whether a container that exited with `exit_code` is restarted under the
/// Pod's `restartPolicy` (`Always` when unset).
pub fn should_restart(policy: Option<&str>, exit_code: i32) -> bool {
    match policy.unwrap_or("Always") {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_restart_is_immediate_then_the_wait_doubles_to_the_cap() {
        let backoff = RestartBackoff::default();
        let mut state = BackoffState::default();
        let short = Duration::from_secs(1);
        let waits: Vec<u64> = (0..8)
            .map(|_| backoff.delay(&mut state, short).as_secs())
            .collect();
        assert_eq!(waits, [0, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(
            backoff.delay(&mut state, Duration::from_secs(600)),
            Duration::ZERO,
            "a long run forgets the crash loop"
        );
        assert_eq!(backoff.delay(&mut state, short), Duration::from_secs(10));
    }

    #[test]
    fn restart_policy_decides_by_exit_code() {
        assert!(should_restart(None, 0));
        assert!(should_restart(Some("Always"), 137));
        assert!(should_restart(Some("OnFailure"), 1));
        assert!(!should_restart(Some("OnFailure"), 0));
        assert!(!should_restart(Some("Never"), 137));
    }
}
