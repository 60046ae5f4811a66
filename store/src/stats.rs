//! Counters of the store for `/metrics`, shared by the writer thread and the hub.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds, in seconds, of the write batch latency histogram's buckets.
pub const BATCH_BUCKETS: [f64; 8] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0];

/// What the store has done, readable at any time without a lock.
#[derive(Debug, Default)]
pub struct StoreStats {
    lines: AtomicU64,
    errors: AtomicU64,
    /// Batches per bucket of [`BATCH_BUCKETS`], and beyond the last (`+Inf` adds them).
    buckets: [AtomicU64; BATCH_BUCKETS.len() + 1],
    batch_micros: AtomicU64,
}

impl StoreStats {
    /// Lines the store holds.
    pub fn lines(&self) -> u64 {
        self.lines.load(Relaxed)
    }

    /// Writes and requests that failed: failed batches, and requests refused because the
    /// queue was full or the writer had stopped.
    pub fn errors(&self) -> u64 {
        self.errors.load(Relaxed)
    }

    /// The latency histogram: cumulative counts per bucket of [`BATCH_BUCKETS`] then
    /// `+Inf`, and the sum in seconds.
    pub fn batches(&self) -> ([u64; BATCH_BUCKETS.len() + 1], f64) {
        let mut cumulative = [0; BATCH_BUCKETS.len() + 1];
        let mut total = 0;
        for (c, b) in cumulative.iter_mut().zip(&self.buckets) {
            total += b.load(Relaxed);
            *c = total;
        }
        (cumulative, self.batch_micros.load(Relaxed) as f64 / 1e6)
    }

    pub(crate) fn set_lines(&self, n: u64) {
        self.lines.store(n, Relaxed);
    }

    pub(crate) fn count_error(&self) {
        self.errors.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_batch(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = BATCH_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BATCH_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.batch_micros
            .fetch_add(took.as_micros() as u64, Relaxed);
    }
}
