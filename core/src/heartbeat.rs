//! Heartbeat deadlines for every connection, without scanning them.

use crate::output::ConnId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// A min-heap of `(deadline, connection)`: one entry per live connection, and stale ones
/// of connections that have left.
///
/// Entries are lazy: a frame from a client only updates `User::last_seen` (no heap work on
/// the hot path); when the old deadline comes up, the core finds the user active and
/// pushes the real deadline instead. Entries of connections that left stay until their
/// deadline comes up and are dropped then (ids are never reused, so they cannot be
/// mistaken for a new connection).
#[derive(Debug, Default)]
pub(crate) struct Heartbeat {
    due: BinaryHeap<Reverse<(Instant, ConnId)>>,
}

impl Heartbeat {
    pub(crate) fn schedule(&mut self, at: Instant, id: ConnId) {
        self.due.push(Reverse((at, id)));
    }

    /// The earliest deadline (possibly of a connection that has left: an early wake-up
    /// is harmless).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.due.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes the next entry that is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<ConnId> {
        match self.due.peek() {
            Some(Reverse((at, _))) if *at <= now => self.due.pop().map(|Reverse((_, id))| id),
            _ => None,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.due.clear();
    }
}
