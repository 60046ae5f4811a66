//! The per-connection token bucket that limits how fast a user may send lines.

use std::time::Instant;

/// A token bucket: `burst` tokens at most, refilled at `rate` per second.
#[derive(Clone, Debug)]
pub(crate) struct TokenBucket {
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(burst: u32, now: Instant) -> Self {
        TokenBucket {
            tokens: f64::from(burst),
            refilled_at: now,
        }
    }

    /// The tokens there would be at `now` (for comparing buckets; changes nothing).
    pub(crate) fn tokens(&self, rate: f64, burst: u32, now: Instant) -> f64 {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        (self.tokens + elapsed * rate).min(f64::from(burst))
    }

    /// Takes `n` tokens if there are that many, all or nothing. A `rate` of 0 means no limit.
    pub(crate) fn take(&mut self, n: u32, rate: f64, burst: u32, now: Instant) -> bool {
        if rate <= 0.0 {
            return true;
        }
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(burst));
        self.refilled_at = now;
        if self.tokens >= f64::from(n) {
            self.tokens -= f64::from(n);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    // A virtual clock needs one real instant to start from.
    #![allow(clippy::disallowed_methods)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, t0);
        assert!(b.take(2, 1.0, 3, t0));
        assert!(b.take(1, 1.0, 3, t0));
        assert!(!b.take(1, 1.0, 3, t0));
        assert!(!b.take(1, 1.0, 3, t0 + Duration::from_millis(900)));
        assert!(b.take(1, 1.0, 3, t0 + Duration::from_millis(1000)));
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(100);
        assert!(!b.take(4, 1.0, 3, later));
        assert!(b.take(3, 1.0, 3, later));
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1, t0);
        assert!((0..1000).all(|_| b.take(1, 0.0, 1, t0)));
    }
}
