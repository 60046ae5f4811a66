//! What a connection's driver hears from its client that the hub learns without its lock:
//! when the last frame came (for the heartbeat), and how many text frames the connection's
//! own [`Client`](chat_core::Client) kept from the chat, refused or blank (for `/metrics`).

use crate::sync::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Written by the driver on every frame, read by the hub when a heartbeat deadline comes
/// and when `/metrics` asks: a pong or a refused line costs one store, no shared lock.
#[derive(Debug)]
pub(crate) struct Heard {
    /// Nanoseconds from the hub's epoch to the last frame, plus one (0: none yet).
    last: AtomicU64,
    refused: AtomicU64,
}

impl Heard {
    pub(crate) fn new() -> Self {
        Heard {
            last: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// A frame came at `at`.
    pub(crate) fn frame(&self, epoch: Instant, at: Instant) {
        let nanos = at.saturating_duration_since(epoch).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1;
        self.last.store(nanos, Ordering::Relaxed);
    }

    /// When the last frame came, if one has.
    pub(crate) fn last(&self, epoch: Instant) -> Option<Instant> {
        match self.last.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(epoch + Duration::from_nanos(nanos - 1)),
        }
    }

    /// Its client kept a text frame from the chat (refused or blank).
    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Text frames its client has kept from the chat so far.
    pub(crate) fn refused_count(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(chat_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_last_frame_heard_is_the_time_it_came_and_none_before_one() {
        let epoch = Instant::now();
        let heard = Heard::new();
        assert_eq!(heard.last(epoch), None);
        heard.frame(epoch, epoch);
        assert_eq!(
            heard.last(epoch),
            Some(epoch),
            "a frame at the epoch is a frame"
        );
        let later = epoch + Duration::from_millis(1500);
        heard.frame(epoch, later);
        assert_eq!(heard.last(epoch), Some(later));
        heard.refused();
        heard.refused();
        assert_eq!(heard.refused_count(), 2);
    }
}
