//! Counters the core keeps for `/metrics`.

use crate::input::LeaveReason;
use crate::output::CloseReason;

/// Running totals since the chat started; cheap to read at any time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Text frames that reached the chat: those a connection's [`Client`](crate::Client)
    /// let through (the runtime counts the ones it kept back; the server's `/metrics` adds
    /// them).
    pub frames_in: u64,
    /// Text frames addressed to clients (one per recipient).
    pub frames_out: u64,
    /// Connections that ever joined.
    pub joined: u64,
    /// Connections dropped for reading too slowly.
    pub dropped_slow: u64,
    /// Connections dropped after a ping went unanswered.
    pub dropped_ping_timeout: u64,
    /// Connections dropped for a frame over the size limit.
    pub dropped_too_big: u64,
    /// Connections dropped for invalid UTF-8.
    pub dropped_invalid_utf8: u64,
    /// Connections dropped for another breach of the WebSocket protocol.
    pub dropped_protocol: u64,
    /// Connections that failed below the chat (resets, I/O errors).
    pub dropped_error: u64,
}

impl Stats {
    pub(crate) fn count_close(&mut self, reason: &CloseReason) {
        match reason {
            CloseReason::PingTimeout => self.dropped_ping_timeout += 1,
            CloseReason::InvalidUtf8 => self.dropped_invalid_utf8 += 1,
            CloseReason::MessageTooBig => self.dropped_too_big += 1,
            CloseReason::ProtocolError => self.dropped_protocol += 1,
            CloseReason::Quit
            | CloseReason::Shutdown
            | CloseReason::TryAgain
            | CloseReason::Restart
            | CloseReason::Elsewhere
            | CloseReason::Kicked(_) => {}
        }
    }

    pub(crate) fn count_leave(&mut self, reason: LeaveReason) {
        match reason {
            LeaveReason::Slow => self.dropped_slow += 1,
            LeaveReason::Error => self.dropped_error += 1,
            LeaveReason::Closed => {}
        }
    }

    /// Dropped connections by reason, as `(label, count)` in a fixed order.
    pub fn dropped(&self) -> [(&'static str, u64); 6] {
        [
            ("slow", self.dropped_slow),
            ("ping_timeout", self.dropped_ping_timeout),
            ("too_big", self.dropped_too_big),
            ("invalid_utf8", self.dropped_invalid_utf8),
            ("protocol", self.dropped_protocol),
            ("error", self.dropped_error),
        ]
    }
}
