//! Waiting for the sandbox to reach a state, the way a scenario or an
//! operator would: poll, remember the last thing seen, and on timeout say
//! what was awaited and what was seen instead.

use std::future::Future;
use std::time::{Duration, Instant};

use super::error::SandboxError;

/// How often a condition is checked.
const POLL: Duration = Duration::from_millis(250);

/// Polls `check` until it yields `Ok(value)` or `limit` passes; an `Err`
/// is the description of the state seen so far, reported on timeout.
pub async fn until<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<T, SandboxError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        let last = match check().await {
            Ok(value) => return Ok(value),
            Err(seen) => seen,
        };
        if Instant::now() >= deadline {
            return Err(SandboxError::Timeout {
                what: what.to_owned(),
                limit,
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn it_returns_once_the_condition_holds() {
        let calls = AtomicUsize::new(0);
        let value = until("three calls", Duration::from_secs(5), || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= 3 { Ok(n) } else { Err(format!("{n} calls")) }
        })
        .await
        .expect("reached");
        assert_eq!(value, 3);
    }

    #[tokio::test]
    async fn a_timeout_says_what_was_seen_last() {
        let error = until("the impossible", Duration::from_millis(300), || async {
            Err::<(), _>("still nothing".to_owned())
        })
        .await
        .expect_err("times out");
        let message = error.to_string();
        assert!(
            message.contains("the impossible") && message.contains("still nothing"),
            "{message}"
        );
    }
}
