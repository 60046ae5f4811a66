//! The current time, as the caller tells it.

use std::time::Instant;

/// The two clocks the core needs, read by the caller and passed in with every input.
///
/// `at` drives timers (rate limit, heartbeat); `unix_ms` only stamps the `ts` field of
/// JSON lines. The core never reads a clock itself, so tests can move time at will.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time, for every deadline.
    pub at: Instant,
    /// Milliseconds since the Unix epoch, for timestamps users see.
    pub unix_ms: u64,
}

impl Now {
    /// Both clocks at once; adapters call this with `Instant::now()` and `SystemTime::now()`.
    pub fn new(at: Instant, unix_ms: u64) -> Self {
        Now { at, unix_ms }
    }
}
