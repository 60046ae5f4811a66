//! A node's link against a real Redis that is killed, restarted and paused: what the node
//! reports, and that its reader misses no event across reconnections.

use chat_cluster::broker::Member;
use chat_cluster::testing::Redis;
use chat_cluster::{Answer, Broker, Delivery, Event, Node, NodeConfig, Proposal, Status};
use std::time::{Duration, Instant};

/// A node of a fresh Redis, once connected; with the epoch it learnt.
fn connected(redis: &Redis) -> (Node, String) {
    let n = node(redis, "a");
    match status(&n, Duration::from_secs(5)) {
        Status::Connected { epoch, fresh: true } => (n, epoch),
        other => panic!("a first registration, got {other:?}"),
    }
}

fn node(redis: &Redis, name: &str) -> Node {
    Node::start(NodeConfig {
        url: redis.url(),
        prefix: "test".into(),
        node: name.into(),
        node_timeout: Duration::from_secs(10),
        retain: 100,
    })
}

fn member(node: &str, conn: u64) -> Member {
    Member {
        node: node.into(),
        conn,
    }
}

/// The next delivery that `want` accepts, skipping others (heartbeats, …), within `within`.
fn next<T>(node: &Node, within: Duration, mut want: impl FnMut(Delivery) -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        match node.deliveries().try_recv() {
            Ok(d) => {
                if let Some(found) = want(d) {
                    return found;
                }
            }
            Err(_) => {
                assert!(
                    Instant::now() < deadline,
                    "nothing wanted arrived within {within:?}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

fn status(node: &Node, within: Duration) -> Status {
    next(node, within, |d| match d {
        Delivery::Status(s) => Some(s),
        _ => None,
    })
}

/// The answer to `tag`, skipping everything else (other answers included). Generous: after
/// a pause the writer first works through a full queue.
fn answer(node: &Node, tag: u64) -> Answer {
    next(node, Duration::from_secs(30), |d| match d {
        Delivery::Answer { tag: t, answer } if t == tag => Some(answer),
        _ => None,
    })
}

fn say(m: &Member, text: &str) -> Proposal {
    Proposal::Say {
        member: m.clone(),
        room: "main".into(),
        text: text.into(),
        action: false,
        ts: 1,
    }
}

fn join(m: &Member) -> Proposal {
    Proposal::Join {
        member: m.clone(),
        room: "main".into(),
        wanted: None,
        quiet: false,
        again: false,
        signed: false,
    }
}

#[test]
fn a_node_connects_and_its_changes_come_back_as_events_in_order() {
    let redis = Redis::start();
    let (n, _) = connected(&redis);
    let me = member("a", 0);
    assert_eq!(n.propose(1, join(&me)), None);
    for i in 0..3 {
        assert_eq!(n.propose(2 + i, say(&me, &format!("line {i}"))), None);
    }
    let mut seen = Vec::new();
    while seen.len() < 8 {
        seen.push(next(&n, Duration::from_secs(5), |d| match d {
            Delivery::Event {
                event: Event::Beat { .. },
                ..
            }
            | Delivery::Status(_)
            | Delivery::Snapshot(_) => None,
            d => Some(d),
        }));
    }
    let answers: Vec<u64> = seen
        .iter()
        .filter_map(|d| match d {
            Delivery::Answer { tag, .. } => Some(*tag),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec![1, 2, 3, 4],
        "answers in the order of the proposals"
    );
    let lines: Vec<String> = seen
        .iter()
        .filter_map(|d| match d {
            Delivery::Event {
                event: Event::Say { text, id, .. },
                ..
            } => Some(format!("{id} {text}")),
            _ => None,
        })
        .collect();
    assert_eq!(lines, vec!["1 line 0", "2 line 1", "3 line 2"]);
}

#[test]
fn redis_lost_and_back_is_reported_within_5_s_and_the_state_is_new() {
    let mut redis = Redis::start();
    let (n, epoch) = connected(&redis);
    redis.kill();
    assert_eq!(status(&n, Duration::from_secs(5)), Status::Reconnecting);
    assert_eq!(n.propose(1, join(&member("a", 0))), None);
    assert_eq!(
        answer(&n, 1),
        Answer::NotSent,
        "nothing can be ordered meanwhile"
    );
    redis.restart();
    match status(&n, Duration::from_secs(5)) {
        Status::Connected {
            epoch: again,
            fresh: true,
        } => assert_ne!(again, epoch),
        other => panic!("expected a fresh state, got {other:?}"),
    }
}

#[test]
fn a_paused_redis_is_noticed_and_the_state_is_kept_when_it_resumes() {
    let redis = Redis::start();
    let (n, epoch) = connected(&redis);
    redis.signal("STOP");
    let noticed = status(&n, Duration::from_secs(5));
    redis.signal("CONT");
    assert_eq!(noticed, Status::Reconnecting);
    assert_eq!(
        status(&n, Duration::from_secs(5)),
        Status::Connected {
            epoch,
            fresh: false
        },
        "the same state: nothing to register again"
    );
}

#[test]
fn a_node_the_others_gave_up_is_told_so_and_registers_afresh() {
    let redis = Redis::start();
    let (n, _) = connected(&redis);
    // As if its lease had ended while it was cut off: another node gives it up.
    let mut con = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("ZADD")
        .arg("test:nodes")
        .arg(0)
        .arg("a")
        .query::<()>(&mut con)
        .unwrap();
    let mut other = Broker::connect(&redis.url(), "test", Duration::from_secs(5)).unwrap();
    assert_eq!(other.reap().unwrap(), 1);
    assert_eq!(status(&n, Duration::from_secs(5)), Status::GivenUp);
    assert!(matches!(
        status(&n, Duration::from_secs(5)),
        Status::Connected { fresh: true, .. }
    ));
}

#[test]
fn connections_killed_by_redis_lose_no_event_and_deliver_none_twice() {
    let redis = Redis::start();
    let (n, _) = connected(&redis);
    let me = member("a", 0);
    n.propose(0, join(&me));
    assert!(matches!(answer(&n, 0), Answer::Joined(_)));
    let mut con = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut said = Vec::new();
    let mut tag = 1;
    let mut events = Vec::new();
    for round in 0..3 {
        // Every other client of Redis (the node's writer and reader) is cut off.
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .query::<u64>(&mut con)
            .unwrap();
        let mut i = 0;
        while i < 20 {
            n.propose(tag, say(&me, &format!("{round}.{i}")));
            let got = next(&n, Duration::from_secs(10), |d| match d {
                Delivery::Answer { tag: t, answer } if t == tag => Some(Some(answer)),
                Delivery::Event {
                    event: Event::Say { id, .. },
                    ..
                } => {
                    events.push(id);
                    None
                }
                _ => None,
            });
            tag += 1;
            match got {
                Some(Answer::Said(Some((_, id)))) => {
                    said.push(id);
                    i += 1;
                }
                Some(Answer::NotSent) => std::thread::sleep(Duration::from_millis(50)),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    // The rest of the events.
    while !said.iter().all(|id| events.contains(id)) {
        next(&n, Duration::from_secs(10), |d| match d {
            Delivery::Event {
                event: Event::Say { id, .. },
                ..
            } => {
                events.push(id);
                Some(())
            }
            _ => None,
        });
    }
    // A NotSent line may still have been said (the answer was lost, not the change): the
    // events hold every answered id once, in rising order.
    assert!(
        events.windows(2).all(|w| w[0] < w[1]),
        "no event twice, none out of order: {events:?}"
    );
    for id in &said {
        assert!(
            events.contains(id),
            "line {id} was answered but never delivered"
        );
    }
}

#[test]
fn events_trimmed_before_the_node_read_them_make_its_state_stale() {
    let redis = Redis::start();
    let (n, _) = connected(&redis);
    // Wait for the reader to have read something (its own heartbeat).
    next(&n, Duration::from_secs(5), |d| match d {
        Delivery::Event {
            event: Event::Beat { .. },
            ..
        } => Some(()),
        _ => None,
    });
    // Three events appended and trimmed away at once: the reader never sees them.
    let mut con = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut pipe = redis::pipe();
    pipe.atomic();
    for _ in 0..3 {
        pipe.cmd("FCALL")
            .arg("chat_beat")
            .arg(0)
            .arg("test")
            .arg(100)
            .arg("other");
    }
    pipe.cmd("XTRIM").arg("test:events").arg("MAXLEN").arg(0);
    pipe.query::<()>(&mut con).unwrap();
    // The next event (the node's own heartbeat) shows the jump.
    assert_eq!(status(&n, Duration::from_secs(5)), Status::GivenUp);
}

#[test]
fn a_full_queue_answers_not_sent_at_once_and_the_node_goes_on() {
    let redis = Redis::start();
    let (n, _) = connected(&redis);
    let me = member("a", 0);
    n.propose(0, join(&me));
    assert!(matches!(answer(&n, 0), Answer::Joined(Some(_))));
    // Redis stops answering: the writer waits on its pipeline, proposals pile up.
    redis.signal("STOP");
    let mut refused = None;
    for tag in 1..=(chat_cluster::node::QUEUE as u64 + chat_cluster::node::BATCH as u64 + 1) {
        if let Some(refusal) = n.propose(tag, say(&me, "queued")) {
            refused = Some((tag, refusal));
            break;
        }
    }
    redis.signal("CONT");
    let (tag, refusal) = refused.expect("the queue is bounded");
    assert_eq!(refusal, Answer::NotSent);
    assert!(
        tag > chat_cluster::node::QUEUE as u64,
        "refused only once full (at {tag})"
    );
    // Redis answers again: what was queued is ordered, and so is a new line.
    let mut fresh = tag + 1;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Refused while the queue is still full; taken once it has room.
        if n.propose(fresh, say(&me, "after")).is_none() {
            if let Answer::Said(Some(_)) = answer(&n, fresh) {
                break;
            }
        } else {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(Instant::now() < deadline, "never ordered again");
        fresh += 1;
    }
}
