//! One connection's outbound queue: its room's lines, read through its cursor in the room's
//! [`Feed`], and the lines addressed to it alone, each in its place among the room's; bounded
//! in bytes.

use crate::feed::{Cursor, Feed, Read};
use crate::heard::Heard;
use crate::sync::{AtomicU8, AtomicWaker, Mutex, MutexGuard};
use chat_core::{CloseReason, Payload};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::task::Waker;

/// Lines, pings and a close for one connection, filled by the hub and emptied by the
/// connection's driver.
#[derive(Debug)]
pub(crate) struct Outbox {
    limit: usize,
    state: Mutex<State>,
    /// Whether the connection is ending, readable without the lock: a driver stuck writing
    /// to a client that does not read must still learn that the chat has dropped it.
    ending: AtomicU8,
    /// The driver's task, registered on every poll, to be woken when the connection ends.
    task: AtomicWaker,
    /// What the driver hears from the client, for the hub (kept here: one allocation per
    /// connection serves both directions).
    pub heard: Heard,
}

const RUNNING: u8 = 0;
const CLOSING: u8 = 1;
const DROPPED: u8 = 2;

/// What the driver sees of an ending connection, before it has taken the lines queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Carry on.
    No,
    /// The chat closed it: deliver what is queued and the close frame, briefly.
    Closing,
    /// It fell too far behind: drop it now.
    Dropped,
}

#[derive(Debug, Default)]
struct State {
    /// The room it reads now, and where it is in it.
    reading: Option<Box<Cursor>>,
    /// Its own lines and changes of room, each with its place in the room it read when it
    /// was queued: it goes out once the room's lines before that place have.
    queued: VecDeque<Queued>,
    /// Bytes of the lines in `queued`.
    bytes: usize,
    /// Changes of room in `queued` (usually none: they are taken at once).
    rooms_queued: usize,
    ping: bool,
    end: Option<End>,
    /// The driver's waker, present while it waits for something to send.
    waker: Option<Waker>,
    /// Once it has ended: where it was in the room the hub still counts it a reader of. The
    /// hub's last `read` (when it forgets the connection) says up to where that was.
    abandoned: Option<Box<Cursor>>,
}

#[derive(Debug)]
struct Queued {
    at: u64,
    item: Item,
}

#[derive(Debug)]
enum Item {
    Line(Payload),
    /// From here on it reads this room (none: no room). Boxed: a change of room is rare,
    /// and an item stays the size of a line.
    Read(Option<Box<Cursor>>),
}

/// How the connection must end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Send a close frame with this reason after the queued lines.
    Close(CloseReason),
    /// The client fell too far behind: drop it, queued lines and all.
    Slow,
}

/// What the driver takes in one go.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub ping: bool,
    pub end: Option<End>,
}

/// What a push did, so the hub knows whom to wake and whom to drop.
pub(crate) enum Pushed {
    /// Queued; wake this waker once the hub's lock is released.
    Wake(Option<Waker>),
    /// Over the limit: the connection is now ending as slow; wake these.
    Overflow([Option<Waker>; 2]),
}

impl Outbox {
    pub(crate) fn new(limit: usize) -> Self {
        Outbox {
            limit,
            state: Mutex::new(State::default()),
            ending: AtomicU8::new(RUNNING),
            task: AtomicWaker::new(),
            heard: Heard::new(),
        }
    }

    /// Whether the connection is ending (or has fallen so far behind its room that lines it
    /// had not read are gone); also registers the driver's task to be woken when it does.
    /// Call on every poll of the driver.
    pub(crate) fn ending(&self, task: &Waker) -> Ending {
        self.task.register(task);
        match self.ending.load(Ordering::Acquire) {
            RUNNING => {}
            CLOSING => return Ending::Closing,
            _ => return Ending::Dropped,
        }
        let mut s = self.state();
        if s.lagged() {
            self.drop_slow(&mut s);
            return Ending::Dropped;
        }
        Ending::No
    }

    /// Wakes the driver's task (for the read side's waker, which shares this registration,
    /// and for the hub looking for slow readers).
    pub(crate) fn wake_task(&self) {
        self.task.wake();
    }

    /// Records the end for lock-free readers; returns the task waker to wake.
    fn mark(&self, end: End) -> Option<Waker> {
        let state = match end {
            End::Close(_) => CLOSING,
            End::Slow => DROPPED,
        };
        self.ending.fetch_max(state, Ordering::Release);
        self.task.take()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep going with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything queued goes, and the connection ends as too slow.
    fn drop_slow(&self, s: &mut State) -> Option<Waker> {
        s.let_go();
        s.end = Some(End::Slow);
        self.mark(End::Slow)
    }

    /// Queues a line for this connection alone, after every line of its room so far,
    /// unless the connection is ending.
    pub(crate) fn push(&self, line: Payload) -> Pushed {
        let mut s = self.state();
        if s.end.is_some() {
            return Pushed::Wake(None);
        }
        let at = s.place();
        s.bytes += line.len();
        if s.bytes > self.limit {
            let task = self.drop_slow(&mut s);
            return Pushed::Overflow([s.waker.take(), task]);
        }
        s.queued.push_back(Queued {
            at,
            item: Item::Line(line),
        });
        Pushed::Wake(s.waker.take())
    }

    /// From the room's line `at` on (the end of the room it reads now), the connection reads
    /// `cursor`'s room instead (none: no room's lines).
    pub(crate) fn read(&self, at: u64, cursor: Option<Box<Cursor>>) -> Option<Waker> {
        let mut s = self.state();
        if s.end.is_some() {
            if let Some(left) = s.abandoned.take() {
                Feed::skip(&left, at);
            }
            s.abandoned = cursor;
            return None;
        }
        s.rooms_queued += 1;
        s.queued.push_back(Queued {
            at,
            item: Item::Read(cursor),
        });
        s.waker.take()
    }

    /// Asks for a ping.
    pub(crate) fn ping(&self) -> Option<Waker> {
        let mut s = self.state();
        s.ping = true;
        s.waker.take()
    }

    /// The chat closed the connection: the close frame goes after the lines queued so far
    /// (the hub has queued the end of its room's lines first). Returns the wakers to wake.
    /// (A slow reader's end comes from `push` overflowing or its room's lines being lost.)
    pub(crate) fn close(&self, reason: CloseReason) -> [Option<Waker>; 2] {
        let mut s = self.state();
        let end = s.end.get_or_insert(End::Close(reason)).clone();
        [s.waker.take(), self.mark(end)]
    }

    /// Hands up to `max_bytes` of lines (at least one) to `into`, in order, and returns any
    /// ping and the end. With nothing to take, registers `waker` to be woken when there is.
    pub(crate) fn take(
        &self,
        into: &mut impl FnMut(&Payload),
        max_bytes: usize,
        waker: &Waker,
    ) -> Batch {
        let mut guard = self.state();
        let s = &mut *guard;
        let mut taken = 0;
        loop {
            // The room's lines up to the next queued item's place.
            let upto = s.queued.front().map_or(u64::MAX, |q| q.at);
            if let Some(cursor) = s.reading.as_mut() {
                match Feed::read(cursor, upto, into, &mut taken, max_bytes) {
                    Read::Done => {}
                    Read::Full => break,
                    Read::Lagged => {
                        drop(self.drop_slow(s));
                        break;
                    }
                }
            }
            let Some(front) = s.queued.front() else {
                // Everything read. Wait for more, unless a line came meanwhile.
                if taken == 0 && !s.ping && s.end.is_none() {
                    s.waker = Some(waker.clone());
                    if let Some(cursor) = s.reading.as_mut() {
                        if !Feed::wait(cursor, waker) {
                            continue;
                        }
                    }
                }
                break;
            };
            if let Item::Line(line) = &front.item {
                if taken > 0 && taken + line.len() > max_bytes {
                    break;
                }
            }
            let Some(Queued { item, .. }) = s.queued.pop_front() else {
                break;
            };
            match item {
                Item::Line(line) => {
                    taken += line.len();
                    s.bytes -= line.len();
                    into(&line);
                }
                Item::Read(cursor) => {
                    s.rooms_queued -= 1;
                    s.reading = cursor;
                }
            }
        }
        if s.queued.is_empty() && s.queued.capacity() > 0 {
            // Most connections get a line of their own now and then (the greeting, a
            // reply): an empty queue keeps no buffer for an idle connection.
            s.queued = VecDeque::new();
        }
        let done = s.queued.is_empty() && s.reading.is_none();
        Batch {
            ping: std::mem::take(&mut s.ping),
            // The end is handed over only once every line before it is.
            end: match &s.end {
                Some(End::Slow) => Some(End::Slow),
                end if done => end.clone(),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
impl Outbox {
    /// [`take`](Self::take) into a queue, for tests.
    pub(crate) fn take_into(
        &self,
        into: &mut VecDeque<Payload>,
        max_bytes: usize,
        waker: &Waker,
    ) -> Batch {
        self.take(&mut |line| into.push_back(line.clone()), max_bytes, waker)
    }
}

impl State {
    /// Where a line queued now takes its place: the end so far of the room it reads by then
    /// (the last change of room queued, or the room it reads now; 0 for none).
    fn place(&self) -> u64 {
        let queued_room = (self.rooms_queued > 0)
            .then(|| {
                self.queued.iter().rev().find_map(|q| match &q.item {
                    Item::Read(next) => Some(next.as_deref()),
                    Item::Line(_) => None,
                })
            })
            .flatten();
        let room = queued_room.unwrap_or(self.reading.as_deref());
        room.map_or(0, |cursor| cursor.feed.end())
    }

    /// Whether lines of a room it reads, or is to read, are gone before it read them.
    fn lagged(&self) -> bool {
        if self.rooms_queued == 0 {
            return (self.reading.as_ref()).is_some_and(|c| Feed::lagged(c, u64::MAX));
        }
        // Each room up to where the next change of room was queued.
        let mut reading = self.reading.as_ref();
        for queued in &self.queued {
            if let Item::Read(next) = &queued.item {
                if reading.is_some_and(|c| Feed::lagged(c, queued.at)) {
                    return true;
                }
                reading = next.as_ref();
            }
        }
        reading.is_some_and(|c| Feed::lagged(c, u64::MAX))
    }

    /// Drops everything queued; the lines of its rooms no longer wait for it.
    fn let_go(&mut self) {
        let mut reading = self.reading.take();
        for queued in std::mem::take(&mut self.queued) {
            match queued.item {
                Item::Line(_) => {}
                Item::Read(next) => {
                    if let Some(cursor) = &reading {
                        Feed::skip(cursor, queued.at);
                    }
                    reading = next;
                }
            }
        }
        // Still attached to this one: the hub detaches it when it forgets the connection,
        // and says where (`Outbox::read`).
        if reading.is_some() {
            self.abandoned = reading;
        }
        self.bytes = 0;
        self.rooms_queued = 0;
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.let_go();
        if let Some(left) = self.abandoned.take() {
            Feed::skip(&left, left.feed.end());
        }
    }
}

#[cfg(all(test, not(chat_loom)))]
pub(crate) mod tests;

/// Every interleaving of the hub ending a connection and its driver polling, checked by loom:
/// the driver never misses the end, whether it sees it at once or is woken for it.
#[cfg(all(test, chat_loom))]
mod loom_model;
