//! Line ids and resume (`?since=ID`): ids shared by every recipient, the replay of exactly
//! the missed lines at every boundary, the skipped notice, and refused `since` values.

mod common;
use chat_core::{Config, Join, Rendering};
use common::*;
use serde_json::json;

/// A room `main` with the lines `m1` … `mN` said by `talker`, ids 1 … N.
fn room_with_lines(config: Config, n: usize) -> Harness {
    let mut h = Harness::with(config);
    let talker = h.join_quiet("talker");
    for i in 1..=n {
        h.send(talker, &format!("m{i}"));
    }
    h.read(talker);
    h
}

/// What a text user joining with `since` sees after `* you are …`.
fn resumed(h: &mut Harness, since: &str) -> Vec<String> {
    let id = h.join_with(Join {
        name: Some("back"),
        since: Some(since),
        ..Join::default()
    });
    let lines = h.lines(id);
    let you = lines
        .iter()
        .position(|l| l.starts_with("* you are "))
        .expect("a welcome");
    let replay = lines[you + 1..].to_vec();
    h.leave(id);
    replay
}

fn said(ids: std::ops::RangeInclusive<usize>) -> Vec<String> {
    ids.map(|i| format!("[talker]: m{i}")).collect()
}

#[test]
fn every_recipient_sees_the_same_strictly_increasing_ids_across_rooms() {
    let mut h = Harness::new();
    let a = h.join_json("a");
    let b = h.join_json("b");
    let c = h.join_with(Join {
        name: Some("c"),
        room: Some("side"),
        rendering: Some(Rendering::Json),
        ..Join::default()
    });
    h.read(a);
    h.read(b);
    h.read(c);
    h.send(a, "one\ntwo");
    h.send(c, "/me elsewhere");
    h.send(b, "three");
    let ids = |lines: Vec<String>| -> Vec<u64> {
        lines
            .iter()
            .map(|l| json(l)["id"].as_u64().expect("an id"))
            .collect()
    };
    let seen_by_a = ids(h.lines(a));
    assert_eq!(seen_by_a, [1, 2, 4]);
    assert_eq!(ids(h.lines(b)), seen_by_a);
    assert_eq!(ids(h.lines(c)), [3]);
}

#[test]
fn whispers_have_no_id_and_are_never_replayed() {
    let mut h = Harness::new();
    let a = h.join_json("a");
    h.join_quiet("b");
    h.read(a);
    h.send(a, "/w b psst");
    let whisper = json(&h.lines(a)[0]);
    assert_eq!(whisper["type"], "whisper");
    assert!(whisper.get("id").is_none(), "{whisper}");
    assert_eq!(resumed(&mut h, "0"), Vec::<String>::new());
}

#[test]
fn since_replays_exactly_the_lines_after_it_at_every_boundary() {
    let mut h = room_with_lines(Config::default(), 5);
    assert_eq!(resumed(&mut h, "0"), said(1..=5), "below the oldest kept");
    assert_eq!(resumed(&mut h, "2"), said(3..=5), "inside");
    assert_eq!(resumed(&mut h, "4"), said(5..=5), "one before the top");
    assert_eq!(resumed(&mut h, "5"), Vec::<String>::new(), "at the top");
    assert_eq!(resumed(&mut h, "99"), Vec::<String>::new(), "above");
    assert_eq!(resumed(&mut h, "0002"), said(3..=5), "leading zeros");
    assert_eq!(
        resumed(&mut h, "9223372036854775807"),
        Vec::<String>::new(),
        "2^63 - 1"
    );
}

#[test]
fn the_resume_finds_only_what_is_still_kept() {
    // With 3 lines kept, ids 1 and 2 are gone: they are neither replayed nor counted.
    let config = Config {
        history: 3,
        ..Config::default()
    };
    let mut h = room_with_lines(config, 5);
    assert_eq!(resumed(&mut h, "0"), said(3..=5));
}

#[test]
fn an_invalid_since_is_refused_first_and_the_normal_history_follows() {
    let mut h = room_with_lines(Config::default(), 2);
    for bad in [
        "",
        "x",
        "-1",
        "+1",
        "1.0",
        " 1",
        "12345678901234567890",
        "9223372036854775808",
    ] {
        let id = h.join_with(Join {
            name: Some("talker"),
            room: Some("a b"),
            since: Some(bad),
            ..Join::default()
        });
        let lines = h.lines(id);
        assert_eq!(
            lines[1..4],
            [
                format!("! invalid since: {bad}"),
                "! invalid room: a b".to_string(),
                "! name taken: talker".to_string()
            ],
            "{bad:?}"
        );
        assert_eq!(lines[5..], said(1..=2), "{bad:?}: the normal history");
        h.leave(id);
    }
}

#[test]
fn more_missed_lines_than_the_resume_limit_are_announced_as_skipped() {
    let config = Config {
        resume_limit: 2,
        ..Config::default()
    };
    let mut h = room_with_lines(config, 5);
    let mut expected = vec!["* 3 earlier lines skipped".to_string()];
    expected.extend(said(4..=5));
    assert_eq!(resumed(&mut h, "0"), expected);
    let mut expected = vec!["* 1 earlier lines skipped".to_string()];
    expected.extend(said(4..=5));
    assert_eq!(resumed(&mut h, "2"), expected);
    assert_eq!(
        resumed(&mut h, "3"),
        said(4..=5),
        "exactly the limit: no notice"
    );
    // The plain history is not limited by it.
    assert_eq!(resumed(&mut h, "x"), said(1..=5));
}

#[test]
fn a_json_resume_has_the_skipped_object_and_replays_with_their_ids() {
    let config = Config {
        resume_limit: 1,
        ..Config::default()
    };
    let mut h = room_with_lines(config, 3);
    let j = h.join_with(Join {
        name: Some("j"),
        rendering: Some(Rendering::Json),
        since: Some("1"),
        ..Join::default()
    });
    let got: Vec<_> = h.lines(j).iter().map(|l| json(l)).collect();
    assert_eq!(got[0]["type"], "welcome");
    assert_eq!(got[1], json!({"type":"skipped","room":"main","count":1}));
    assert_eq!(got[2]["id"], 3);
    assert_eq!(got[2]["text"], "m3");
    assert_eq!(got[2]["replay"], true);
    assert_eq!(got.len(), 3);
}

#[test]
fn a_client_that_reconnects_with_its_last_id_gets_exactly_what_it_missed() {
    let mut h = Harness::new();
    let talker = h.join_quiet("talker");
    let a = h.join_json("a");
    h.read(talker);
    h.read(a);
    h.send(talker, "before");
    let last = json(&h.lines(a)[0])["id"].as_u64().unwrap();
    h.leave(a);
    h.send(talker, "missed 1\nmissed 2");
    let since = last.to_string();
    let back = h.join_with(Join {
        name: Some("a"),
        rendering: Some(Rendering::Json),
        since: Some(&since),
        ..Join::default()
    });
    let got: Vec<_> = h.lines(back).iter().map(|l| json(l)).collect();
    let texts: Vec<_> = got[1..].iter().map(|v| v["text"].clone()).collect();
    assert_eq!(texts, ["missed 1", "missed 2"]);
    assert_eq!(got[1]["id"].as_u64(), Some(last + 1));
}
