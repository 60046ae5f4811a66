use super::*;
use crate::outbox::tests::{counter, woken};
use crate::outbox::{Batch, End, Ending};
use chat_core::Config;
use std::collections::VecDeque;
use std::time::Duration;

fn at(start: Instant, secs: u64) -> Now {
    Now::new(start + Duration::from_secs(secs), 1_700_000_000_000)
}

fn named(name: &str) -> Join<'_> {
    Join {
        name: Some(name),
        ..Join::default()
    }
}

/// A frame from `who`, as its driver passes it on: through its client.
fn say(hub: &Hub, who: &mut Joined, frame: &str, now: Now) {
    match who.client.handle_text(frame, now.at) {
        chat_core::Said::Lines(lines) => hub.text(who.id, lines, now),
        other => panic!("refused by its client: {other:?}"),
    }
}

/// Everything queued in an outbox, and what came with it.
fn take_all(outbox: &Outbox) -> (Vec<String>, Batch) {
    let mut lines = VecDeque::new();
    let batch = outbox.take_into(&mut lines, usize::MAX, Waker::noop());
    (lines.iter().map(|p| p.to_string()).collect(), batch)
}

#[test]
fn every_outbox_gets_its_lines_in_the_order_the_core_emitted_them() {
    let start = Instant::now();
    let (hub, _timer) = Hub::new(Chat::new(Config::default()), 1 << 20, start);
    let mut a = hub.join(named("a"), at(start, 0)).unwrap();
    let b = hub.join(named("b"), at(start, 0)).unwrap();
    say(&hub, &mut a, "one\ntwo", at(start, 1));
    say(&hub, &mut a, "/me waves", at(start, 1));
    let (a_lines, _) = take_all(&a.outbox);
    let (b_lines, _) = take_all(&b.outbox);
    assert_eq!(
        a_lines,
        [
            "You are connected! There are 1 users here.",
            "* you are a in #main",
            "* b joined",
            "[a]: one",
            "[a]: two",
            "* a waves"
        ]
    );
    assert_eq!(b_lines[2..], a_lines[3..]);
    assert_eq!(hub.snapshot().connections, 2);
}

#[test]
fn a_reader_that_falls_its_limit_behind_its_room_is_dropped_and_the_room_hears_it_leave() {
    let config = Config {
        rate: 0.0,
        ..Config::default()
    };
    let start = Instant::now();
    let (hub, _timer) = Hub::new(Chat::new(config), 200, start);
    let mut a = hub.join(named("a"), at(start, 0)).unwrap();
    let slow = hub.join(named("slow"), at(start, 0)).unwrap();
    take_all(&a.outbox);
    let (task, task_waker) = counter();
    assert_eq!(slow.outbox.ending(&task_waker), Ending::No);
    // The room's feed keeps 200 bytes for the reader furthest behind: four lines of 45;
    // the fifth lets the first go while the slow reader (which reads nothing) still
    // needs it. The sender reads as it goes.
    let line = "x".repeat(40);
    let said = format!("[a]: {line}");
    let mut a_lines = Vec::new();
    for n in 0..5 {
        say(&hub, &mut a, &line, at(start, 1));
        a_lines.extend(take_all(&a.outbox).0);
        assert_eq!(woken(&task), usize::from(n == 4), "woken to look, once");
    }
    assert_eq!(slow.outbox.ending(&task_waker), Ending::Dropped);
    let (lines, batch) = take_all(&slow.outbox);
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(batch.end, Some(End::Slow));
    // Its driver tells the hub, and the room hears it leave.
    hub.leave(slow.id, LeaveReason::Slow);
    say(&hub, &mut a, "after", at(start, 1));
    a_lines.extend(take_all(&a.outbox).0);
    assert_eq!(
        a_lines,
        [
            &*said,
            &said,
            &said,
            &said,
            &said,
            "* slow left",
            "[a]: after"
        ]
    );
    let snapshot = hub.snapshot();
    assert_eq!((snapshot.connections, snapshot.stats.dropped_slow), (1, 1));
    assert!(take_all(&slow.outbox).0.is_empty());
    // Everyone left has read everything: the feed keeps nothing.
    let inner = hub.lock();
    let feed = inner.feeds.get("main").expect("a read's room has its feed");
    assert_eq!((feed.readers(), feed.kept()), (1, 0));
}

#[test]
fn a_reader_whose_own_lines_overflow_its_limit_is_dropped_at_once() {
    let start = Instant::now();
    let (hub, _timer) = Hub::new(Chat::new(Config::default()), 100, start);
    let mut a = hub.join(named("a"), at(start, 0)).unwrap();
    let slow = hub.join(named("slow"), at(start, 0)).unwrap();
    take_all(&a.outbox);
    // Its greeting and welcome are queued (65 bytes); a whisper of 50 is too many.
    say(
        &hub,
        &mut a,
        &format!("/whisper slow {}", "x".repeat(30)),
        at(start, 1),
    );
    let (lines, _) = take_all(&a.outbox);
    assert_eq!(lines.last().map(String::as_str), Some("* slow left"));
    assert_eq!(slow.outbox.ending(Waker::noop()), Ending::Dropped);
    assert_eq!(take_all(&slow.outbox).1.end, Some(End::Slow));
    let snapshot = hub.snapshot();
    assert_eq!((snapshot.connections, snapshot.stats.dropped_slow), (1, 1));
}

#[test]
fn the_timer_hears_of_earlier_deadlines_only_and_timeouts_ping() {
    let start = Instant::now();
    let (hub, timer) = Hub::new(Chat::new(Config::default()), 1 << 20, start);
    let a = hub.join(named("a"), at(start, 0)).unwrap();
    assert!(
        timer.try_recv().is_ok(),
        "a first deadline: the timer must look"
    );
    let b = hub.join(named("b"), at(start, 1)).unwrap();
    assert!(
        timer.try_recv().is_err(),
        "a later deadline changes nothing"
    );
    take_all(&a.outbox);
    take_all(&b.outbox);

    // Not due yet: nothing happens, and the next deadline is a's ping.
    let ping_a = start + Duration::from_secs(15);
    assert_eq!(hub.timeout(ping_a - Duration::from_millis(1)), Some(ping_a));
    assert!(!take_all(&a.outbox).1.ping);
    // Due: a is pinged; next come b's ping and a's ping timeout.
    assert_eq!(hub.timeout(ping_a), Some(start + Duration::from_secs(16)));
    assert!(take_all(&a.outbox).1.ping);
    assert!(!take_all(&b.outbox).1.ping);

    hub.shutdown();
    assert!(timer.is_closed(), "shutdown ends the timer task");
    assert_eq!(
        take_all(&a.outbox).1.end,
        Some(End::Close(chat_core::CloseReason::Shutdown))
    );
}
