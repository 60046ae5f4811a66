//! What one client address may do, whatever connections it opens: how many at once, how
//! often, and what a new connection inherits from those that went before.
//!
//! A connection's line bucket does not die with it: it is kept for its address, and the
//! next connection of that address takes the emptiest bucket kept (a full one only when
//! none is left). A client that reconnects in a loop therefore sends at most
//! `burst + rate × T` lines in T seconds per connection it holds open at once, as if it had
//! never reconnected. Join notices are paid from one bucket per address, so a reconnect loop
//! cannot flood a room with them either.

use crate::config::Config;
use crate::rate::TokenBucket;
use std::time::{Duration, Instant};

/// One address's connections and buckets.
#[derive(Debug)]
pub(crate) struct Address {
    /// Connections of this address joined now.
    pub open: usize,
    /// New connections: `connect_burst`, refilled at `connect_rate`.
    connects: TokenBucket,
    /// Line buckets of connections that have gone, not yet refilled to the full burst.
    spare: Vec<TokenBucket>,
    /// Join notices: `burst`, refilled at `rate`, like lines.
    notices: TokenBucket,
}

/// Why an address may not open another connection now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `max_connections_per_ip` are open.
    TooMany,
    /// The connect rate is used up; try again after this long.
    TooFast(Duration),
}

impl Address {
    pub(crate) fn new(config: &Config, now: Instant) -> Self {
        Address {
            open: 0,
            connects: TokenBucket::new(config.connect_burst, now),
            spare: Vec::new(),
            notices: TokenBucket::new(config.burst, now),
        }
    }

    /// Admits one more connection, or says why not; the admitted one gets its line bucket.
    pub(crate) fn admit(&mut self, config: &Config, now: Instant) -> Result<TokenBucket, Refusal> {
        let max = config.max_connections_per_ip;
        if max > 0 && self.open >= max {
            return Err(Refusal::TooMany);
        }
        let (rate, burst) = (config.connect_rate, config.connect_burst);
        if !self.connects.take(1, rate, burst, now) {
            let wait = (1.0 - self.connects.tokens(rate, burst, now)) / rate;
            return Err(Refusal::TooFast(Duration::from_secs_f64(wait.max(0.0))));
        }
        self.open += 1;
        if rate <= 0.0 {
            return Ok(TokenBucket::new(config.burst, now)); // no inheritance: as in v1
        }
        self.forget_full(config, now);
        let emptiest = (0..self.spare.len()).min_by(|&a, &b| {
            let tokens = |i: usize| self.spare[i].tokens(config.rate, config.burst, now);
            tokens(a).total_cmp(&tokens(b))
        });
        Ok(match emptiest {
            Some(i) => self.spare.swap_remove(i),
            None => TokenBucket::new(config.burst, now),
        })
    }

    /// A connection of this address has gone; its bucket stays for the next one.
    pub(crate) fn release(&mut self, bucket: TokenBucket, config: &Config) {
        self.open = self.open.saturating_sub(1);
        self.spare.push(bucket);
        // More spares than connections could ever be open would only be full ones.
        let cap = config.max_connections_per_ip.max(1);
        if self.spare.len() > cap {
            self.spare.remove(0);
        }
    }

    /// Whether a join notice may go out for a connection of this address now.
    pub(crate) fn may_announce(&mut self, config: &Config, now: Instant) -> bool {
        config.connect_rate <= 0.0 || self.notices.take(1, config.rate, config.burst, now)
    }

    /// Whether the record says nothing a fresh one would not: it can go.
    pub(crate) fn is_idle(&mut self, config: &Config, now: Instant) -> bool {
        self.forget_full(config, now);
        let full =
            |b: &TokenBucket, rate: f64, burst: u32| b.tokens(rate, burst, now) >= f64::from(burst);
        self.open == 0
            && self.spare.is_empty()
            && full(&self.connects, config.connect_rate, config.connect_burst)
            && full(&self.notices, config.rate, config.burst)
    }

    /// Drops spare buckets that have refilled: a new one would be the same.
    fn forget_full(&mut self, config: &Config, now: Instant) {
        let (rate, burst) = (config.rate, config.burst);
        self.spare
            .retain(|b| b.tokens(rate, burst, now) < f64::from(burst));
    }
}
