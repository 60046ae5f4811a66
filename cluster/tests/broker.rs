//! The broker's functions against a real Redis: each change checks, changes and appends its
//! event atomically, so that the stream's order is the order of the state.

mod common;
use chat_cluster::broker::{Renamed, Whispered};
use chat_cluster::{Broker, Event, Events, Lease, Member};
use common::Redis;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

fn broker(redis: &Redis) -> Broker {
    Broker::connect(&redis.url(), "test", TIMEOUT).expect("connect")
}

fn member(node: &str, conn: u64) -> Member {
    Member {
        node: node.to_string(),
        conn,
    }
}

/// Every event in the stream so far, in order.
fn all_events(redis: &Redis) -> Vec<Event> {
    let mut events = Events::open(&redis.url(), "test", "0-0", Duration::from_millis(50)).unwrap();
    let mut all = Vec::new();
    loop {
        let batch = events.next_batch().unwrap();
        if batch.is_empty() {
            return all;
        }
        all.extend(batch.into_iter().map(|(_, e)| e.expect("a known event")));
    }
}

#[test]
fn joins_take_free_names_and_automatic_ones_otherwise() {
    let redis = Redis::start();
    let mut b = broker(&redis);
    let alice = b
        .join(&member("a", 0), "main", Some(("alice", "Alice")))
        .unwrap();
    assert_eq!(
        (alice.name.as_str(), alice.taken, alice.count),
        ("Alice", false, 1)
    );
    // The same name in another case is taken: an automatic name instead.
    let second = b
        .join(&member("b", 0), "main", Some(("alice", "ALICE")))
        .unwrap();
    assert_eq!(
        (second.name.as_str(), second.taken, second.count),
        ("user0", true, 2)
    );
    let third = b.join(&member("b", 1), "main", None).unwrap();
    assert_eq!((third.name.as_str(), third.taken), ("user1", false));
    // A name freed by a leave can be taken again.
    assert!(b.leave(&member("a", 0), "closed").unwrap().is_some());
    assert!(
        b.leave(&member("a", 0), "closed").unwrap().is_none(),
        "left once"
    );
    let again = b
        .join(&member("b", 2), "main", Some(("alice", "alice")))
        .unwrap();
    assert!(!again.taken);
    let events = all_events(&redis);
    assert_eq!(events.len(), 5);
    assert!(
        matches!(&events[3], Event::Leave { name, count: 2, why, .. } if name == "Alice" && why == "closed")
    );
}

#[test]
fn two_nodes_claiming_one_name_at_once_exactly_one_wins() {
    let redis = Redis::start();
    let url = redis.url();
    let rounds = 200;
    let claim = |node: &'static str| {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut b = Broker::connect(&url, "test", TIMEOUT).unwrap();
            (0..rounds)
                .map(|i| {
                    let name = format!("name{i}");
                    !b.join(&member(node, i), "main", Some((&name, &name)))
                        .unwrap()
                        .taken
                })
                .collect::<Vec<bool>>()
        })
    };
    let (a, b) = (claim("a"), claim("b"));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    for i in 0..rounds as usize {
        assert!(
            a[i] ^ b[i],
            "name{i}: exactly one node got it (a {}, b {})",
            a[i],
            b[i]
        );
    }
}

#[test]
fn moves_and_renames_keep_names_and_counts() {
    let redis = Redis::start();
    let mut b = broker(&redis);
    let (x, y) = (member("a", 0), member("a", 1));
    b.join(&x, "main", Some(("x", "x"))).unwrap();
    b.join(&y, "main", Some(("y", "y"))).unwrap();
    let moved = b.move_to(&x, "rust").unwrap().unwrap();
    assert_eq!(moved.count, 1);
    assert_eq!(b.rename(&x, "y", "Y").unwrap(), Renamed::Taken);
    assert!(matches!(
        b.rename(&x, "z", "Z").unwrap(),
        Renamed::Done { .. }
    ));
    assert_eq!(
        b.rename(&member("a", 9), "q", "q").unwrap(),
        Renamed::NotJoined
    );
    // The old name is free, the new one taken.
    assert!(
        !b.join(&member("b", 0), "main", Some(("x", "x")))
            .unwrap()
            .taken
    );
    assert!(
        b.join(&member("b", 1), "main", Some(("z", "z")))
            .unwrap()
            .taken
    );
    let events = all_events(&redis);
    assert!(
        matches!(&events[2], Event::Move { from, left: 1, room, count: 1, .. } if from == "main" && room == "rust")
    );
    assert!(
        matches!(&events[3], Event::Rename { old, name, room, .. } if old == "x" && name == "Z" && room == "rust")
    );
}

#[test]
fn lines_get_rising_ids_in_stream_order_and_history_keeps_them() {
    let redis = Redis::start();
    let url = redis.url();
    let mut b = broker(&redis);
    b.join(&member("a", 0), "main", None).unwrap();
    b.join(&member("b", 0), "main", None).unwrap();
    // Two nodes say lines at once.
    let say = |node: &'static str| {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut b = Broker::connect(&url, "test", TIMEOUT).unwrap();
            for i in 0..300 {
                let text = format!("{node} {i}");
                b.say(&member(node, 0), "main", &text, false, 1, 0, 1000)
                    .unwrap()
                    .unwrap();
            }
        })
    };
    let (t1, t2) = (say("a"), say("b"));
    t1.join().unwrap();
    t2.join().unwrap();
    let said: Vec<(u64, String)> = all_events(&redis)
        .into_iter()
        .filter_map(|e| match e {
            Event::Say { id, text, .. } => Some((id, text)),
            _ => None,
        })
        .collect();
    let ids: Vec<u64> = said.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids,
        (1..=600).collect::<Vec<u64>>(),
        "one order: stream order is id order"
    );
    // Each sender's lines in the order it said them.
    for node in ["a", "b"] {
        let mine: Vec<&str> = said
            .iter()
            .filter(|(_, t)| t.starts_with(node))
            .map(|(_, t)| t.as_str())
            .collect();
        let expected: Vec<String> = (0..300).map(|i| format!("{node} {i}")).collect();
        assert_eq!(mine, expected);
    }
    // History from an id, in the same order.
    let kept = b.history("main", 590, 100).unwrap();
    assert_eq!(
        kept.iter().map(|k| k.id).collect::<Vec<_>>(),
        (591..=600).collect::<Vec<_>>()
    );
    assert_eq!(kept[9].text, said[599].1);
    // Not in the room any more: refused.
    b.move_to(&member("a", 0), "other").unwrap();
    assert_eq!(
        b.say(&member("a", 0), "main", "late", false, 1, 0, 1000)
            .unwrap(),
        None
    );
}

#[test]
fn history_is_capped_and_ids_continue_above_a_floor() {
    let redis = Redis::start();
    let mut b = broker(&redis);
    b.join(&member("a", 0), "main", None).unwrap();
    for i in 0..10 {
        b.say(&member("a", 0), "main", &i.to_string(), i % 2 == 0, 7, 0, 4)
            .unwrap();
    }
    let kept = b.history("main", 0, 100).unwrap();
    assert_eq!(
        kept.iter().map(|k| k.id).collect::<Vec<_>>(),
        vec![7, 8, 9, 10]
    );
    // Line 7 was the seventh said (i = 6): an action.
    assert!(kept[0].action && !kept[1].action && kept[0].ts == 7);
    // A node has seen id 500 (Redis lost its counter): the next id is above it.
    let (_, id) = b
        .say(&member("a", 0), "main", "after", false, 7, 500, 4)
        .unwrap()
        .unwrap();
    assert_eq!(id, 501);
}

#[test]
fn whispers_reach_a_name_on_any_node() {
    let redis = Redis::start();
    let mut b = broker(&redis);
    b.join(&member("a", 0), "main", Some(("ann", "Ann")))
        .unwrap();
    b.join(&member("b", 3), "other", Some(("bob", "Bob")))
        .unwrap();
    assert!(matches!(
        b.whisper(&member("a", 0), "bob", "hi").unwrap(),
        Whispered::Sent { .. }
    ));
    assert_eq!(
        b.whisper(&member("a", 0), "carol", "hi").unwrap(),
        Whispered::NoSuchUser
    );
    assert_eq!(
        b.whisper(&member("z", 0), "bob", "hi").unwrap(),
        Whispered::NotJoined
    );
    let events = all_events(&redis);
    assert_eq!(
        events.last().unwrap(),
        &Event::Whisper {
            member: member("a", 0),
            name: "Ann".into(),
            to: member("b", 3),
            to_name: "Bob".into(),
            text: "hi".into(),
        }
    );
    assert!(
        b.history("main", 0, 10).unwrap().is_empty(),
        "whispers are never kept"
    );
}

#[test]
fn a_node_whose_lease_ends_is_given_up_and_told_so() {
    let redis = Redis::start();
    let mut a = broker(&redis);
    let mut b = broker(&redis);
    let Lease::New { epoch } = a.lease("a", Duration::from_millis(200), None).unwrap() else {
        panic!("a first registration");
    };
    assert_eq!(
        b.lease("b", Duration::from_secs(30), None).unwrap(),
        Lease::New {
            epoch: epoch.clone()
        }
    );
    a.join(&member("a", 0), "main", Some(("ann", "ann")))
        .unwrap();
    a.join(&member("a", 1), "rust", None).unwrap();
    b.join(&member("b", 0), "main", None).unwrap();
    assert_eq!(b.reap().unwrap(), 0, "every lease still runs");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.reap().unwrap(), 1);
    // a's users left, each with its leave; its names are free.
    let events = all_events(&redis);
    let tail: Vec<&Event> = events.iter().rev().take(3).rev().collect();
    assert!(
        matches!(tail[0], Event::Leave { member: m, why, .. } if *m == member("a", 0) && why == "node")
    );
    assert!(matches!(tail[1], Event::Leave { member: m, .. } if *m == member("a", 1)));
    assert_eq!(tail[2], &Event::Gone { node: "a".into() });
    assert!(
        !b.join(&member("b", 1), "main", Some(("ann", "ann")))
            .unwrap()
            .taken
    );
    // a comes back: told that it was given up, not renewed.
    assert_eq!(
        a.lease("a", Duration::from_secs(30), Some(&epoch)).unwrap(),
        Lease::Lost
    );
    assert_eq!(
        b.lease("b", Duration::from_secs(30), Some(&epoch)).unwrap(),
        Lease::Held { epoch }
    );
}

#[test]
fn after_redis_lost_its_data_nodes_learn_a_new_epoch() {
    let mut redis = Redis::start();
    let mut a = broker(&redis);
    let Lease::New { epoch } = a.lease("a", Duration::from_secs(30), None).unwrap() else {
        panic!("a first registration");
    };
    a.join(&member("a", 0), "main", Some(("ann", "ann")))
        .unwrap();
    redis.restart();
    assert!(
        a.join(&member("a", 1), "main", None).is_err(),
        "the old connection is gone"
    );
    // Reconnected (the functions are loaded again): the state is new, and so is the epoch.
    let mut a = broker(&redis);
    let Lease::New { epoch: again } = a.lease("a", Duration::from_secs(30), Some(&epoch)).unwrap()
    else {
        panic!("Redis lost the state: register again");
    };
    assert_ne!(again, epoch, "a new epoch");
    assert_eq!(
        a.lease("a", Duration::from_secs(30), Some(&again)).unwrap(),
        Lease::Held { epoch: again }
    );
    // Re-registered under its name.
    assert!(
        !a.join(&member("a", 0), "main", Some(("ann", "ann")))
            .unwrap()
            .taken
    );
}

#[test]
fn heartbeats_go_through_the_stream_to_a_blocked_reader() {
    let redis = Redis::start();
    let mut b = broker(&redis);
    let after = b.newest_event().unwrap();
    assert_eq!(after, "0-0");
    let url = redis.url();
    let reader = std::thread::spawn(move || {
        let mut events = Events::open(&url, "test", &after, Duration::from_secs(3)).unwrap();
        events.next_batch().unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    b.beat("a").unwrap();
    let got = reader.join().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, Some(Event::Beat { node: "a".into() }));
}
