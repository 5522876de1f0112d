//! What the kubelet would have said as Events (`FailedMount`, `Failed`,
//! `Started`, `Killing`, `Unhealthy`, `BackOff`), kept for whoever plays the
//! kubelet towards an API server to post, and for tests to read. Repeats of
//! the same event are counted rather than stored again, as the kubelet's
//! event recorder aggregates them, and the buffer is bounded.

use std::collections::VecDeque;

use k8s_openapi::jiff::Timestamp;

/// How many events are kept before the oldest are dropped.
const LIMIT: usize = 256;

/// `Normal` or `Warning`, as in `Event.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something went wrong.
    Warning,
}

impl EventType {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

/// One event about the Pod or one of its containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeletEvent {
    /// Normal or Warning.
    pub type_: EventType,
    /// PascalCase reason, e.g. `Unhealthy`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// The container it is about, if any.
    pub container: Option<String>,
    /// How many times it happened in a row.
    pub count: u32,
    /// When it last happened.
    pub last_seen: Timestamp,
}

/// A bounded, aggregating event buffer.
#[derive(Debug, Default)]
pub struct EventLog {
    events: VecDeque<KubeletEvent>,
}

impl EventLog {
    /// Records an event, counting it if it repeats the previous one.
    pub fn record(
        &mut self,
        type_: EventType,
        reason: &str,
        message: String,
        container: Option<&str>,
        now: Timestamp,
    ) {
        if let Some(last) = self.events.back_mut()
            && last.type_ == type_
            && last.reason == reason
            && last.message == message
            && last.container.as_deref() == container
        {
            last.count = last.count.saturating_add(1);
            last.last_seen = now;
            return;
        }
        if self.events.len() == LIMIT {
            self.events.pop_front();
        }
        self.events.push_back(KubeletEvent {
            type_,
            reason: reason.to_owned(),
            message,
            container: container.map(str::to_owned),
            count: 1,
            last_seen: now,
        });
    }

    /// Takes every event recorded so far.
    pub fn drain(&mut self) -> Vec<KubeletEvent> {
        self.events.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_counted_and_the_buffer_is_bounded() {
        let mut log = EventLog::default();
        let now = Timestamp::UNIX_EPOCH;
        for _ in 0..3 {
            log.record(
                EventType::Warning,
                "Unhealthy",
                "probe failed".to_owned(),
                Some("sidecar"),
                now,
            );
        }
        log.record(
            EventType::Normal,
            "Started",
            "Started container mysqld".to_owned(),
            Some("mysqld"),
            now,
        );
        let events = log.drain();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].count, 3);
        assert!(log.drain().is_empty());
        for index in 0..(LIMIT + 10) {
            log.record(EventType::Normal, "Started", format!("{index}"), None, now);
        }
        let events = log.drain();
        assert_eq!(events.len(), LIMIT);
        assert_eq!(events[0].message, "10");
    }
}
