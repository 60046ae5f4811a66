//! History replay and the conversation with the store: what memory answers at once, what
//! must be fetched, and the lines a connection receives while it waits for a fetch.
//!
//! A connection whose replay needs the store is *held*: everything addressed to it queues
//! in the core behind a placeholder for the replay, and goes out, in order, when the fetch
//! is answered. So a joiner sees its history first and then every live line exactly once:
//! the fetch covers ids up to the last one given when it was asked, and later lines are the
//! live ones held behind it.

use super::Chat;
use crate::line::{Line, Rendering};
use crate::output::{CloseReason, ConnId};
use crate::payload::Payload;
use crate::room::Spoken;
use crate::store::{Fetch, FetchId, Fetched, Kept, StoreRequest, RESERVE_AHEAD};
use crate::user::Held;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Lines held for one connection at most while its replay is fetched. A store that slow is
/// broken; the connection is closed with 1013 (try again later) and resumes when it
/// reconnects, rather than the core buffering without bound.
const HELD_LIMIT: usize = 10_000;

/// The core's side of a store: requests not yet polled, fetches not yet answered, and the
/// ids reserved.
#[derive(Debug)]
pub(super) struct Storage {
    requests: VecDeque<StoreRequest>,
    waiting: BTreeMap<FetchId, Waiting>,
    next_fetch: u64,
    /// Ids below this are durably reserved.
    reserved: u64,
    /// A reservation has been asked for and not answered.
    reserving: bool,
}

/// A connection waiting for a fetch, and what it asked for.
#[derive(Debug)]
struct Waiting {
    conn: ConnId,
    room: Arc<str>,
    since: Option<u64>,
    upto: u64,
}

impl Storage {
    pub(super) fn new(reserved: u64) -> Self {
        Storage {
            requests: VecDeque::new(),
            waiting: BTreeMap::new(),
            next_fetch: 0,
            reserved,
            reserving: false,
        }
    }
}

impl Chat {
    /// The next thing for the store to do; call until `None` after every input, and carry
    /// them out in this order. Always `None` for a chat without a store.
    pub fn poll_store(&mut self) -> Option<StoreRequest> {
        self.store.as_mut()?.requests.pop_front()
    }

    /// The store's answer to [`StoreRequest::Fetch`] `id`: the lines, or `None` where the
    /// store could not read them (the replay then gives what memory has).
    pub fn handle_fetched(&mut self, id: FetchId, fetched: Option<Fetched>) {
        let Some(waiting) = self.store.as_mut().and_then(|s| s.waiting.remove(&id)) else {
            return;
        };
        let Waiting {
            conn,
            room,
            since,
            upto,
        } = waiting;
        let (cap, limit) = self.limits(since);
        let budget = self.config.replay_bytes;
        let after = since.unwrap_or(0);
        if let Some(fetched) = &fetched {
            self.change_history(&room, |r| r.absorb(fetched, after, upto, cap));
        }
        let Some(rendering) = self.users.get(&conn).map(|u| u.rendering) else {
            return; // gone meanwhile
        };
        let payloads = match fetched {
            Some(fetched) => {
                let skipped = since.map(|_| fetched.older);
                let lines: Vec<Spoken> = (fetched.lines.into_iter())
                    .map(|kept| Spoken { kept })
                    .collect();
                replay(&room, rendering, skipped, budget, lines.iter())
            }
            None => {
                let known = self.rooms.get(&room).into_iter();
                let lines: Vec<&Spoken> =
                    known.flat_map(|r| r.known_between(after, upto)).collect();
                let from = lines.len().saturating_sub(limit);
                replay(
                    &room,
                    rendering,
                    None,
                    budget,
                    lines[from..].iter().copied(),
                )
            }
        };
        self.fill(conn, id, payloads);
    }

    /// The store has recorded [`StoreRequest::NextId`]`(next)`, or (`None`) failed to.
    pub fn handle_reserved(&mut self, next: Option<u64>) {
        if let Some(store) = self.store.as_mut() {
            store.reserving = false;
            if let Some(next) = next {
                store.reserved = store.reserved.max(next);
            }
        }
    }

    /// The history window and the replay limit for a join with or without `since`.
    fn limits(&self, since: Option<u64>) -> (usize, usize) {
        let cap = self.config.history;
        (
            cap,
            if since.is_some() {
                self.config.resume_limit
            } else {
                cap
            },
        )
    }

    /// The latest id memory may lack lines up to, for a room that comes into memory now.
    pub(super) fn unknown_before(&self) -> u64 {
        if self.store.is_some() {
            self.next_line_id - 1
        } else {
            0
        }
    }

    /// Gives out the next line id, and asks the store to reserve more when half of the
    /// reservation is used up.
    pub(super) fn take_line_id(&mut self) -> u64 {
        let id = self.next_line_id;
        self.next_line_id += 1;
        if let Some(store) = self.store.as_mut() {
            if !store.reserving && self.next_line_id + RESERVE_AHEAD / 2 > store.reserved {
                store.reserving = true;
                let next = self.next_line_id + RESERVE_AHEAD;
                store.requests.push_back(StoreRequest::NextId(next));
            }
        }
        id
    }

    /// Hands a broadcast line to the store (in a cluster the broker kept it already).
    pub(super) fn keep(&mut self, kept: &Kept) {
        if self.proposals.is_some() {
            return;
        }
        if let Some(store) = self.store.as_mut() {
            store.requests.push_back(StoreRequest::Keep(kept.clone()));
        }
    }

    /// The server is stopping: the next start continues from the next id, skipping none.
    pub(super) fn store_shutdown(&mut self) {
        let next = self.next_line_id;
        if let Some(store) = self.store.as_mut() {
            store.waiting.clear();
            store.requests.push_back(StoreRequest::NextId(next));
        }
    }

    /// Replays what user `id` should see of its room after the welcome: the history, or
    /// with `since` every kept line after that id (at most `resume_limit`, after a
    /// `* N earlier lines skipped` for the rest). From memory when it holds all of it, or
    /// else from the store, holding the user's lines until the answer.
    pub(super) fn replay(&mut self, id: ConnId, since: Option<u64>) {
        let Some(user) = self.users.get(&id) else {
            return;
        };
        let (room, rendering) = (user.room.clone(), user.rendering);
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        let (_, limit) = self.limits(since);
        let budget = self.config.replay_bytes;
        let upto = self.next_line_id - 1;
        let after = since.unwrap_or(0);
        let stored = self.store.is_some();
        let known = r.lines_between((after, upto), limit, since.is_some(), stored);
        let from_memory = known.map(|known| {
            let lines: Vec<&Spoken> = known.collect();
            let from = lines.len().saturating_sub(limit);
            let skipped = since.map(|_| from);
            replay(
                &room,
                rendering,
                skipped,
                budget,
                lines[from..].iter().copied(),
            )
        });
        if let Some(payloads) = from_memory {
            for payload in payloads {
                self.send(id, payload);
            }
            return;
        }
        let Some(store) = self.store.as_mut() else {
            return; // without a store memory has everything: not reached
        };
        let fetch = FetchId(store.next_fetch);
        store.next_fetch += 1;
        store.requests.push_back(StoreRequest::Fetch(Fetch {
            id: fetch,
            room: room.clone(),
            after,
            upto,
            limit,
        }));
        store.waiting.insert(
            fetch,
            Waiting {
                conn: id,
                room,
                since,
                upto,
            },
        );
        if let Some(user) = self.users.get_mut(&id) {
            if user.held.is_none() {
                self.held += 1;
            }
            user.held
                .get_or_insert_with(Default::default)
                .push_back(Held::Awaiting(fetch));
        }
        // Its room's lines now queue behind the replay, one by one.
        self.detach(id);
    }

    /// Holds `payload` if `to` waits for a replay; gives it back if not. A user holding
    /// too much is closed once the current input's outputs are out (closing it here would
    /// put its leave notice in the middle of a broadcast).
    pub(super) fn hold(&mut self, to: ConnId, payload: Payload) -> Option<Payload> {
        let Some(held) = self.users.get_mut(&to).and_then(|u| u.held.as_mut()) else {
            return Some(payload);
        };
        if held.len() < HELD_LIMIT {
            held.push_back(Held::Ready(payload));
        } else if !self.overflowed.contains(&to) {
            self.overflowed.push(to);
        }
        None
    }

    /// Closes the users whose held lines overflowed (see `hold`).
    pub(super) fn close_overflowed(&mut self) {
        for id in std::mem::take(&mut self.overflowed) {
            self.close(id, CloseReason::TryAgain);
        }
    }

    /// Puts fetch `id`'s replay in its place among `conn`'s held lines and sends what is
    /// no longer held back by a fetch.
    fn fill(&mut self, conn: ConnId, id: FetchId, payloads: Vec<Payload>) {
        let Some(held) = self.users.get_mut(&conn).and_then(|u| u.held.as_mut()) else {
            return;
        };
        let Some(at) = held.iter().position(|h| *h == Held::Awaiting(id)) else {
            return;
        };
        let after = held.split_off(at + 1);
        held.pop_back();
        held.extend(payloads.into_iter().map(Held::Ready));
        held.extend(after);
        let mut ready = Vec::new();
        while let Some(Held::Ready(_)) = held.front() {
            if let Some(Held::Ready(payload)) = held.pop_front() {
                ready.push(payload);
            }
        }
        let done = held.is_empty();
        if done {
            if let Some(user) = self.users.get_mut(&conn) {
                user.held = None;
            }
            self.held -= 1;
        }
        for payload in ready {
            self.emit(conn, payload);
        }
        if done {
            self.attach(conn);
        }
    }

    /// A held user leaves: its waiting fetches are dropped with it.
    pub(super) fn unhold(&mut self, id: ConnId) {
        let Some(held) = self.users.get_mut(&id).and_then(|u| u.held.take()) else {
            return;
        };
        self.held -= 1;
        if let Some(store) = self.store.as_mut() {
            for h in held.iter() {
                if let Held::Awaiting(fetch) = h {
                    store.waiting.remove(fetch);
                }
            }
        }
    }
}

/// The payloads of a replay: the skipped notice when lines were skipped, then the lines.
/// At most `budget` bytes of lines go out, the latest: a replay must fit in the
/// connection's outbound queue, or it would be dropped as slow and come back for the same.
/// The older lines left out are counted as skipped in a resume (`skipped` is `Some`), and
/// left out silently from a plain history.
fn replay<'a>(
    room: &str,
    rendering: Rendering,
    skipped: Option<usize>,
    budget: usize,
    lines: impl DoubleEndedIterator<Item = &'a Spoken>,
) -> Vec<Payload> {
    let (mut kept, mut bytes, mut left_out) = (Vec::new(), 0, 0);
    for payload in lines.rev().filter_map(|spoken| spoken.replay(rendering)) {
        if left_out > 0 || bytes + payload.len() > budget {
            left_out += 1;
            continue;
        }
        bytes += payload.len();
        kept.push(payload);
    }
    kept.reverse();
    let count = skipped.map_or(0, |n| n + left_out);
    let notice = (count > 0).then(|| Line::Skipped { room, count }.render(rendering));
    notice.flatten().into_iter().chain(kept).collect()
}
