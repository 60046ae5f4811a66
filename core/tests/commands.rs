//! Every command and its errors.

mod common;
use common::*;

fn two() -> (Harness, chat_core::ConnId, chat_core::ConnId) {
    let mut h = Harness::new();
    let a = h.join_quiet("alice");
    let b = h.join_quiet("bob");
    h.read(a);
    (h, a, b)
}

#[test]
fn nick_renames_and_tells_the_room() {
    let (mut h, a, b) = two();
    h.send(a, "/nick Al");
    assert_eq!(h.lines(a), ["* alice is now known as Al"]);
    assert_eq!(h.lines(b), ["* alice is now known as Al"]);
    h.send(a, "/NAME al");
    assert_eq!(
        h.lines(b),
        ["* Al is now known as al"],
        "a change of case is a rename"
    );
    h.read(a);
    h.send(b, "hi");
    h.send(a, "hi");
    assert_eq!(h.lines(b), ["[bob]: hi", "[al]: hi"]);
}

#[test]
fn nick_errors() {
    let (mut h, a, b) = two();
    h.send(a, "/nick BOB");
    assert_eq!(h.lines(a), ["! name taken: BOB"]);
    h.send(a, "/nick alice");
    assert_eq!(h.lines(a), ["! name taken: alice"], "already yours");
    h.send(a, "/nick bad!name");
    assert_eq!(h.lines(a), ["! invalid name: bad!name"]);
    h.send(a, &format!("/nick {}", "x".repeat(25)));
    assert_eq!(h.lines(a), [format!("! invalid name: {}", "x".repeat(25))]);
    h.send(a, "/nick");
    assert_eq!(h.lines(a), ["! usage: /nick NAME"]);
    h.send(a, "/nick two words");
    assert_eq!(h.lines(a), ["! invalid name: two words"]);
    assert!(h.read(b).is_empty());
}

#[test]
fn a_freed_name_can_be_taken() {
    let (mut h, a, b) = two();
    h.send(a, "/nick carol");
    h.send(b, "/nick alice");
    assert_eq!(h.chat.name_of(b), Some("alice"));
}

#[test]
fn whisper_reaches_only_sender_and_addressee_in_any_room() {
    let (mut h, a, b) = two();
    let c = h.join_quiet("carol");
    h.send(c, "/join side");
    h.read(a);
    h.read(b);
    h.read(c);
    h.send(a, "/whisper CAROL psst, hi");
    assert_eq!(h.lines(a), ["[alice -> carol]: psst, hi"]);
    assert_eq!(h.lines(c), ["[alice -> carol]: psst, hi"]);
    assert!(h.read(b).is_empty());
    for alias in ["/w", "/msg", "/WHISPER"] {
        h.send(b, &format!("{alias} alice yo"));
        assert_eq!(h.lines(a), ["[bob -> alice]: yo"]);
        assert_eq!(h.lines(b), ["[bob -> alice]: yo"]);
    }
}

#[test]
fn whisper_to_oneself_arrives_once_and_errors_are_private() {
    let (mut h, a, b) = two();
    h.send(a, "/w alice note to self");
    assert_eq!(h.lines(a), ["[alice -> alice]: note to self"]);
    h.send(a, "/w nobody hi");
    assert_eq!(h.lines(a), ["! no such user: nobody"]);
    h.send(a, "/w bob");
    assert_eq!(h.lines(a), ["! usage: /whisper NAME TEXT"]);
    h.send(a, "/w   ");
    assert_eq!(h.lines(a), ["! usage: /whisper NAME TEXT"]);
    assert!(h.read(b).is_empty());
}

#[test]
fn a_multi_line_whisper_stays_private() {
    let (mut h, a, b) = two();
    let c = h.join_quiet("carol");
    h.read(a);
    h.read(b);
    h.send(a, "/w bob line one\nline two");
    assert_eq!(
        h.lines(b),
        ["[alice -> bob]: line one", "[alice -> bob]: line two"]
    );
    assert_eq!(h.lines(a).len(), 2);
    assert!(h.read(c).is_empty());
}

#[test]
fn me_is_an_action_for_the_whole_room() {
    let (mut h, a, b) = two();
    h.send(a, "/me waves");
    assert_eq!(h.lines(a), ["* alice waves"]);
    assert_eq!(h.lines(b), ["* alice waves"]);
    h.send(a, "/me");
    assert_eq!(h.lines(a), ["! usage: /me TEXT"]);
    h.send(a, "/me   ");
    assert_eq!(h.lines(a), ["! usage: /me TEXT"]);
}

#[test]
fn users_lists_the_room_sorted_case_insensitively() {
    let mut h = Harness::new();
    let z = h.join_quiet("zed");
    h.join_quiet("Bob");
    h.join_quiet("alice");
    let other = h.join_quiet("carl");
    h.send(other, "/join elsewhere");
    h.read(z);
    for cmd in ["/users", "/WHO", "/list"] {
        h.send(z, cmd);
        assert_eq!(h.lines(z), ["* users in #main (3): alice, Bob, zed"]);
    }
}

#[test]
fn join_moves_between_rooms_with_notices_and_history() {
    let (mut h, a, b) = two();
    let c = h.join_quiet("carol");
    h.send(c, "/join #Rust");
    assert_eq!(h.lines(c), ["* you are carol in #rust (1 users)"]);
    assert_eq!(h.lines(a), ["* carol joined", "* carol left"]);
    h.read(b);
    h.send(c, "rust is fun");
    h.read(c);
    h.send(a, "/join rust");
    assert_eq!(
        h.lines(a),
        ["* you are alice in #rust (2 users)", "[carol]: rust is fun"]
    );
    assert_eq!(h.lines(c), ["* alice joined"]);
    assert_eq!(h.lines(b), ["* alice left"]);
    assert_eq!(h.chat.room_of(a), Some("rust"));
    h.send(a, "/join #RUST");
    assert_eq!(h.lines(a), ["! you are already in #rust"]);
    h.send(a, "/join bad room");
    assert_eq!(h.lines(a), ["! invalid room: bad room"]);
    h.send(a, "/join #");
    assert_eq!(h.lines(a), ["! invalid room: #"]);
    h.send(a, &format!("/join {}", "r".repeat(33)));
    assert_eq!(h.lines(a), [format!("! invalid room: {}", "r".repeat(33))]);
    h.send(a, "/join");
    assert_eq!(h.lines(a), ["! usage: /join ROOM"]);
}

#[test]
fn empty_rooms_vanish_with_their_history_but_main_stays() {
    let (mut h, a, b) = two();
    h.send(a, "/join side");
    h.send(a, "remember me?");
    h.send(a, "/join main");
    assert_eq!(h.chat.history_len("side"), 0);
    h.send(b, "/join side");
    h.read(b);
    h.send(b, "/join main");
    assert_eq!(
        h.lines(b)[..1],
        ["* you are bob in #main (2 users)".to_string()]
    );
    h.send(a, "kept");
    h.leave(a);
    h.leave(b);
    assert_eq!(h.chat.history_len("main"), 1, "main keeps its history");
}

#[test]
fn rooms_lists_occupied_rooms_by_name() {
    let (mut h, a, b) = two();
    let c = h.join_quiet("carol");
    h.send(c, "/join rust");
    h.send(b, "/join ada");
    h.read(a);
    h.send(a, "/rooms");
    assert_eq!(h.lines(a), ["* rooms: #ada (1), #main (1), #rust (1)"]);
    h.send(a, "/join zig");
    h.read(a);
    h.send(a, "/rooms");
    assert_eq!(
        h.lines(a),
        ["* rooms: #ada (1), #rust (1), #zig (1)"],
        "empty main is not listed"
    );
    assert_eq!(h.chat.rooms(), 3);
}

#[test]
fn quit_closes_with_1000_and_the_room_hears_it() {
    let (mut h, a, b) = two();
    h.send(a, "/quit gotta go");
    assert_eq!(h.read(a), [Got::Close(1000)]);
    assert_eq!(h.lines(b), ["* alice left"]);
    assert_eq!(h.chat.name_of(a), None);
}

#[test]
fn help_and_unknown_commands() {
    let (mut h, a, _) = two();
    h.send(a, "/HELP");
    assert_eq!(
        h.lines(a),
        ["* commands: /nick NAME, /whisper NAME TEXT, /me TEXT, /users, /join ROOM, /rooms, /quit [REASON], /help"]
    );
    h.send(a, "/Dance wildly");
    assert_eq!(h.lines(a), ["! unknown command: /Dance (try /help)"]);
    h.send(a, "/");
    assert_eq!(h.lines(a), ["! unknown command: / (try /help)"]);
}

#[test]
fn a_double_slash_sends_text_starting_with_a_slash() {
    let (mut h, a, b) = two();
    h.send(a, "//nick is a command");
    assert_eq!(h.lines(b), ["[alice]: /nick is a command"]);
    h.send(a, "hello\n/nick later lines are text");
    assert_eq!(
        h.lines(b),
        ["[alice]: hello", "[alice]: /nick later lines are text"]
    );
    assert_eq!(h.chat.name_of(a), Some("alice"));
}
