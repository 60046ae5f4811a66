//! The broker's functions against a real Redis: each change checks, changes and appends its
//! event atomically, so that the stream's order is the order of the state.

use chat_cluster::testing::Redis;
use chat_cluster::{
    Answer, Broker, Event, Events, Joined, Lease, Member, Moved, Proposal, Renamed, Whispered,
};
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

/// The broker's changes, one call each (as `Node` runs them, but without a pipeline).
trait Changes {
    fn join(&mut self, member: &Member, room: &str, wanted: Option<(&str, &str)>) -> Joined;
    fn leave(&mut self, member: &Member, reason: &str) -> Option<String>;
    fn move_to(&mut self, member: &Member, room: &str) -> Option<Moved>;
    fn rename(&mut self, member: &Member, key: &str, name: &str) -> Renamed;
    fn say(
        &mut self,
        member: &Member,
        room: &str,
        text: &str,
        action: bool,
        floor: u64,
        retain: u64,
    ) -> Option<u64>;
    fn whisper(&mut self, member: &Member, to_key: &str, text: &str) -> Whispered;
}

impl Changes for Broker {
    fn join(&mut self, member: &Member, room: &str, wanted: Option<(&str, &str)>) -> Joined {
        let wanted = wanted.map(|(k, n)| (k.to_string(), n.to_string()));
        let p = Proposal::Join {
            member: member.clone(),
            room: room.into(),
            wanted,
            quiet: false,
            again: false,
            signed: false,
        };
        match self.run_one(&p, 0, 1000).unwrap() {
            Answer::Joined(Some(joined)) => joined,
            other => panic!("join: {other:?}"),
        }
    }
    fn leave(&mut self, member: &Member, reason: &str) -> Option<String> {
        let p = Proposal::Leave {
            member: member.clone(),
            reason: reason.into(),
        };
        match self.run_one(&p, 0, 1000).unwrap() {
            Answer::Left(left) => left,
            other => panic!("leave: {other:?}"),
        }
    }
    fn move_to(&mut self, member: &Member, room: &str) -> Option<Moved> {
        let p = Proposal::Move {
            member: member.clone(),
            room: room.into(),
            quiet: false,
        };
        match self.run_one(&p, 0, 1000).unwrap() {
            Answer::Moved(moved) => moved,
            other => panic!("move: {other:?}"),
        }
    }
    fn rename(&mut self, member: &Member, key: &str, name: &str) -> Renamed {
        let p = Proposal::Rename {
            member: member.clone(),
            key: key.into(),
            name: name.into(),
        };
        match self.run_one(&p, 0, 1000).unwrap() {
            Answer::Renamed(renamed) => renamed,
            other => panic!("rename: {other:?}"),
        }
    }
    fn say(
        &mut self,
        member: &Member,
        room: &str,
        text: &str,
        action: bool,
        floor: u64,
        retain: u64,
    ) -> Option<u64> {
        let p = Proposal::Say {
            member: member.clone(),
            room: room.into(),
            text: text.into(),
            action,
            ts: 7,
        };
        match self.run_one(&p, floor, retain).unwrap() {
            Answer::Said(said) => said.map(|(_, id)| id),
            other => panic!("say: {other:?}"),
        }
    }
    fn whisper(&mut self, member: &Member, to_key: &str, text: &str) -> Whispered {
        let p = Proposal::Whisper {
            member: member.clone(),
            to_key: to_key.into(),
            text: text.into(),
            to: to_key.into(),
            ts: 5,
        };
        match self.run_one(&p, 0, 1000).unwrap() {
            Answer::Whispered(w) => w,
            other => panic!("whisper: {other:?}"),
        }
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
        for e in batch {
            assert_eq!(
                e.seq,
                all.len() as u64 + 1,
                "every event numbered, one after another"
            );
            all.push(e.event.expect("a known event"));
        }
    }
}

#[test]
fn joins_take_free_names_and_automatic_ones_otherwise() {
    let redis = Redis::start();
    let mut b = broker(&redis);
    let alice = b.join(&member("a", 0), "main", Some(("alice", "Alice")));
    assert_eq!(
        (alice.name.as_str(), alice.taken, alice.count),
        ("Alice", false, 1)
    );
    // The same name in another case is taken: an automatic name instead.
    let second = b.join(&member("b", 0), "main", Some(("alice", "ALICE")));
    assert_eq!(
        (second.name.as_str(), second.taken, second.count),
        ("user0", true, 2)
    );
    let third = b.join(&member("b", 1), "main", None);
    assert_eq!((third.name.as_str(), third.taken), ("user1", false));
    // A name freed by a leave can be taken again.
    assert!(b.leave(&member("a", 0), "closed").is_some());
    assert!(b.leave(&member("a", 0), "closed").is_none(), "left once");
    let again = b.join(&member("b", 2), "main", Some(("alice", "alice")));
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
                    !b.join(&member(node, i), "main", Some((&name, &name))).taken
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
    b.join(&x, "main", Some(("x", "x")));
    b.join(&y, "main", Some(("y", "y")));
    let moved = b.move_to(&x, "rust").unwrap();
    assert_eq!(moved.count, 1);
    assert_eq!(b.rename(&x, "y", "Y"), Renamed::Taken);
    assert!(matches!(b.rename(&x, "z", "Z"), Renamed::Done { .. }));
    assert_eq!(b.rename(&member("a", 9), "q", "q"), Renamed::NotJoined);
    // The old name is free, the new one taken.
    assert!(!b.join(&member("b", 0), "main", Some(("x", "x"))).taken);
    assert!(b.join(&member("b", 1), "main", Some(("z", "z"))).taken);
    let events = all_events(&redis);
    assert!(
        matches!(&events[2], Event::Move { from, left: 1, room, count: 1, .. } if from == "main" && room == "rust")
    );
    // A refusal is an event too, so the member's node tells it in its place in the order.
    assert!(
        matches!(&events[3], Event::Refused { member, why, what } if *member == x && why == "name_taken" && what == "Y")
    );
    assert!(
        matches!(&events[4], Event::Rename { old, name, room, .. } if old == "x" && name == "Z" && room == "rust")
    );
    // Exactly the current name is refused; a change of case is a rename.
    assert_eq!(b.rename(&x, "z", "Z"), Renamed::Taken);
    assert!(matches!(b.rename(&x, "z", "z"), Renamed::Done { .. }));
}

#[test]
fn lines_get_rising_ids_in_stream_order_and_history_keeps_them() {
    let redis = Redis::start();
    let url = redis.url();
    let mut b = broker(&redis);
    b.join(&member("a", 0), "main", None);
    b.join(&member("b", 0), "main", None);
    // Two nodes say lines at once.
    let say = |node: &'static str| {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut b = Broker::connect(&url, "test", TIMEOUT).unwrap();
            for i in 0..300 {
                let text = format!("{node} {i}");
                b.say(&member(node, 0), "main", &text, false, 0, 1000)
                    .expect("said");
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
    let (kept, older) = b.fetch("main", (590, 600), 100).unwrap();
    assert_eq!(
        kept.iter().map(|k| k.id).collect::<Vec<_>>(),
        (591..=600).collect::<Vec<_>>()
    );
    assert_eq!((kept[9].text.as_str(), older), (said[599].1.as_str(), 0));
    // The latest of a range, and how many more it holds: a subtraction of counts.
    let (kept, older) = b.fetch("main", (100, 599), 10).unwrap();
    assert_eq!(
        kept.iter().map(|k| k.id).collect::<Vec<_>>(),
        (590..=599).collect::<Vec<_>>()
    );
    assert_eq!(older, 489);
    // A line goes to the room the member is in by the order, whatever the node thought.
    b.move_to(&member("a", 0), "other");
    let id = b.say(&member("a", 0), "main", "late", false, 0, 1000);
    assert_eq!(id, Some(601));
    let (late, older) = b.fetch("other", (0, 601), 10).unwrap();
    assert_eq!((late.len(), late[0].text.as_str(), older), (1, "late", 0));
    assert_eq!(
        b.say(&member("z", 0), "main", "nobody", false, 0, 1000),
        None
    );
}

#[test]
fn history_is_capped_and_ids_continue_above_a_floor() {
    let redis = Redis::start();
    let mut b = broker(&redis);
    b.join(&member("a", 0), "main", None);
    for i in 0..10 {
        b.say(&member("a", 0), "main", &i.to_string(), i % 2 == 0, 0, 4)
            .expect("said");
    }
    let (kept, older) = b.fetch("main", (0, 10), 100).unwrap();
    assert_eq!(
        kept.iter().map(|k| k.id).collect::<Vec<_>>(),
        vec![7, 8, 9, 10]
    );
    assert_eq!(older, 0, "what was dropped is not counted");
    let (kept, older) = b.fetch("main", (0, 10), 2).unwrap();
    assert_eq!((kept[0].id, older), (9, 2));
    // Line 7 was the seventh said (i = 6): an action.
    assert!(kept[0].action && !kept[1].action && kept[0].ts == 7);
    // A node has seen id 500 (Redis lost its counter): the next id is above it.
    let id = b.say(&member("a", 0), "main", "after", false, 500, 4);
    assert_eq!(id, Some(501));
}

#[test]
fn whispers_reach_a_name_on_any_node() {
    let redis = Redis::start();
    let mut b = broker(&redis);
    b.join(&member("a", 0), "main", Some(("ann", "Ann")));
    b.join(&member("b", 3), "other", Some(("bob", "Bob")));
    assert!(matches!(
        b.whisper(&member("a", 0), "bob", "hi"),
        Whispered::Sent { .. }
    ));
    assert_eq!(
        b.whisper(&member("a", 0), "carol", "hi"),
        Whispered::NoSuchUser
    );
    assert_eq!(
        b.whisper(&member("z", 0), "bob", "hi"),
        Whispered::NotJoined
    );
    let events = all_events(&redis);
    assert_eq!(
        events.last().unwrap(),
        &Event::Refused {
            member: member("a", 0),
            why: "no_such_user".into(),
            what: "carol".into(),
        }
    );
    assert_eq!(
        events[events.len() - 2],
        Event::Whisper {
            member: member("a", 0),
            name: "Ann".into(),
            to: member("b", 3),
            to_name: "Bob".into(),
            text: "hi".into(),
            ts: 5,
        }
    );
    assert!(
        b.fetch("main", (0, 10), 10).unwrap().0.is_empty(),
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
    a.join(&member("a", 0), "main", Some(("ann", "ann")));
    a.join(&member("a", 1), "rust", None);
    b.join(&member("b", 0), "main", None);
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
    assert!(!b.join(&member("b", 1), "main", Some(("ann", "ann"))).taken);
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
    a.join(&member("a", 0), "main", Some(("ann", "ann")));
    redis.restart();
    let p = Proposal::Join {
        member: member("a", 1),
        room: "main".into(),
        wanted: None,
        quiet: false,
        again: false,
        signed: false,
    };
    assert!(a.run_one(&p, 0, 100).is_err(), "the old connection is gone");
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
    assert!(!a.join(&member("a", 0), "main", Some(("ann", "ann"))).taken);
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
    assert_eq!(got[0].event, Some(Event::Beat { node: "a".into() }));
    assert_eq!(got[0].seq, 1, "the first event of the state");
}

#[test]
fn a_pipeline_runs_its_changes_in_order_with_one_answer_each() {
    let redis = Redis::start();
    let mut b = broker(&redis);
    let (x, y) = (member("a", 0), member("a", 1));
    let wanted = |n: &str| Some((n.to_string(), n.to_string()));
    let batch = vec![
        Proposal::Join {
            member: x.clone(),
            room: "main".into(),
            wanted: wanted("x"),
            quiet: false,
            again: false,
            signed: false,
        },
        Proposal::Join {
            member: y.clone(),
            room: "main".into(),
            wanted: wanted("x"),
            quiet: false,
            again: false,
            signed: false,
        },
        Proposal::Join {
            member: x.clone(),
            room: "main".into(),
            wanted: None,
            quiet: false,
            again: false,
            signed: false,
        },
        Proposal::Say {
            member: x.clone(),
            room: "main".into(),
            text: "one".into(),
            action: false,
            ts: 1,
        },
        Proposal::Move {
            member: y.clone(),
            room: "main".into(),
            quiet: false,
        },
        Proposal::Whisper {
            member: y.clone(),
            to_key: "x".into(),
            text: "psst".into(),
            to: "x".into(),
            ts: 5,
        },
        Proposal::Say {
            member: y.clone(),
            room: "main".into(),
            text: "two".into(),
            action: false,
            ts: 1,
        },
        Proposal::Leave {
            member: x.clone(),
            reason: "closed".into(),
        },
        Proposal::Say {
            member: x.clone(),
            room: "main".into(),
            text: "gone".into(),
            action: false,
            ts: 1,
        },
    ];
    let answers = b.run(&batch, 0, 100).unwrap();
    assert_eq!(answers.len(), batch.len());
    assert!(matches!(&answers[0], Answer::Joined(Some(j)) if j.name == "x" && !j.taken));
    assert!(matches!(&answers[1], Answer::Joined(Some(j)) if j.name == "user0" && j.taken));
    assert_eq!(
        answers[2],
        Answer::Joined(None),
        "already joined: refused, not an error"
    );
    assert!(matches!(&answers[3], Answer::Said(Some((_, 1)))));
    assert_eq!(answers[4], Answer::Moved(None), "already in the room");
    assert!(matches!(
        &answers[5],
        Answer::Whispered(Whispered::Sent { .. })
    ));
    assert!(matches!(&answers[6], Answer::Said(Some((_, 2)))));
    assert!(matches!(&answers[7], Answer::Left(Some(_))));
    assert_eq!(answers[8], Answer::Said(None), "left: nothing said");
    let kinds: Vec<&str> = all_events(&redis)
        .iter()
        .map(|e| match e {
            Event::Join { .. } => "join",
            Event::Say { .. } => "say",
            Event::Whisper { .. } => "whisper",
            Event::Leave { .. } => "leave",
            Event::Refused { .. } => "refused",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["join", "join", "say", "refused", "whisper", "say", "leave"]
    );
}

#[test]
fn a_snapshot_is_the_whole_state_at_one_point_of_the_stream() {
    let redis = Redis::start();
    let mut b = broker(&redis);
    let empty = b.snapshot().unwrap();
    assert_eq!((empty.seq, empty.after.as_str(), empty.line), (0, "0-0", 0));
    assert!(empty.members.is_empty());
    b.join(&member("b", 1), "rust", Some(("bob", "Bob")));
    b.join(&member("a", 0), "main", None);
    b.say(&member("a", 0), "main", "hi", false, 0, 1000);
    let snap = b.snapshot().unwrap();
    assert_eq!(snap.epoch, empty.epoch);
    assert_eq!((snap.seq, snap.line), (3, 1));
    assert_eq!(snap.after, b.newest_event().unwrap());
    let members: Vec<(String, String, String)> = (snap.members.iter())
        .map(|p| (p.member.to_string(), p.room.clone(), p.name.clone()))
        .collect();
    assert_eq!(
        members,
        [
            ("a/0".to_string(), "main".to_string(), "user0".to_string()),
            ("b/1".to_string(), "rust".to_string(), "Bob".to_string())
        ]
    );
    // A reader from the snapshot's point sees exactly what follows.
    let mut events = Events::open(&redis.url(), "test", &snap.after, TIMEOUT).unwrap();
    b.leave(&member("b", 1), "closed");
    let next = events.next_batch().unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].seq, snap.seq + 1);
}
