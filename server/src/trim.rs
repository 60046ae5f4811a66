//! Gives memory back to the system after many connections have gone at once.
//!
//! glibc's allocator keeps what is freed in the middle of its heap for reuse: after 10,000
//! connections drop, the process would go on holding most of what they used. So when the
//! open WebSockets fall to half of their peak since the last trim (and the peak was large),
//! `malloc_trim` hands the free pages back a second later (when a mass disconnect is over),
//! on a thread of its own (it walks the heap: a few milliseconds that no connection should
//! wait for). Elsewhere it does nothing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long after the fall the trim waits: the rest of a mass disconnect is over by then.
const SETTLE: Duration = Duration::from_secs(1);

/// Below this many connections at the peak there is too little to give back to bother.
const WORTH_IT: usize = 1_000;

/// The peak since the last trim, and whether a trim is running.
#[derive(Debug, Default)]
pub(crate) struct Trim {
    peak: AtomicUsize,
    running: Arc<AtomicBool>,
}

impl Trim {
    /// A connection opened: `open` are open now.
    pub(crate) fn opened(&self, open: usize) {
        self.peak.fetch_max(open, Ordering::Relaxed);
    }

    /// A connection closed: `open` are left. Trims once they are half the peak or fewer.
    pub(crate) fn closed(&self, open: usize) {
        let peak = self.peak.load(Ordering::Relaxed);
        if peak < WORTH_IT || open > peak / 2 || self.running.swap(true, Ordering::Acquire) {
            return;
        }
        self.peak.store(open, Ordering::Relaxed);
        let running = self.running.clone();
        let spawned = std::thread::Builder::new()
            .name("chat-trim".into())
            .spawn(move || {
                std::thread::sleep(SETTLE);
                release();
                running.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.running.store(false, Ordering::Release);
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release() {
    // SAFETY: malloc_trim only walks the allocator's free lists and returns free pages.
    unsafe {
        libc::malloc_trim(0);
    }
    tracing::debug!("free memory given back to the system after connections left");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trim_starts_once_the_open_connections_fall_to_half_a_large_peak() {
        let small = Trim::default();
        small.opened(WORTH_IT - 1);
        small.closed(0);
        assert!(!small.running.load(Ordering::Acquire), "too small a peak");

        let trim = Trim::default();
        for open in 1..=2_000 {
            trim.opened(open);
        }
        trim.closed(1_001);
        assert!(!trim.running.load(Ordering::Acquire), "not yet half");
        trim.closed(1_000);
        assert!(trim.running.load(Ordering::Acquire), "half: a trim starts");
        assert_eq!(
            trim.peak.load(Ordering::Relaxed),
            1_000,
            "the peak starts over"
        );
        // While it waits for the rest of the disconnect, no second one starts.
        trim.closed(400);
        assert_eq!(trim.peak.load(Ordering::Relaxed), 1_000);
    }
}
