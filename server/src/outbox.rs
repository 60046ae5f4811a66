//! One connection's outbound queue: what the hub has addressed to it and its writer has not
//! taken yet, bounded in bytes.

use chat_core::{CloseReason, Payload};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::Waker;

/// Lines, pings and a close for one connection, filled by the hub and emptied by the
/// connection's driver.
#[derive(Debug)]
pub(crate) struct Outbox {
    limit: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    lines: VecDeque<Payload>,
    bytes: usize,
    ping: bool,
    end: Option<End>,
    /// The driver's waker, present while it waits for something to send.
    waker: Option<Waker>,
}

/// How the connection must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// Over the limit: the connection is now ending as slow.
    Overflow(Option<Waker>),
}

impl Outbox {
    pub(crate) fn new(limit: usize) -> Self {
        Outbox {
            limit,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep going with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a line, unless the connection is ending.
    pub(crate) fn push(&self, line: Payload) -> Pushed {
        let mut s = self.state();
        if s.end.is_some() {
            return Pushed::Wake(None);
        }
        s.bytes += line.len();
        if s.bytes > self.limit {
            s.lines.clear();
            s.bytes = 0;
            s.end = Some(End::Slow);
            return Pushed::Overflow(s.waker.take());
        }
        s.lines.push_back(line);
        Pushed::Wake(s.waker.take())
    }

    /// Asks for a ping.
    pub(crate) fn ping(&self) -> Option<Waker> {
        let mut s = self.state();
        s.ping = true;
        s.waker.take()
    }

    /// Ends the connection, after the lines queued so far.
    pub(crate) fn end(&self, end: End) -> Option<Waker> {
        let mut s = self.state();
        if s.end.is_none() {
            s.end = Some(end);
        }
        if end == End::Slow {
            s.lines.clear();
            s.bytes = 0;
        }
        s.waker.take()
    }

    /// Moves up to `max_bytes` of lines (at least one) into `into`, with any ping and the
    /// end. With nothing to take, registers `waker` to be woken when there is.
    pub(crate) fn take(
        &self,
        into: &mut VecDeque<Payload>,
        max_bytes: usize,
        waker: &Waker,
    ) -> Batch {
        let mut s = self.state();
        let mut taken = 0;
        while let Some(line) = s.lines.front() {
            if taken > 0 && taken + line.len() > max_bytes {
                break;
            }
            taken += line.len();
            if let Some(line) = s.lines.pop_front() {
                into.push_back(line);
            }
        }
        s.bytes -= taken;
        let batch = Batch {
            ping: std::mem::take(&mut s.ping),
            // The end is handed over only once every line before it is.
            end: if s.lines.is_empty() { s.end } else { None },
        };
        if taken == 0 && !batch.ping && batch.end.is_none() {
            s.waker = Some(waker.clone());
        }
        batch
    }
}
