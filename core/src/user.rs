//! A connected user: name, room, and the per-connection limits and timers.

use crate::line::Rendering;
use crate::rate::TokenBucket;
use std::sync::Arc;
use std::time::Instant;

/// Everything the core knows of one connection.
#[derive(Debug)]
pub(crate) struct User {
    pub name: Arc<str>,
    pub room: Arc<str>,
    pub rendering: Rendering,
    /// Index of this user in its room's member list.
    pub slot: usize,
    pub bucket: TokenBucket,
    /// When the last `! slow down` went out: it is sent at most once a second.
    pub slowed_at: Option<Instant>,
    /// When the last frame of any kind arrived.
    pub last_seen: Instant,
    /// When a ping went out that no frame has answered yet.
    pub pinged_at: Option<Instant>,
}

impl User {
    /// Any frame from the client is a sign of life: the heartbeat starts over.
    pub(crate) fn seen(&mut self, now: Instant) {
        self.last_seen = now;
        self.pinged_at = None;
    }
}
