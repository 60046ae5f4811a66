//! The `chat.v1.json` rendering.

mod common;
use chat_core::{Config, Join, Rendering};
use common::*;
use serde_json::json;

#[test]
fn welcome_replaces_greeting_and_lists_the_room() {
    let mut h = Harness::new();
    h.join_quiet("zed");
    h.join_quiet("Amy");
    let j = h.join_json("bob");
    let got: Vec<_> = h.lines(j).iter().map(|l| json(l)).collect();
    assert_eq!(
        got,
        [json!({"type":"welcome","you":"bob","room":"main","users":["Amy","bob","zed"],"total":3})]
    );
}

#[test]
fn refusals_come_before_the_welcome() {
    let mut h = Harness::new();
    h.join_quiet("bob");
    let j = h.join_with(Join {
        name: Some("bob"),
        room: Some("a b"),
        rendering: Some(Rendering::Json),
        ..Join::default()
    });
    let got: Vec<_> = h.lines(j).iter().map(|l| json(l)).collect();
    assert_eq!(
        got[0],
        json!({"type":"error","code":"invalid_room","text":"invalid room: a b"})
    );
    assert_eq!(
        got[1],
        json!({"type":"error","code":"name_taken","text":"name taken: bob"})
    );
    assert_eq!(got[2]["type"], "welcome");
    assert_eq!(got[2]["you"], "user0");
}

#[test]
fn every_line_has_its_json_object_and_text_users_share_the_room() {
    let mut h = Harness::new();
    let t = h.join_quiet("txt");
    let j = h.join_json("js");
    h.read(j);
    assert_eq!(h.lines(t), ["* js joined"]);
    let ts = h.now().unix_ms;

    h.send(t, "hi \"there\"");
    assert_eq!(h.lines(t), ["[txt]: hi \"there\""]);
    assert_eq!(
        json(&h.lines(j)[0]),
        json!({"type":"message","id":1,"room":"main","from":"txt","text":"hi \"there\"","ts":ts})
    );
    h.send(t, "/me waves");
    assert_eq!(h.lines(t), ["* txt waves"]);
    assert_eq!(
        json(&h.lines(j)[0]),
        json!({"type":"action","id":2,"room":"main","from":"txt","text":"waves","ts":ts})
    );
    h.send(t, "/w js psst");
    assert_eq!(h.lines(t), ["[txt -> js]: psst"]);
    assert_eq!(
        json(&h.lines(j)[0]),
        json!({"type":"whisper","from":"txt","to":"js","text":"psst","ts":ts})
    );
    h.send(t, "/nick T");
    h.read(t);
    assert_eq!(
        json(&h.lines(j)[0]),
        json!({"type":"rename","from":"txt","to":"T"})
    );
    let other = h.join_quiet("other");
    assert_eq!(
        json(&h.lines(j)[0]),
        json!({"type":"join","room":"main","user":"other"})
    );
    h.leave(other);
    assert_eq!(
        json(&h.lines(j)[0]),
        json!({"type":"leave","room":"main","user":"other"})
    );
    h.read(t);

    h.send(j, "/users");
    assert_eq!(
        json(&h.lines(j)[0]),
        json!({"type":"users","room":"main","users":["js","T"],"total":2})
    );
    h.send(j, "/rooms");
    assert_eq!(
        json(&h.lines(j)[0]),
        json!({"type":"rooms","rooms":[{"name":"main","users":2}],"total":1})
    );
    h.send(j, "/help");
    let help = json(&h.lines(j)[0]);
    assert_eq!(help["type"], "help");
    assert_eq!(help["commands"].as_array().unwrap().len(), 8);
    h.send(j, "/bogus");
    assert_eq!(
        json(&h.lines(j)[0]),
        json!({"type":"error","code":"unknown_command","text":"unknown command: /bogus (try /help)"})
    );
    // The JSON user's own line goes to the text user as text.
    h.send(j, "from json");
    assert_eq!(h.lines(t), ["[js]: from json"]);
}

#[test]
fn history_replays_carry_replay_true_and_the_original_ts() {
    let mut h = Harness::new();
    let t = h.join_quiet("t");
    let ts = h.now().unix_ms;
    h.send(t, "old news");
    h.advance_secs(5.0);
    h.send(t, "/join side");
    h.send(t, "/join main");
    let j = h.join_json("j");
    let got: Vec<_> = h.lines(j).iter().map(|l| json(l)).collect();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1],
        json!({"type":"message","id":1,"room":"main","from":"t","text":"old news","ts":ts,"replay":true})
    );
}

#[test]
fn json_join_after_slash_join_is_a_welcome_and_errors_have_codes() {
    let mut h = Harness::with(Config {
        burst: 1,
        ..Config::default()
    });
    let j = h.join_json("j");
    h.read(j);
    h.send(j, "/join rust");
    assert_eq!(
        json(&h.lines(j)[0]),
        json!({"type":"welcome","you":"j","room":"rust","users":["j"],"total":1})
    );
    h.send(j, "more");
    assert_eq!(
        json(&h.lines(j)[0]),
        json!({"type":"error","code":"slow_down","text":"slow down (max 5 lines/s)"})
    );
}

#[test]
fn control_characters_never_reach_json_text_either() {
    let mut h = Harness::new();
    let j = h.join_json("j");
    h.read(j);
    h.send(j, "a\u{1b}b");
    assert_eq!(json(&h.lines(j)[0])["text"], "a\u{FFFD}b");
}

/// A text user and a JSON user through the same session: every JSON line read back with
/// `read_back::as_text` is the text user's line, byte for byte.
#[test]
fn json_lines_read_back_as_exactly_the_text_lines() {
    use chat_core::read_back::{as_text, Welcome};
    let mut h = Harness::new();
    let t = h.join_named("t");
    let j = h.join_json("j");
    h.read(t);
    let first: Vec<String> = h.lines(j);
    let welcome = as_text(&first[0], Welcome::Connected).unwrap();
    assert_eq!(welcome[0], "You are connected! There are 2 users here.");
    assert_eq!(welcome[1], "* you are j in #main");
    let other = h.join_named("o");
    h.send(other, "hello \"quoted\" \\ ünïcode\n/me waves");
    h.send(other, "/nick o2");
    h.send(other, "/w t psst");
    h.send(other, "/w j psst");
    for who in [t, j] {
        for command in [
            "/users",
            "/rooms",
            "/help",
            "/nope",
            "/join",
            "/nick bad name!",
        ] {
            h.send(who, command);
        }
    }
    let side = h.join_with(Join {
        name: Some("s"),
        room: Some("side"),
        ..Join::default()
    });
    h.send(side, "in the side room");
    h.send(side, "/me too");
    h.leave(other);
    let text = h.lines(t);
    let json = h.lines(j);
    let read_back: Vec<String> = json
        .iter()
        .flat_map(|l| as_text(l, Welcome::Joined).unwrap_or_else(|| panic!("{l}")))
        .collect();
    // The whisper to the other user is each user's own; everything else is shared.
    let text: Vec<&String> = text.iter().filter(|l| !l.contains("[o2 -> t]")).collect();
    let read_back: Vec<&String> = read_back
        .iter()
        .filter(|l| !l.contains("[o2 -> j]"))
        .collect();
    assert_eq!(read_back, text);
    assert!(text.len() > 10, "{text:?}");
    // After /join, a welcome reads with the room's count, and the replay as it was said.
    h.send(t, "/join side");
    h.send(j, "/join side");
    let text = h.lines(t);
    let json = h.lines(j);
    let read_back: Vec<String> = json
        .iter()
        .flat_map(|l| as_text(l, Welcome::Joined).unwrap())
        .collect();
    assert_eq!(
        text[..3],
        [
            "* you are t in #side (2 users)",
            "[s]: in the side room",
            "* s too"
        ]
    );
    assert_eq!(
        read_back[1..],
        [
            "* you are j in #side (3 users)",
            "[s]: in the side room",
            "* s too"
        ]
    );
}

#[test]
fn a_forged_action_or_name_is_refused_with_its_code() {
    let mut h = Harness::new();
    let j = h.join_json("j");
    h.read(j);
    h.send(j, "/me joined");
    let e = json(&h.lines(j)[0]);
    assert_eq!(e["code"], "invalid_action");
    assert_eq!(e["text"], "invalid action: joined");
    h.send(j, "/nick you");
    assert_eq!(json(&h.lines(j)[0])["code"], "invalid_name");
    h.send(j, "/me \u{202E}desrever");
    let said = json(&h.lines(j)[0]);
    assert_eq!(said["text"], "\u{FFFD}desrever", "the override is replaced");
}
