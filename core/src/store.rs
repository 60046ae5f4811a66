//! What the chat asks of its store, and what the store answers.
//!
//! The core never touches a store: lines to keep and reads leave it as [`StoreRequest`]s
//! (drained with [`Chat::poll_store`](crate::Chat::poll_store)), and what the store holds
//! comes back as inputs ([`Chat::handle_fetched`](crate::Chat::handle_fetched),
//! [`Chat::handle_reserved`](crate::Chat::handle_reserved)). The runtime must carry the
//! requests out in the order they were polled: a fetch then sees every line kept before it.

use std::sync::Arc;

/// A chat line or action as the store keeps it: enough to send it again exactly as it was
/// first broadcast, as text or as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    /// Its id: unique over the chat's whole life, increasing in the order its room saw it.
    pub id: u64,
    /// The room it was said in.
    pub room: Arc<str>,
    /// Who said it.
    pub from: Arc<str>,
    /// What was said, cleaned as it was broadcast.
    pub text: Arc<str>,
    /// `/me` action rather than a chat line.
    pub action: bool,
    /// When, in milliseconds since the Unix epoch.
    pub ts: u64,
}

/// Names one [`Fetch`] so that its answer finds the connection waiting for it. The number
/// means nothing outside the chat that gave it (a store's tests may make their own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FetchId(pub u64);

/// A read of one room's kept lines: the latest `limit` of those with `after < id <= upto`,
/// and how many more in that range there are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    /// Answer with [`Chat::handle_fetched`](crate::Chat::handle_fetched) and this id.
    pub id: FetchId,
    /// The room.
    pub room: Arc<str>,
    /// Lines with ids above this (0 for all).
    pub after: u64,
    /// Lines with ids up to this one: later lines reach the connection live.
    pub upto: u64,
    /// At most this many, the latest.
    pub limit: usize,
}

impl Fetch {
    /// The answer a store must give, from its lines of any rooms in id order: what a model
    /// store in tests and the fuzzer answers, and what the real store's query computes.
    pub fn answer_from<'a>(&self, kept: impl IntoIterator<Item = &'a Kept>) -> Fetched {
        let range: Vec<&Kept> = (kept.into_iter())
            .filter(|k| k.room == self.room && k.id > self.after && k.id <= self.upto)
            .collect();
        let older = range.len().saturating_sub(self.limit);
        Fetched {
            lines: range[older..].iter().map(|k| (*k).clone()).collect(),
            older,
        }
    }
}

/// The answer to a [`Fetch`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fetched {
    /// The latest lines of the range, oldest first, at most `limit`.
    pub lines: Vec<Kept>,
    /// Lines of the range that the store holds and that are not in `lines`.
    pub older: usize,
}

/// Something for the store to do, in order.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreRequest {
    /// Keep this line (the oldest beyond the store's retention limit may go).
    Keep(Kept),
    /// Read some of a room's lines and answer with
    /// [`Chat::handle_fetched`](crate::Chat::handle_fetched).
    Fetch(Fetch),
    /// Record, durably, that the chat's next life must give ids from this one up, and
    /// answer with [`Chat::handle_reserved`](crate::Chat::handle_reserved). The chat asks
    /// ahead of need, so that ids handed out before a crash are never handed out again.
    NextId(u64),
}

/// Where a chat with a store starts: from what the store said at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The first id this chat gives: above every id the store holds or reserved.
    pub next_id: u64,
    /// Ids below this one are durably reserved already: the chat may give them without
    /// asking again.
    pub reserved: u64,
}

/// How many ids the chat reserves at a time. A crash skips at most this many; a reservation
/// is renewed when half of it is left, which leaves the store plenty of time to record it.
pub const RESERVE_AHEAD: u64 = 1 << 20;
