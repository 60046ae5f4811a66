//! The text rules: blank frames, lines, control characters, sizes, invalid UTF-8.

mod common;
use chat_core::{Config, Violation};
use common::*;

#[test]
fn blank_frames_are_ignored() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    h.send(a, "");
    h.send(a, "   \t ");
    h.send(a, "\n\r\n");
    h.assert_quiet();
}

#[test]
fn every_non_blank_line_of_a_frame_is_its_own_chat_line() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    h.send(a, "one\r\ntwo\n\n   \nthree");
    assert_eq!(h.lines(a), ["[a]: one", "[a]: two", "[a]: three"]);
}

#[test]
fn more_than_twenty_lines_are_refused_whole() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    h.send(a, &vec!["x"; 21].join("\n"));
    assert_eq!(h.lines(a), ["! too many lines (max 20)"]);
    h.send(a, &vec!["x"; 20].join("\n"));
    assert_eq!(h.lines(a).len(), 20);
}

#[test]
fn control_characters_become_replacement_characters() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    h.send(a, "evil\r[admin]: hi \u{1b}[2J\u{7}\u{85}\ttab");
    assert_eq!(
        h.lines(a),
        ["[a]: evil\u{FFFD}[admin]: hi \u{FFFD}[2J\u{FFFD}\u{FFFD}\ttab"]
    );
}

#[test]
fn text_over_max_message_bytes_is_refused() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    h.send(a, &"x".repeat(4097));
    assert_eq!(h.lines(a), ["! message too long (max 4096 bytes)"]);
    h.send(a, &"x".repeat(4096));
    assert_eq!(h.lines(a), [format!("[a]: {}", "x".repeat(4096))]);
}

#[test]
fn the_limit_follows_the_config() {
    let mut h = Harness::with(Config {
        max_message_bytes: 10,
        ..Config::default()
    });
    let a = h.join_quiet("a");
    h.send(a, "12345678901");
    assert_eq!(h.lines(a), ["! message too long (max 10 bytes)"]);
}

#[test]
fn the_runtime_reports_oversized_and_invalid_frames_and_the_core_closes_them() {
    // The WebSocket layer checks frame size and UTF-8 (so they are checked once); the core
    // decides what follows: 1009 or 1007, the room hears the user leave, and it is counted.
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    let b = h.join_quiet("b");
    h.read(a);
    h.chat.handle_violation(a, Violation::TooBig);
    h.chat.handle_violation(b, Violation::InvalidUtf8);
    h.advance(std::time::Duration::ZERO);
    assert_eq!(h.read(a), [Got::Close(1009)]);
    assert_eq!(h.read(b), [Got::Line("* a left".into()), Got::Close(1007)]);
    assert_eq!(h.chat.connections(), 0);
    assert_eq!(h.chat.stats().dropped_too_big, 1);
    assert_eq!(h.chat.stats().dropped_invalid_utf8, 1);
}

#[test]
fn a_frame_over_the_frame_limit_that_reaches_the_core_is_refused_not_closed() {
    // Only the runtime closes for size; whatever it lets through is at worst too long.
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    h.send(a, &"x".repeat(64 * 1024 + 1));
    assert_eq!(h.lines(a), ["! message too long (max 4096 bytes)"]);
    assert_eq!(h.chat.connections(), 1);
}

#[test]
fn nothing_is_addressed_to_a_connection_after_it_leaves() {
    let mut h = Harness::new();
    let a = h.join_quiet("a");
    let b = h.join_quiet("b");
    h.read(a);
    h.leave(a);
    h.send(a, "ghost");
    h.send(b, "hello");
    assert!(h.read(a).is_empty());
    assert_eq!(h.lines(b), ["* a left", "[b]: hello"]);
}

/// Every notice and answer a text client can get, tried as a forgery: the first word after
/// `* ` as a name, the rest as `/me` text. Nobody ever receives a user's line byte-identical
/// to the notice.
#[test]
fn no_user_line_reads_like_a_server_line() {
    let mut h = Harness::with(chat_core::Config {
        rate: 0.0,
        resume_limit: 1,
        ..chat_core::Config::default()
    });
    // A session that makes every kind of `* …` line.
    let bob = h.join_named("bob");
    let al = h.join_named("al");
    h.send(al, "one\ntwo\nthree");
    h.send(al, "/nick alice");
    h.send(al, "/users");
    h.send(al, "/rooms");
    h.send(al, "/help");
    h.send(al, "/join side");
    h.send(al, "/join main");
    h.leave(al);
    let back = h.join_with(chat_core::Join {
        name: Some("back"),
        since: Some("0"),
        ..chat_core::Join::default()
    });
    let mut notices: Vec<String> = h.lines(bob);
    notices.extend(h.lines(back));
    notices.retain(|l| l.starts_with("* "));
    notices.push("* the chat is reconnecting".into());
    notices.push("* the chat is back".into());
    notices.push("* bob was kicked by admin".into());
    assert!(notices.len() >= 10, "{notices:?}");
    let watcher = h.join_named("watcher");
    for notice in &notices {
        let (name, text) = notice[2..].split_once(' ').expect("a notice has words");
        let forger = h.join_with(chat_core::Join {
            name: Some(name),
            ..chat_core::Join::default()
        });
        h.read(forger);
        h.read(watcher); // the real `* NAME joined`
        h.send(forger, &format!("/me {text}"));
        let got = h.lines(forger);
        assert!(!got.contains(notice), "forged {notice:?}: {got:?}");
        let seen = h.lines(watcher);
        assert!(
            !seen.contains(notice),
            "forged {notice:?} for others: {seen:?}"
        );
        h.leave(forger);
        h.read(watcher);
    }
}
