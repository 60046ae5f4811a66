//! History with a store, on a model of one: ids across restarts and crashes, rooms that
//! leave memory and come back, resume from what the store holds at every boundary, and the
//! order a joiner sees while its replay is fetched.

mod common;
use chat_core::{Config, Join, Rendering};
use common::*;

fn config() -> Config {
    Config {
        rate: 0.0,
        ..Config::default()
    }
}

fn said(who: &str, ids: std::ops::RangeInclusive<usize>) -> Vec<String> {
    ids.map(|i| format!("[{who}]: m{i}")).collect()
}

/// What `join` sees after its `* you are …` line.
fn after_welcome(h: &mut Harness, join: Join<'_>) -> Vec<String> {
    let id = h.join_with(join);
    let lines = h.lines(id);
    let you = (lines.iter().position(|l| l.starts_with("* you are ")))
        .unwrap_or_else(|| panic!("a welcome in {lines:?}"));
    h.leave(id);
    lines[you + 1..].to_vec()
}

fn resume(h: &mut Harness, room: &str, since: &str) -> Vec<String> {
    after_welcome(
        h,
        Join {
            name: Some("back"),
            room: Some(room),
            since: Some(since),
            ..Join::default()
        },
    )
}

fn talk(h: &mut Harness, who: &str, room: &str, n: usize) {
    let id = h.join_with(Join {
        name: Some(who),
        room: Some(room),
        ..Join::default()
    });
    for i in 1..=n {
        h.send(id, &format!("m{i}"));
    }
    h.leave(id);
    h.read(id);
}

#[test]
fn a_clean_restart_keeps_history_and_ids_and_continues_from_the_next_id() {
    let mut h = Harness::with_store(config(), 1000);
    let a = h.join_json("a");
    h.send(a, "one\ntwo");
    h.shutdown();
    h.restart();
    let b = h.join_json("b");
    let lines = h.lines(b);
    let ids: Vec<u64> = lines
        .iter()
        .filter_map(|l| json(l)["id"].as_u64())
        .collect();
    assert_eq!(ids, [1, 2], "the same history with the same ids: {lines:?}");
    assert!(lines[1..].iter().all(|l| json(l)["replay"] == true));
    h.send(b, "three");
    assert_eq!(
        json(&h.lines(b)[0])["id"],
        3,
        "no id skipped after a clean stop"
    );
}

#[test]
fn after_a_crash_no_id_is_given_twice() {
    let mut h = Harness::with_store(config(), 1000);
    let a = h.join_json("a");
    h.send(a, "kept");
    // The store loses the line (the last moments before a crash are not written), but the
    // id was delivered: a restarted chat must not give it again.
    let delivered = json(h.lines(a).last().unwrap())["id"].as_u64().unwrap();
    h.store.as_mut().unwrap().lines.clear();
    h.restart();
    let b = h.join_json("b");
    h.read(b);
    h.send(b, "new");
    let next = json(h.lines(b).last().unwrap())["id"].as_u64().unwrap();
    assert!(next > delivered, "{next} after {delivered}");
}

#[test]
fn ids_are_reserved_ahead_and_renewed_before_they_run_out() {
    let mut h = Harness::with_store(config(), 10);
    let reserved = h.store.as_ref().unwrap().next_id;
    let a = h.join_quiet("a");
    h.send(a, "x");
    assert_eq!(h.store.as_ref().unwrap().next_id, reserved, "half is left");
    // Skip most of the reservation: the chat asks for more when half of it is used.
    let half = chat_core::store::RESERVE_AHEAD / 2;
    for _ in 0..(half / 20 + 1) {
        h.send(a, &"y\n".repeat(20));
    }
    h.read(a);
    let renewed = h.store.as_ref().unwrap().next_id;
    assert!(renewed > reserved, "{renewed} > {reserved}");
}

#[test]
fn an_emptied_room_leaves_memory_and_its_history_comes_back() {
    let mut h = Harness::with_store(config(), 1000);
    talk(&mut h, "t", "side", 3);
    assert_eq!(h.chat.history_len("side"), 0, "out of memory once empty");
    assert_eq!(h.chat.rooms(), 0);
    let back = after_welcome(
        &mut h,
        Join {
            room: Some("side"),
            ..Join::default()
        },
    );
    assert_eq!(back, said("t", 1..=3));
}

#[test]
fn the_history_after_a_restart_is_the_latest_lines_of_the_room() {
    let config = Config {
        history: 3,
        ..config()
    };
    let mut h = Harness::with_store(config, 1000);
    talk(&mut h, "t", "main", 5);
    talk(&mut h, "u", "side", 2);
    h.shutdown();
    h.restart();
    let main = after_welcome(&mut h, Join::default());
    assert_eq!(main, said("t", 3..=5));
    let side = after_welcome(
        &mut h,
        Join {
            room: Some("side"),
            ..Join::default()
        },
    );
    assert_eq!(side, said("u", 1..=2));
}

#[test]
fn resume_from_the_store_at_every_boundary() {
    // 3 lines in memory, 6 in the store of which ids 1 and 2 are gone past --retain (4),
    // and at most 2 replayed: the rest of the missed lines are counted as skipped.
    let config = Config {
        history: 3,
        resume_limit: 2,
        ..config()
    };
    let mut h = Harness::with_store(config, 4);
    talk(&mut h, "t", "main", 6);
    let skipped = |n: usize| format!("* {n} earlier lines skipped");
    let expect = |skip: Option<usize>, ids| {
        let mut v: Vec<String> = skip.map(skipped).into_iter().collect();
        v.extend(said("t", ids));
        v
    };
    assert_eq!(
        resume(&mut h, "main", "0"),
        expect(Some(2), 5..=6),
        "below the oldest"
    );
    assert_eq!(
        resume(&mut h, "main", "2"),
        expect(Some(2), 5..=6),
        "at the oldest - 1"
    );
    assert_eq!(
        resume(&mut h, "main", "3"),
        expect(Some(1), 5..=6),
        "inside"
    );
    assert_eq!(
        resume(&mut h, "main", "4"),
        expect(None, 5..=6),
        "exactly the limit"
    );
    assert_eq!(
        resume(&mut h, "main", "5"),
        expect(None, 6..=6),
        "one before the top"
    );
    assert_eq!(
        resume(&mut h, "main", "6"),
        Vec::<String>::new(),
        "at the top"
    );
    assert_eq!(resume(&mut h, "main", "99"), Vec::<String>::new(), "above");
    // The same after a restart, when memory has nothing yet.
    h.shutdown();
    h.restart();
    assert_eq!(
        resume(&mut h, "main", "3"),
        expect(Some(1), 5..=6),
        "after a restart"
    );
}

#[test]
fn a_joiner_waiting_for_the_store_sees_its_replay_first_and_every_live_line_once() {
    let mut h = Harness::with_store(config(), 1000);
    talk(&mut h, "t", "side", 2);
    h.store.as_mut().unwrap().defer = true;
    let talker = h.join_with(Join {
        name: Some("live"),
        room: Some("side"),
        ..Join::default()
    });
    let waiter = h.join_with(Join {
        name: Some("w"),
        room: Some("side"),
        ..Join::default()
    });
    h.send(talker, "during");
    h.send(waiter, "/users");
    let before = h.lines(waiter);
    assert_eq!(
        before,
        [
            "You are connected! There are 2 users here.",
            "* you are w in #side"
        ],
        "the rest waits for the replay"
    );
    h.answer_fetches();
    assert_eq!(
        h.lines(waiter),
        [
            "[t]: m1",
            "[t]: m2",
            "[live]: during",
            "* users in #side (2): live, w",
        ]
    );
    // The talker's own replay came in its place too, and nobody else waited.
    assert_eq!(
        h.lines(talker),
        [
            "You are connected! There are 1 users here.",
            "* you are live in #side",
            "[t]: m1",
            "[t]: m2",
            "* w joined",
            "[live]: during"
        ]
    );
}

#[test]
fn json_replays_from_the_store_are_marked_and_carry_their_ids() {
    let mut h = Harness::with_store(config(), 1000);
    talk(&mut h, "t", "side", 1);
    let j = h.join_with(Join {
        name: Some("j"),
        room: Some("side"),
        rendering: Some(Rendering::Json),
        ..Join::default()
    });
    let lines = h.lines(j);
    let replay = json(lines.last().unwrap());
    assert_eq!(replay["type"], "message");
    assert_eq!(replay["id"], 1);
    assert_eq!(replay["from"], "t");
    assert_eq!(replay["text"], "m1");
    assert_eq!(replay["replay"], true);
}

#[test]
fn a_failed_fetch_replays_what_memory_has_and_the_chat_goes_on() {
    let mut h = Harness::with_store(config(), 1000);
    talk(&mut h, "t", "side", 2);
    h.store.as_mut().unwrap().failing = true;
    let a = h.join_with(Join {
        name: Some("a"),
        room: Some("side"),
        ..Join::default()
    });
    h.send(a, "still here");
    let lines = h.lines(a);
    assert_eq!(lines.last().unwrap(), "[a]: still here", "{lines:?}");
    assert!(
        !lines.iter().any(|l| l.contains("m1")),
        "nothing to replay from memory"
    );
}

#[test]
fn leaving_or_moving_while_waiting_is_fine() {
    let mut h = Harness::with_store(config(), 1000);
    talk(&mut h, "t", "side", 1);
    talk(&mut h, "u", "other", 1);
    h.store.as_mut().unwrap().defer = true;
    let gone = h.join_with(Join {
        room: Some("side"),
        ..Join::default()
    });
    h.read(gone);
    h.leave(gone);
    let mover = h.join_with(Join {
        name: Some("mover"),
        room: Some("side"),
        ..Join::default()
    });
    h.send(mover, "/join other");
    assert_eq!(h.lines(mover).len(), 2, "greeting and welcome only so far");
    h.answer_fetches();
    assert_eq!(
        h.lines(mover),
        ["[t]: m1", "* you are mover in #other (1 users)", "[u]: m1"],
        "each replay in its place"
    );
    assert!(h.read(gone).is_empty());
}

#[test]
fn a_joiner_that_waits_too_long_is_told_to_come_back() {
    let mut h = Harness::with_store(config(), 1_000_000);
    talk(&mut h, "t", "side", 1);
    h.store.as_mut().unwrap().defer = true;
    let waiter = h.join_with(Join {
        room: Some("side"),
        ..Join::default()
    });
    // Resuming from the latest id, memory has all the talker needs: it does not wait.
    let talker = h.join_with(Join {
        name: Some("talker"),
        room: Some("side"),
        since: Some("1"),
        ..Join::default()
    });
    h.read(talker);
    for _ in 0..600 {
        h.send(talker, &"x\n".repeat(20));
    }
    let got = h.read(waiter);
    assert_eq!(got.len(), 3, "greeting, welcome, close: {:?}", &got[..3]);
    assert_eq!(got.last(), Some(&Got::Close(1013)));
    assert!(h.lines(talker).iter().any(|l| l.ends_with(" left")));
    h.answer_fetches(); // too late: nothing happens
    assert!(h.read(waiter).is_empty());
}

#[test]
fn whispers_are_never_stored() {
    let mut h = Harness::with_store(config(), 1000);
    let a = h.join_quiet("a");
    h.join_quiet("b");
    h.send(a, "/whisper b secret");
    h.send(a, "/me waves");
    let kept = &h.store.as_ref().unwrap().lines;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].action);
    assert_eq!(&*kept[0].text, "waves");
}

#[test]
fn a_replay_fits_its_byte_budget_and_a_resume_counts_what_did_not_fit() {
    // "[t]: mN" is 7 bytes: 20 bytes hold two lines.
    let config = Config {
        replay_bytes: 20,
        ..config()
    };
    let mut h = Harness::with_store(config, 1000);
    talk(&mut h, "t", "main", 5);
    let mut expect = vec!["* 3 earlier lines skipped".to_string()];
    expect.extend(said("t", 4..=5));
    assert_eq!(resume(&mut h, "main", "0"), expect);
    let plain = after_welcome(&mut h, Join::default());
    assert_eq!(plain, said("t", 4..=5), "a plain history just starts later");
}

#[test]
fn past_the_history_memory_budget_quiet_rooms_are_read_back_from_the_store() {
    let config = Config {
        // About two rooms' worth of three short lines.
        history_memory: 6 * 150,
        ..config()
    };
    let mut h = Harness::with_store(config, 1000);
    let stay = |h: &mut Harness, who: &str, room: &str| {
        h.join_with(Join {
            name: Some(who),
            room: Some(room),
            ..Join::default()
        })
    };
    let rooms = ["a", "b", "c", "d"];
    let people: Vec<_> = rooms
        .iter()
        .map(|r| stay(&mut h, &format!("p{r}"), r))
        .collect();
    for (id, room) in people.iter().zip(rooms) {
        for i in 1..=3 {
            h.send(*id, &format!("{room}{i}"));
        }
    }
    assert!(
        h.chat.history_bytes() <= 6 * 150,
        "{}",
        h.chat.history_bytes()
    );
    assert_eq!(
        h.chat.history_len("a"),
        0,
        "the quietest room let its history go"
    );
    assert_eq!(
        h.chat.history_len("d"),
        3,
        "the room just spoken in keeps it"
    );
    // A joiner of the quiet room still gets its history, from the store.
    let back = after_welcome(
        &mut h,
        Join {
            name: Some("late"),
            room: Some("a"),
            ..Join::default()
        },
    );
    assert_eq!(back, ["[pa]: a1", "[pa]: a2", "[pa]: a3"]);
}
