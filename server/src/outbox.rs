//! One connection's outbound queue: what the hub has addressed to it and its writer has not
//! taken yet, bounded in bytes.

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
    lines: VecDeque<Payload>,
    bytes: usize,
    ping: bool,
    end: Option<End>,
    /// The driver's waker, present while it waits for something to send.
    waker: Option<Waker>,
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
        }
    }

    /// Whether the connection is ending; also registers the driver's task to be woken when
    /// it does. Call on every poll of the driver.
    pub(crate) fn ending(&self, task: &Waker) -> Ending {
        self.task.register(task);
        match self.ending.load(Ordering::Acquire) {
            RUNNING => Ending::No,
            CLOSING => Ending::Closing,
            _ => Ending::Dropped,
        }
    }

    /// Wakes the driver's task (for the read side's waker, which shares this registration).
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
            return Pushed::Overflow([s.waker.take(), self.mark(End::Slow)]);
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

    /// The chat closed the connection: the close frame goes after the lines queued so far.
    /// Returns the wakers to wake. (A slow reader's end comes from `push` overflowing.)
    pub(crate) fn close(&self, reason: CloseReason) -> [Option<Waker>; 2] {
        let mut s = self.state();
        let end = s.end.get_or_insert(End::Close(reason)).clone();
        [s.waker.take(), self.mark(end)]
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
            end: if s.lines.is_empty() {
                s.end.clone()
            } else {
                None
            },
        };
        if taken == 0 && !batch.ping && batch.end.is_none() {
            s.waker = Some(waker.clone());
        }
        batch
    }
}

#[cfg(all(test, not(chat_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    /// A waker that counts how often it was woken.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (count.clone(), Waker::from(count))
    }

    fn woken(count: &Count) -> usize {
        count.0.load(Ordering::SeqCst)
    }

    fn line(text: &str) -> Payload {
        Payload::from(text.to_string())
    }

    fn wake_all(wakers: impl IntoIterator<Item = Option<Waker>>) {
        wakers.into_iter().flatten().for_each(Waker::wake);
    }

    fn take(outbox: &Outbox, max_bytes: usize) -> (Vec<String>, Batch) {
        let mut into = VecDeque::new();
        let batch = outbox.take(&mut into, max_bytes, Waker::noop());
        (into.iter().map(|p| p.to_string()).collect(), batch)
    }

    #[test]
    fn lines_come_out_in_order_in_bursts_of_at_most_max_bytes_but_at_least_one() {
        let outbox = Outbox::new(1000);
        for text in ["aaaa", "bbbb", "cccccccccc", "dd"] {
            assert!(matches!(outbox.push(line(text)), Pushed::Wake(None)));
        }
        assert_eq!(take(&outbox, 8).0, ["aaaa", "bbbb"]);
        // A line larger than the burst still goes, alone.
        assert_eq!(take(&outbox, 8).0, ["cccccccccc"]);
        let (rest, batch) = take(&outbox, 8);
        assert_eq!(rest, ["dd"]);
        assert!(!batch.ping && batch.end.is_none());
        assert_eq!(outbox.state().bytes, 0);
    }

    #[test]
    fn an_idle_driver_is_woken_once_by_the_next_push_or_ping() {
        let outbox = Outbox::new(1000);
        let (count, waker) = counter();
        let mut into = VecDeque::new();
        let batch = outbox.take(&mut into, 100, &waker);
        assert!(into.is_empty() && !batch.ping && batch.end.is_none());
        let Pushed::Wake(w) = outbox.push(line("x")) else {
            panic!("no overflow")
        };
        wake_all([w]);
        assert_eq!(woken(&count), 1);
        // The waker was handed out once; a second push finds none until the next take.
        assert!(matches!(outbox.push(line("y")), Pushed::Wake(None)));
        let (lines, _) = take(&outbox, 100);
        assert_eq!(lines, ["x", "y"]);
        outbox.take(&mut into, 100, &waker);
        wake_all([outbox.ping()]);
        assert_eq!(woken(&count), 2);
        assert!(take(&outbox, 100).1.ping, "the ping is handed over");
        assert!(!take(&outbox, 100).1.ping, "once");
    }

    #[test]
    fn overflow_drops_the_queue_ends_the_connection_and_wakes_both_wakers() {
        let outbox = Outbox::new(10);
        let (idle, idle_waker) = counter();
        let (task, task_waker) = counter();
        assert_eq!(outbox.ending(&task_waker), Ending::No);
        assert!(matches!(outbox.push(line("123456")), Pushed::Wake(None)));
        assert_eq!(
            take(&outbox, 100).0,
            ["123456"],
            "taken bytes no longer count"
        );
        assert!(matches!(
            outbox.push(line("1234567890")),
            Pushed::Wake(None)
        ));
        assert_eq!(take(&outbox, 100).0, ["1234567890"]);
        // The driver waits for more; the next line is one byte too many.
        outbox.take(&mut VecDeque::new(), 100, &idle_waker);
        let Pushed::Overflow(wakers) = outbox.push(line("12345678901")) else {
            panic!("11 bytes are over 10")
        };
        wake_all(wakers);
        assert_eq!((woken(&idle), woken(&task)), (1, 1));
        assert_eq!(outbox.ending(&task_waker), Ending::Dropped);
        let (lines, batch) = take(&outbox, 100);
        assert!(lines.is_empty(), "queued lines go with it: {lines:?}");
        assert_eq!(batch.end, Some(End::Slow));
        // Nothing more is queued, and a later close does not revive it.
        assert!(matches!(outbox.push(line("z")), Pushed::Wake(None)));
        wake_all(outbox.close(CloseReason::Shutdown));
        assert_eq!(take(&outbox, 100).1.end, Some(End::Slow));
        assert_eq!(outbox.ending(&task_waker), Ending::Dropped);
    }

    #[test]
    fn a_close_comes_after_every_line_queued_before_it() {
        let outbox = Outbox::new(1000);
        let (task, task_waker) = counter();
        assert_eq!(outbox.ending(&task_waker), Ending::No);
        let _ = outbox.push(line("one"));
        let _ = outbox.push(line("two"));
        wake_all(outbox.close(CloseReason::Quit));
        assert_eq!(woken(&task), 1, "a driver blocked elsewhere hears of it");
        assert_eq!(outbox.ending(&task_waker), Ending::Closing);
        assert!(matches!(outbox.push(line("late")), Pushed::Wake(None)));
        let (first, batch) = take(&outbox, 3);
        assert_eq!(first, ["one"]);
        assert_eq!(batch.end, None, "not before the lines");
        let (rest, batch) = take(&outbox, 3);
        assert_eq!(rest, ["two"]);
        assert_eq!(batch.end, Some(End::Close(CloseReason::Quit)));
    }
}

/// Every interleaving of the hub ending a connection and its driver polling, checked by loom:
/// the driver never misses the end, whether it sees it at once or is woken for it.
#[cfg(all(test, chat_loom))]
mod loom_model {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn flag() -> (Arc<Flag>, Waker) {
        let flag = Arc::new(Flag::default());
        (flag.clone(), Waker::from(flag))
    }

    /// The hub does `end` while the driver polls once: checks `ending`, then takes.
    fn the_driver_learns_of(end: fn(&Outbox)) {
        loom::model(move || {
            let outbox = loom::sync::Arc::new(Outbox::new(8));
            let hub = {
                let outbox = outbox.clone();
                loom::thread::spawn(move || end(&outbox))
            };
            let (task, task_waker) = flag();
            let (idle, idle_waker) = flag();
            let ending = outbox.ending(&task_waker);
            let mut lines = VecDeque::new();
            let batch = outbox.take(&mut lines, usize::MAX, &idle_waker);
            hub.join().unwrap();
            let seen = ending != Ending::No || batch.end.is_some();
            let woken = task.0.load(Ordering::SeqCst) || idle.0.load(Ordering::SeqCst);
            assert!(seen || woken, "the end was lost: {ending:?} {batch:?}");
        });
    }

    fn wake_all(wakers: impl IntoIterator<Item = Option<Waker>>) {
        wakers.into_iter().flatten().for_each(Waker::wake);
    }

    #[test]
    fn loom_a_close_is_never_lost() {
        the_driver_learns_of(|outbox| {
            if let Pushed::Wake(w) = outbox.push(Payload::from("line".to_string())) {
                wake_all([w]);
            }
            wake_all(outbox.close(CloseReason::Quit));
        });
    }

    #[test]
    fn loom_an_overflow_is_never_lost() {
        the_driver_learns_of(|outbox| {
            if let Pushed::Overflow(w) = outbox.push(Payload::from("too long a line".to_string())) {
                wake_all(w);
            }
        });
    }
}
