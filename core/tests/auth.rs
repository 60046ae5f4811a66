//! Signed names, guests, private rooms and `/kick` on a single server: the token's name
//! for good, taken over by a newer connection; guests with automatic names only; rooms by
//! grant, for `?room=`, `/join` and `/rooms`; `/kick` for admins.

mod common;
use chat_core::{Config, Grant, Join, Rendering, Signed};
use common::{json, Got, Harness};

fn token(name: &str, admin: bool, rooms: Grant) -> Signed {
    Signed {
        name: name.into(),
        admin,
        rooms,
    }
}

fn signed_chat() -> Harness {
    Harness::with(Config {
        signed_names: true,
        private_rooms: ["ops".into(), "staff".into()].into_iter().collect(),
        rate: 0.0,
        ..Config::default()
    })
}

fn join_signed(h: &mut Harness, signed: &Signed, query: Join<'_>) -> chat_core::ConnId {
    h.join_with(Join {
        signed: Some(signed),
        ..query
    })
}

#[test]
fn a_token_gives_exactly_its_name_for_good() {
    let mut h = signed_chat();
    let alice = token("alice", false, Grant::None);
    let a = join_signed(
        &mut h,
        &alice,
        Join {
            name: Some("mallory"),
            ..Join::default()
        },
    );
    assert_eq!(
        h.lines(a),
        [
            "You are connected! There are 1 users here.",
            "* you are alice in #main"
        ]
    );
    h.send(a, "/nick alicia");
    assert_eq!(h.lines(a), ["! not allowed: /nick"]);
    let j = json(&{
        let b = h.join_json("x");
        let _ = h.lines(b);
        h.send(b, "/nick y");
        h.lines(b).remove(0)
    });
    assert_eq!(j["code"], "sign_in");
}

#[test]
fn a_newer_connection_with_the_name_takes_it_over() {
    let mut h = signed_chat();
    let alice = token("alice", false, Grant::None);
    let old = join_signed(&mut h, &alice, Join::default());
    let guest = h.join();
    let _ = (h.read(old), h.lines(guest));
    let new = join_signed(&mut h, &alice, Join::default());
    let closed = h.read(old);
    assert_eq!(closed, [Got::Close(1008)], "closed, nothing else");
    assert_eq!(h.lines(guest), ["* alice left", "* alice joined"]);
    let got = h.lines(new);
    assert_eq!(got[0], "You are connected! There are 2 users here.");
    assert_eq!(got[1], "* you are alice in #main");
    assert_eq!(h.chat.connections(), 2);
}

#[test]
fn guests_get_automatic_names_and_cannot_choose_one() {
    let mut h = signed_chat();
    let g = h.join_with(Join {
        name: Some("bob"),
        room: Some("nope nope"),
        ..Join::default()
    });
    assert_eq!(
        h.lines(g),
        [
            "You are connected! There are 1 users here.",
            "! invalid room: nope nope",
            "! sign in to choose a name",
            "* you are user0 in #main"
        ]
    );
    h.send(g, "/nick bob");
    assert_eq!(h.lines(g), ["! sign in to choose a name"]);
    // Without signed names, all is as before.
    let mut plain = Harness::new();
    let p = plain.join_named("bob");
    assert_eq!(plain.lines(p)[1], "* you are bob in #main");
}

#[test]
fn private_rooms_are_for_those_granted_through_both_doors() {
    let mut h = signed_chat();
    let ops = token(
        "olga",
        false,
        Grant::Rooms(["ops".into()].into_iter().collect()),
    );
    let all = token("root", true, Grant::All);
    let admin_only = token("adam", true, Grant::None);
    let o = join_signed(
        &mut h,
        &ops,
        Join {
            room: Some("ops"),
            ..Join::default()
        },
    );
    assert_eq!(h.lines(o)[1], "* you are olga in #ops");
    let r = join_signed(
        &mut h,
        &all,
        Join {
            room: Some("staff"),
            ..Join::default()
        },
    );
    assert_eq!(h.lines(r)[1], "* you are root in #staff");
    let _ = h.lines(o);
    // `admin` does not grant rooms: refused like an invalid room, and in main.
    let a = join_signed(
        &mut h,
        &admin_only,
        Join {
            room: Some("ops"),
            ..Join::default()
        },
    );
    assert_eq!(
        h.lines(a)[1..],
        ["! no access to #ops", "* you are adam in #main"]
    );
    h.send(a, "/join #OPS");
    assert_eq!(h.lines(a), ["! no access to #ops"]);
    // /rooms shows a private room only to those who may join it.
    h.send(a, "/rooms");
    assert_eq!(h.lines(a), ["* rooms: #main (1)"]);
    h.send(o, "/rooms");
    assert_eq!(h.lines(o), ["* rooms: #main (1), #ops (1)"]);
    h.send(r, "/rooms");
    assert_eq!(h.lines(r), ["* rooms: #main (1), #ops (1), #staff (1)"]);
    h.send(o, "/join staff");
    assert_eq!(h.lines(o), ["! no access to #staff"]);
    let guest = h.join_with(Join {
        rendering: Some(Rendering::Json),
        room: Some("ops"),
        ..Join::default()
    });
    let got = h.lines(guest);
    assert_eq!(json(&got[0])["code"], "no_access");
}

#[test]
fn admins_kick_with_a_reason_and_others_may_not() {
    let mut h = signed_chat();
    let boss = join_signed(&mut h, &token("boss", true, Grant::None), Join::default());
    let alice = join_signed(&mut h, &token("alice", false, Grant::None), Join::default());
    let carol = h.join_json("x");
    let _ = (h.lines(boss), h.lines(alice), h.lines(carol));
    h.send(alice, "/kick boss");
    assert_eq!(h.lines(alice), ["! not allowed: /kick"]);
    h.send(boss, "/kick");
    assert_eq!(h.lines(boss), ["! usage: /kick NAME [REASON]"]);
    h.send(boss, "/kick nobody");
    assert_eq!(h.lines(boss), ["! no such user: nobody"]);
    h.send(boss, "/kick ALICE flooding the room");
    assert_eq!(h.read(alice), [Got::Close(1008)], "closed, nothing else");
    assert_eq!(
        h.lines(boss),
        ["* alice was kicked by boss (flooding the room)"]
    );
    let line = h.lines(carol).remove(0);
    let text = chat_core::read_back::as_text(&line, chat_core::read_back::Welcome::Joined);
    assert_eq!(
        text,
        Some(vec![
            "* alice was kicked by boss (flooding the room)".to_string()
        ]),
        "the terminal client shows the JSON kick as the text line"
    );
    let kick = json(&line);
    assert_eq!(
        kick,
        serde_json::json!({"type": "kick", "room": "main", "user": "alice", "by": "boss",
                           "reason": "flooding the room"})
    );
    h.send(boss, "/help");
    assert!(h.lines(boss)[0].contains("/kick NAME [REASON]"));
    h.send(carol, "/help");
    assert!(!h.lines(carol)[0].contains("/kick"));
    // Without a reason.
    let guest = h.join();
    let _ = (h.lines(guest), h.lines(carol), h.lines(boss));
    h.send(boss, "/kick user1");
    assert_eq!(h.lines(boss), ["* user1 was kicked by boss"]);
}
