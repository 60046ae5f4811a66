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
