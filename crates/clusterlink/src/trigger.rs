//! The level-triggered loop shared by the network manager and the agent: a
//! pass runs at start, after every burst of watch events (debounced), every
//! resync period without events, and again shortly after a failed pass.
//!
//! Watch events only wake the loop; each pass reads what it needs afresh, so a
//! missed or merged event can never leave the result stale.

use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::api::Api;
use kube::runtime::watcher;

/// Timing of a pass loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopTiming {
    /// Quiet time after the last event before a pass runs.
    pub debounce: Duration,
    /// Longest a burst of events may delay a pass.
    pub max_delay: Duration,
    /// A pass runs this often even without events (drift repair).
    pub resync: Duration,
    /// Wait after a failed pass before the next.
    pub retry: Duration,
}

/// Runs `pass` (which says whether it succeeded) on start, after each burst of
/// `triggers`, every `resync` and `retry` after a failure, until `shutdown`
/// completes or the triggers end.
pub async fn run_debounced<F, Fut>(
    triggers: impl Stream<Item = ()>,
    timing: LoopTiming,
    shutdown: impl Future<Output = ()>,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut triggers = std::pin::pin!(triggers);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next_pass = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep_until(next_pass) => {}
            trigger = triggers.next() => {
                if trigger.is_none() {
                    tracing::warn!("watches ended; the loop stops");
                    return;
                }
                debounce(&mut triggers, timing).await;
            }
        }
        let wait = if pass().await { timing.resync } else { timing.retry };
        next_pass = tokio::time::Instant::now() + wait;
    }
}

/// Waits until no trigger arrived for `debounce`, or `max_delay` has passed.
async fn debounce(triggers: &mut (impl Stream<Item = ()> + Unpin), timing: LoopTiming) {
    let deadline = tokio::time::Instant::now() + timing.max_delay;
    loop {
        let quiet = tokio::time::Instant::now() + timing.debounce;
        match tokio::time::timeout_at(quiet.min(deadline), triggers.next()).await {
            Ok(Some(())) if tokio::time::Instant::now() < deadline => {}
            _ => return,
        }
    }
}

/// One `()` per change of the objects `api` and `config` select, from a watch
/// that retries with backoff.
pub fn changes<K>(api: Api<K>, config: watcher::Config, kind: &'static str) -> impl Stream<Item = ()> + use<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    use kube::runtime::WatchStreamExt;
    watcher(api, config)
        .default_backoff()
        .filter_map(move |event| async move {
            match event {
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone) => {
                    Some(())
                }
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
                Err(error) => {
                    tracing::warn!(kind, %error, "watch failed; retrying");
                    None
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn timing() -> LoopTiming {
        LoopTiming {
            debounce: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            resync: Duration::from_secs(30),
            retry: Duration::from_secs(1),
        }
    }

    struct Harness {
        triggers: tokio::sync::mpsc::UnboundedSender<()>,
        stop: tokio::sync::oneshot::Sender<()>,
        passes: Arc<AtomicUsize>,
        running: tokio::task::JoinHandle<()>,
    }

    /// A loop whose passes fail while `failing` passes remain.
    fn start(failing: usize) -> Harness {
        let (triggers, receiver) = tokio::sync::mpsc::unbounded_channel::<()>();
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|trigger| (trigger, receiver))
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let passes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&passes);
        let running = tokio::spawn(run_debounced(
            stream,
            timing(),
            async {
                let _ = stopped.await;
            },
            move || {
                let done = counter.fetch_add(1, Ordering::SeqCst);
                async move { done >= failing }
            },
        ));
        Harness {
            triggers,
            stop,
            passes,
            running,
        }
    }

    async fn stop(harness: Harness) {
        harness.stop.send(()).expect("loop alive");
        tokio::time::timeout(Duration::from_secs(5), harness.running)
            .await
            .expect("stops on shutdown")
            .expect("no panic");
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_gives_one_pass_after_it() {
        let harness = start(0);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(harness.passes.load(Ordering::SeqCst), 1, "one pass at start");
        for _ in 0..10 {
            harness.triggers.send(()).expect("loop alive");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            harness.passes.load(Ordering::SeqCst),
            1,
            "nothing during the burst"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            harness.passes.load(Ordering::SeqCst),
            2,
            "one pass after the burst"
        );
        stop(harness).await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_endless_burst_is_cut_at_the_maximum_delay() {
        let harness = start(0);
        tokio::time::sleep(Duration::from_millis(50)).await;
        for _ in 0..60 {
            harness.triggers.send(()).expect("loop alive");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        // At start, then at the 2 s cap twice (about 2.05 s and 4.15 s), then
        // 200 ms after the last event (about 6.15 s).
        assert_eq!(harness.passes.load(Ordering::SeqCst), 4);
        stop(harness).await;
    }

    #[tokio::test(start_paused = true)]
    async fn resync_without_events_and_retry_after_failure() {
        let harness = start(2);
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert_eq!(
            harness.passes.load(Ordering::SeqCst),
            3,
            "two failures retried after 1 s each"
        );
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(
            harness.passes.load(Ordering::SeqCst),
            4,
            "then one resync after 30 s"
        );
        stop(harness).await;
    }
}
