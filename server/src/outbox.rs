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
pub(crate) mod tests {
    use super::*;
    use chat_core::{ConnId, Rendering};
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    /// A waker that counts how often it was woken.
    #[derive(Default)]
    pub(crate) struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub(crate) fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (count.clone(), Waker::from(count))
    }

    pub(crate) fn woken(count: &Count) -> usize {
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
        let batch = outbox.take_into(&mut into, max_bytes, Waker::noop());
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
        let batch = outbox.take_into(&mut into, 100, &waker);
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
        outbox.take_into(&mut into, 100, &waker);
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
        outbox.take_into(&mut VecDeque::new(), 100, &idle_waker);
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

    fn text_reader(feed: &Arc<Feed>, me: u64) -> Box<Cursor> {
        feed.attach(ConnId::numbered(me), Rendering::Text)
    }

    fn append(feed: &Feed, text: &str) -> Vec<Waker> {
        feed.append(line(text), None, None).wake
    }

    #[test]
    fn a_line_for_one_reader_takes_its_place_among_its_rooms_lines() {
        let feed = Feed::new("r".into(), 1000);
        let outbox = Outbox::new(1000);
        drop(outbox.read(0, Some(text_reader(&feed, 1))));
        append(&feed, "room 1");
        let _ = outbox.push(line("own 1"));
        append(&feed, "room 2");
        append(&feed, "room 3");
        let _ = outbox.push(line("own 2"));
        assert_eq!(
            take(&outbox, 1000).0,
            ["room 1", "own 1", "room 2", "room 3", "own 2"]
        );
        assert_eq!(feed.kept(), 0, "read by its one reader: let go");
    }

    #[test]
    fn bursts_are_cut_at_max_bytes_across_the_room_and_own_lines() {
        let feed = Feed::new("r".into(), 1000);
        let outbox = Outbox::new(1000);
        drop(outbox.read(0, Some(text_reader(&feed, 1))));
        for text in ["aaaa", "bbbb"] {
            append(&feed, text);
        }
        let _ = outbox.push(line("cccc"));
        append(&feed, "dddd");
        assert_eq!(take(&outbox, 6).0, ["aaaa"]);
        assert_eq!(take(&outbox, 8).0, ["bbbb", "cccc"]);
        assert_eq!(take(&outbox, 8).0, ["dddd"]);
    }

    #[test]
    fn a_change_of_room_reads_the_old_room_up_to_the_change_and_then_the_new_one() {
        let (old, new) = (Feed::new("r".into(), 1000), Feed::new("r".into(), 1000));
        let outbox = Outbox::new(1000);
        drop(outbox.read(0, Some(text_reader(&old, 1))));
        let other = text_reader(&old, 2);
        append(&old, "old 1");
        let at = old.detach();
        drop(outbox.read(at, Some(text_reader(&new, 1))));
        append(&old, "old 2, after it left");
        append(&new, "new 1");
        // A line of its own queued now (its driver's, or the hub's) goes after the new
        // room's lines so far, not the old room's.
        let _ = outbox.push(line("own"));
        append(&new, "new 2");
        assert_eq!(take(&outbox, 1000).0, ["old 1", "new 1", "own", "new 2"]);
        // What it no longer reads does not wait for it: the other reader's lines only.
        assert_eq!(old.kept(), 2);
        drop(other);
    }

    #[test]
    fn a_reader_skips_its_own_notice_and_reads_json_as_json() {
        let feed = Feed::new("r".into(), 1000);
        let (me, them) = (Outbox::new(1000), Outbox::new(1000));
        drop(me.read(0, Some(text_reader(&feed, 1))));
        let json = feed.attach(ConnId::numbered(2), Rendering::Json);
        drop(them.read(0, Some(json)));
        let notice = line("* one joined");
        feed.append(
            notice,
            Some(line("{\"type\":\"joined\"}")),
            Some(ConnId::numbered(1)),
        );
        feed.append(line("text only"), None, None);
        assert!(take(&me, 1000).0 == ["text only"]);
        assert_eq!(take(&them, 1000).0, ["{\"type\":\"joined\"}"]);
        assert_eq!(feed.kept(), 0);
    }

    #[test]
    fn an_idle_reader_is_woken_by_its_rooms_next_line_and_registers_once_per_line() {
        let feed = Feed::new("r".into(), 1000);
        let outbox = Outbox::new(1000);
        drop(outbox.read(0, Some(text_reader(&feed, 1))));
        let (count, waker) = counter();
        let mut into = VecDeque::new();
        for _ in 0..3 {
            outbox.take_into(&mut into, 100, &waker);
        }
        wake_all(append(&feed, "one").into_iter().map(Some));
        assert_eq!(woken(&count), 1, "registered once, woken once");
        assert!(
            append(&feed, "two").is_empty(),
            "not registered again until it reads"
        );
        outbox.take_into(&mut into, 100, &waker);
        outbox.take_into(&mut into, 100, &waker);
        assert_eq!(into, [line("one"), line("two")]);
        assert_eq!(append(&feed, "three").len(), 1);
    }

    #[test]
    fn a_reader_whose_unread_lines_are_let_go_is_too_slow() {
        // The feed keeps 10 bytes for its slowest reader.
        let feed = Feed::new("r".into(), 10);
        let (slow, quick) = (Outbox::new(1000), Outbox::new(1000));
        drop(slow.read(0, Some(text_reader(&feed, 1))));
        drop(quick.read(0, Some(text_reader(&feed, 2))));
        assert!(!feed.append(line("12345"), None, None).look_for_slow);
        assert_eq!(take(&quick, 100).0, ["12345"]);
        assert!(!feed.append(line("67890"), None, None).look_for_slow);
        assert_eq!(slow.ending(Waker::noop()), Ending::No);
        // 15 bytes: the first goes, unread by the slow reader.
        assert!(feed.append(line("abcde"), None, None).look_for_slow);
        assert_eq!(take(&quick, 100).0, ["67890", "abcde"]);
        assert_eq!(slow.ending(Waker::noop()), Ending::Dropped);
        let (lines, batch) = take(&slow, 100);
        assert!(lines.is_empty());
        assert_eq!(batch.end, Some(End::Slow));
        // What it had not read no longer waits for it once the hub detaches it.
        let at = feed.detach();
        drop(slow.read(at, None));
        assert_eq!(feed.kept(), 0);
    }

    #[test]
    fn a_closed_reader_is_not_slow_for_its_rooms_lines_after_its_close() {
        let feed = Feed::new("r".into(), 1000);
        let (closed, other) = (Outbox::new(1000), Outbox::new(1000));
        drop(closed.read(0, Some(text_reader(&feed, 1))));
        drop(other.read(0, Some(text_reader(&feed, 2))));
        append(&feed, "before");
        let at = feed.detach();
        drop(closed.read(at, None));
        wake_all(closed.close(CloseReason::Quit));
        append(&feed, "after");
        assert_eq!(take(&other, 100).0, ["before", "after"]);
        assert_eq!(closed.ending(Waker::noop()), Ending::Closing);
        let (lines, batch) = take(&closed, 100);
        assert_eq!(lines, ["before"]);
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
            let batch = outbox.take_into(&mut lines, usize::MAX, &idle_waker);
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

    /// A room's one reader, and the hub appending `lines` to the room on another thread
    /// (waking whom each line says).
    fn a_reader_and_the_hub_saying(
        lines: &'static [&'static str],
    ) -> (Outbox, loom::thread::JoinHandle<()>) {
        let feed = Feed::new("r".into(), 100);
        let outbox = Outbox::new(100);
        let cursor = feed.attach(chat_core::ConnId::numbered(1), chat_core::Rendering::Text);
        drop(outbox.read(0, Some(cursor)));
        let hub = loom::thread::spawn(move || {
            for text in lines {
                let appended = feed.append(Payload::from(text.to_string()), None, None);
                appended.wake.into_iter().for_each(Waker::wake);
            }
        });
        (outbox, hub)
    }

    /// The hub appends a room's line while the room's one reader, having read everything,
    /// asks to be woken: it either takes the line or is woken for it.
    #[test]
    fn loom_a_rooms_line_is_never_missed() {
        loom::model(|| {
            let (outbox, hub) = a_reader_and_the_hub_saying(&["line"]);
            let (idle, idle_waker) = flag();
            let mut lines = VecDeque::new();
            outbox.take_into(&mut lines, usize::MAX, &idle_waker);
            hub.join().unwrap();
            let woken = idle.0.load(Ordering::SeqCst);
            assert!(!lines.is_empty() || woken, "the line was missed");
        });
    }

    /// Two lines while the reader polls: if it has not read both, it has been woken since
    /// its last poll. (Found a real lost wake-up: a line took the
    /// waiting readers after publishing its end, so a reader registering in between was
    /// woken for the line it had just read and then missed the next one.)
    #[test]
    fn loom_a_reader_is_never_left_waiting_with_a_line_unread() {
        loom::model(|| {
            let (outbox, hub) = a_reader_and_the_hub_saying(&["one", "two"]);
            // One task, polled as a driver is: again at once after it took something or
            // was woken meanwhile, else only when woken; its flag is lowered before each poll.
            let (woken, waker) = flag();
            let mut lines = VecDeque::new();
            for _ in 0..4 {
                woken.0.store(false, Ordering::SeqCst);
                let before = lines.len();
                outbox.take_into(&mut lines, usize::MAX, &waker);
                if lines.len() == before && !woken.0.load(Ordering::SeqCst) {
                    break; // waiting: only a wake brings it back
                }
            }
            hub.join().unwrap();
            let woken = woken.0.load(Ordering::SeqCst);
            assert!(
                lines.len() == 2 || woken,
                "left waiting with {lines:?} read"
            );
        });
    }
}
