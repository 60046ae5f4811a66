//! Joining: greeting, names, rooms, history replay, join and leave notices.

mod common;
use chat_core::{Config, Join};
use common::*;

#[test]
fn the_tutorial_exchange_works_unchanged() {
    let mut h = Harness::new();
    let first = h.join();
    assert_eq!(
        h.lines(first),
        [
            "You are connected! There are 1 users here.",
            "* you are user0 in #main"
        ]
    );
    h.send(first, "Hello, I was first!");
    assert_eq!(h.lines(first), ["[user0]: Hello, I was first!"]);
    h.assert_quiet();
}

#[test]
fn greeting_counts_the_room_and_others_hear_of_the_join() {
    let mut h = Harness::new();
    let a = h.join();
    h.read(a);
    let b = h.join();
    assert_eq!(
        h.lines(b),
        [
            "You are connected! There are 2 users here.",
            "* you are user1 in #main"
        ]
    );
    assert_eq!(h.lines(a), ["* user1 joined"]);
    h.leave(b);
    assert_eq!(h.lines(a), ["* user1 left"]);
    h.assert_quiet();
}

#[test]
fn automatic_names_count_up_and_skip_names_in_use() {
    let mut h = Harness::new();
    let taken = h.join_quiet("user1");
    assert_eq!(h.chat.name_of(taken), Some("user1"));
    let a = h.join();
    let b = h.join();
    assert_eq!(h.chat.name_of(a), Some("user0"));
    assert_eq!(h.chat.name_of(b), Some("user2"), "user1 is in use");
    // The counter is per server, it does not go back when a name frees up.
    h.leave(a);
    let c = h.join();
    assert_eq!(h.chat.name_of(c), Some("user3"));
}

#[test]
fn a_requested_name_is_used_or_refused_with_a_reason() {
    let mut h = Harness::new();
    let alice = h.join_named("alice");
    assert_eq!(
        h.lines(alice),
        [
            "You are connected! There are 1 users here.",
            "* you are alice in #main"
        ]
    );
    let b = h.join_named("ALICE");
    assert_eq!(
        h.lines(b),
        [
            "You are connected! There are 2 users here.",
            "! name taken: ALICE",
            "* you are user0 in #main"
        ]
    );
    let c = h.join_named("no spaces");
    assert_eq!(
        h.lines(c),
        [
            "You are connected! There are 3 users here.",
            "! invalid name: no spaces",
            "* you are user1 in #main"
        ]
    );
}

#[test]
fn joining_a_room_by_query_and_refusing_a_bad_one() {
    let mut h = Harness::new();
    let a = h.join_with(Join {
        room: Some("#Rust"),
        ..Join::default()
    });
    assert_eq!(
        h.lines(a),
        [
            "You are connected! There are 1 users here.",
            "* you are user0 in #rust"
        ]
    );
    let b = h.join_with(Join {
        room: Some("no/such"),
        ..Join::default()
    });
    assert_eq!(
        h.lines(b),
        [
            "You are connected! There are 1 users here.",
            "! invalid room: no/such",
            "* you are user1 in #main"
        ]
    );
    h.assert_quiet();
}

#[test]
fn history_is_replayed_exactly_as_broadcast_but_not_whispers_or_notices() {
    let mut h = Harness::with(Config {
        history: 3,
        ..Config::default()
    });
    let a = h.join_quiet("alice");
    let b = h.join_quiet("bob");
    h.send(a, "one");
    h.send(a, "/me two");
    h.send(a, "/whisper bob secret");
    h.send(a, "three");
    h.send(a, "four");
    h.leave(b);
    h.read(a);
    let c = h.join_named("carol");
    assert_eq!(
        h.lines(c),
        [
            "You are connected! There are 2 users here.",
            "* you are carol in #main",
            "* alice two",
            "[alice]: three",
            "[alice]: four"
        ]
    );
    assert_eq!(h.chat.history_len("main"), 3);
}

#[test]
fn the_join_notice_goes_to_the_others_only_and_the_room_order_is_shared() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    let b = h.join_quiet("b");
    h.read(a);
    h.send(a, "x");
    h.send(b, "y");
    let expected = ["[a]: x", "[b]: y"];
    assert_eq!(h.lines(a), expected);
    assert_eq!(h.lines(b), expected);
}

#[test]
fn joins_beyond_max_connections_are_refused() {
    let mut h = Harness::with(Config {
        max_connections: 2,
        ..Config::default()
    });
    h.join();
    assert!(!h.chat.is_full());
    h.join();
    assert!(h.chat.is_full());
    assert_eq!(
        h.try_join(Join::default()),
        Err(chat_core::JoinError::Full(2))
    );
}

#[test]
fn refused_names_and_rooms_are_echoed_without_control_characters() {
    let mut h = Harness::new();
    let a = h.join_with(Join {
        name: Some("x\r[admin]: hi"),
        room: Some("\u{1b}[2J"),
        ..Join::default()
    });
    let lines = h.lines(a);
    assert_eq!(lines[1], "! invalid room: \u{FFFD}[2J");
    assert_eq!(lines[2], "! invalid name: x\u{FFFD}[admin]: hi");
}
