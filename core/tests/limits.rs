//! Time-based rules, driven by the injected clock: rate limit and heartbeat. Shutdown.

mod common;
use chat_core::{Config, Join, JoinError};
use common::*;
use std::time::Duration;

#[test]
fn the_burst_passes_then_lines_are_dropped_with_one_notice_a_second() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    let b = h.join_quiet("b");
    h.read(a);
    for i in 0..20 {
        h.send(a, &format!("m{i}"));
    }
    assert_eq!(h.lines(b).len(), 20, "the burst of 20 goes through");
    h.read(a);
    h.send(a, "over");
    h.send(a, "over again");
    assert_eq!(
        h.lines(a),
        ["! slow down (max 5 lines/s)"],
        "one notice only"
    );
    assert!(h.read(b).is_empty(), "dropped lines reach nobody");
    // 1 s later: 5 tokens back, and the notice may come again.
    h.advance_secs(1.0);
    for i in 0..6 {
        h.send(a, &format!("n{i}"));
    }
    assert_eq!(h.lines(b).len(), 5);
    assert_eq!(h.lines(a).last().unwrap(), "! slow down (max 5 lines/s)");
}

#[test]
fn frames_refused_for_their_size_lines_or_rate_never_reach_the_chat() {
    let mut h = Harness::with(Config {
        burst: 1,
        max_message_bytes: 10,
        max_lines: 2,
        ..Config::default()
    });
    let a = h.join_quiet("a");
    let b = h.join_quiet("b");
    h.read(a);
    h.send(a, "one");
    assert_eq!(h.chat.stats().frames_in, 1);
    for frame in ["x".repeat(11).as_str(), "x\ny\nz", "two", "  "] {
        h.send(a, frame);
    }
    assert_eq!(
        h.lines(a),
        [
            "[a]: one",
            "! message too long (max 10 bytes)",
            "! too many lines (max 2)",
            "! slow down (max 5 lines/s)"
        ]
    );
    assert_eq!(h.lines(b), ["[a]: one"]);
    // Answered by a's own client: the shared chat saw none of them.
    assert_eq!(h.chat.stats().frames_in, 1);
}

#[test]
fn the_chat_hears_of_other_frames_when_a_deadline_comes_and_an_older_one_answers_no_ping() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    h.advance_secs(10.0);
    h.pong(a);
    // The deadline at 15 s finds the pong at 10 s: the ping waits until 25 s.
    h.advance_secs(14.9);
    h.assert_quiet();
    h.advance_secs(0.1);
    assert_eq!(h.read(a), [Got::Ping]);
    // The last frame heard is still the one before the ping: it answers nothing.
    h.advance_secs(14.9);
    h.assert_quiet();
    h.advance_secs(0.1);
    assert_eq!(h.read(a), [Got::Close(1001)]);
}

#[test]
fn commands_cost_a_token_and_a_multi_line_frame_pays_for_every_line() {
    let mut h = Harness::with(Config {
        burst: 3,
        ..Config::default()
    });
    let a = h.join_quiet("a");
    h.send(a, "/users");
    h.send(a, "x\ny\nz");
    assert_eq!(
        h.lines(a),
        ["* users in #main (1): a", "! slow down (max 5 lines/s)"]
    );
    h.advance_secs(0.4);
    h.send(a, "x\ny");
    assert_eq!(h.lines(a), ["[a]: x", "[a]: y"]);
}

#[test]
fn a_rate_of_zero_means_no_limit() {
    let mut h = Harness::with(Config {
        rate: 0.0,
        ..Config::default()
    });
    let a = h.join_quiet("a");
    for _ in 0..1000 {
        h.send(a, "spam");
    }
    assert_eq!(h.lines(a).len(), 1000);
}

#[test]
fn an_idle_connection_is_pinged_then_closed_if_silent() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    let b = h.join_quiet("b");
    h.read(a);
    h.advance_secs(14.9);
    h.assert_quiet();
    h.advance_secs(0.1);
    assert_eq!(h.read(a), [Got::Ping]);
    assert_eq!(h.read(b), [Got::Ping]);
    // b answers (a pong is activity); a does not.
    h.advance_secs(5.0);
    h.pong(b);
    h.advance_secs(10.0);
    assert_eq!(h.read(a), [Got::Close(1001)]);
    assert_eq!(h.lines(b), ["* a left"]);
    // b is pinged 15 s after its pong.
    h.advance_secs(4.9);
    h.assert_quiet();
    h.advance_secs(0.1);
    assert_eq!(h.read(b), [Got::Ping]);
    assert_eq!(h.chat.stats().dropped_ping_timeout, 1);
}

#[test]
fn any_frame_counts_as_life() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    for _ in 0..10 {
        h.advance_secs(10.0);
        h.send(a, "  "); // even an ignored blank frame
    }
    h.assert_quiet();
    assert_eq!(h.chat.connections(), 1);
}

#[test]
fn heartbeat_intervals_follow_the_config_and_zero_turns_it_off() {
    let mut h = Harness::with(Config {
        ping_interval: Duration::from_millis(500),
        ping_timeout: Duration::from_millis(250),
        ..Config::default()
    });
    let a = h.join_quiet("a");
    h.advance_secs(0.5);
    assert_eq!(h.read(a), [Got::Ping]);
    h.advance_secs(0.25);
    assert_eq!(h.read(a), [Got::Close(1001)]);

    let mut h = Harness::with(Config {
        ping_interval: Duration::ZERO,
        ..Config::default()
    });
    let a = h.join_quiet("a");
    assert_eq!(h.chat.poll_timeout(), None);
    h.advance_secs(3600.0);
    assert!(h.read(a).is_empty());
}

#[test]
fn deadlines_do_not_pile_up_with_activity() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    for _ in 0..1000 {
        h.advance_secs(0.01);
        h.pong(a);
    }
    let next = h.chat.poll_timeout().unwrap();
    assert!(next <= h.now + Duration::from_secs(15));
    h.advance(next - h.now);
    h.assert_quiet();
    assert!(
        h.chat.poll_timeout().unwrap() > next,
        "re-armed later, not fired"
    );
}

#[test]
fn shutdown_closes_everyone_with_1001_and_refuses_joins() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    let b = h.join_with(Join {
        room: Some("r"),
        ..Join::default()
    });
    h.read(a);
    h.read(b);
    h.chat.handle_shutdown();
    h.advance(Duration::ZERO);
    assert_eq!(h.read(a), [Got::Close(1001)]);
    assert_eq!(h.read(b), [Got::Close(1001)]);
    h.assert_quiet();
    assert_eq!(h.try_join(Join::default()), Err(JoinError::ShuttingDown));
    assert_eq!(h.chat.connections(), 0);
}

#[test]
fn after_shutdown_no_room_has_members_and_main_keeps_its_history() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    h.join_quiet("b");
    h.join_with(Join {
        room: Some("r"),
        ..Join::default()
    });
    h.send(a, "kept");
    assert_eq!(h.chat.rooms(), 2);
    h.chat.handle_shutdown();
    h.advance(Duration::ZERO);
    assert_eq!(h.chat.connections(), 0);
    assert_eq!(h.chat.rooms(), 0, "main has no members left");
    assert_eq!(h.chat.history_len("main"), 1);
    assert_eq!(h.chat.history_len("r"), 0);
}
