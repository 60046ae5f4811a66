//! Several servers as one chat, over a real Redis (each test starts its own
//! `redis-server` on a free loopback port) and real nodes of mixed runtimes: the tutorial
//! exchange across nodes, whispers, one name claimed on two nodes at once, `/users` and
//! `/rooms` equal everywhere, one transcript for concurrent senders on every node, history
//! and resume across nodes, and the failures PROTOCOL.md describes: kill -9 of a node,
//! Redis restarted, a node paused past its lease.

mod common;
use chat_cluster::testing::Redis;
use common::*;
use serde_json::Value;
use std::thread;
use std::time::{Duration, Instant};

/// A node of the cluster on `redis`, with a short `--node-timeout` so that failures show
/// quickly; every test uses its own prefix too, as several chats sharing one Redis would.
fn node(rt: Rt, redis: &Redis, timeout: &str) -> Server {
    let url = redis.url();
    let node = Server::start(
        rt,
        &[
            "--cluster",
            &url,
            "--cluster-prefix",
            "test",
            "--node-timeout",
            timeout,
            "--rate",
            "0",
        ],
    );
    wait_until_connected(&node);
    node
}

/// Until the node reaches Redis (its first lease), joins get 503.
fn wait_until_connected(node: &Server) {
    let deadline = Instant::now() + PATIENCE;
    while node.get("/healthz") != (200, "ok".to_string()) {
        assert!(Instant::now() < deadline, "the node never reached Redis");
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(node.metric("chat_cluster_connected"), 1);
}

/// Reads lines until one satisfies `wanted`, within `within`; returns it.
fn line_within(c: &mut Client, within: Duration, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + within;
    loop {
        assert!(
            Instant::now() < deadline,
            "nothing matching within {within:?}"
        );
        let line = c.line();
        if wanted(&line) {
            return line;
        }
    }
}

/// The name a client got: its greeting, any refusal, then `* you are NAME in #ROOM`.
fn named(c: &mut Client) -> String {
    let greeting = c.line();
    assert!(greeting.starts_with("You are connected!"), "{greeting}");
    let you = line_within(c, PATIENCE, |l| l.starts_with("* you are "));
    you["* you are ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn a_tokio_node_and_a_smol_node_behave_as_one_chat() {
    let redis = Redis::start();
    let a = node(Rt::Tokio, &redis, "10");
    let b = node(Rt::Smol, &redis, "10");
    // The tutorial's exchange, across nodes: counts, names from one counter, lines.
    let mut alice = a.connect();
    assert_eq!(alice.line(), "You are connected! There are 1 users here.");
    assert_eq!(alice.line(), "* you are user0 in #main");
    let mut bob = b.connect();
    assert_eq!(bob.line(), "You are connected! There are 2 users here.");
    assert_eq!(bob.line(), "* you are user1 in #main");
    assert_eq!(alice.line(), "* user1 joined");
    alice.send("Hello from tokio");
    assert_eq!(alice.line(), "[user0]: Hello from tokio");
    assert_eq!(bob.line(), "[user0]: Hello from tokio");
    bob.send("Hello from smol");
    assert_eq!(bob.line(), "[user1]: Hello from smol");
    assert_eq!(alice.line(), "[user1]: Hello from smol");
    // Whispers reach a name on the other node, and only it.
    let mut carol = b.connect_as("?name=carol");
    carol.welcome();
    assert_eq!(alice.line(), "* carol joined");
    assert_eq!(bob.line(), "* carol joined");
    alice.send("/whisper carol psst");
    assert_eq!(alice.line(), "[user0 -> carol]: psst");
    // carol first gets the room's history, then the whisper.
    assert_eq!(
        carol.lines(3),
        [
            "[user0]: Hello from tokio",
            "[user1]: Hello from smol",
            "[user0 -> carol]: psst"
        ]
    );
    alice.send("/whisper nobody psst");
    assert_eq!(alice.line(), "! no such user: nobody");
    // A taken name is refused on the other node; a rename is heard everywhere.
    bob.send("/nick carol");
    assert_eq!(bob.line(), "! name taken: carol");
    bob.send("/nick bob");
    assert_eq!(bob.line(), "* user1 is now known as bob");
    assert_eq!(alice.line(), "* user1 is now known as bob");
    assert_eq!(carol.line(), "* user1 is now known as bob");
    // Rooms: a move is heard on both nodes; /users and /rooms agree everywhere.
    carol.send("/join rust");
    assert_eq!(carol.line(), "* you are carol in #rust (1 users)");
    assert_eq!(alice.line(), "* carol left");
    assert_eq!(bob.line(), "* carol left");
    for c in [&mut alice, &mut bob] {
        c.send("/users");
        assert_eq!(c.line(), "* users in #main (2): bob, user0");
        c.send("/rooms");
        assert_eq!(c.line(), "* rooms: #main (2), #rust (1)");
    }
    // A leave on one node is heard on the other, and the name is free again.
    let mut dave = a.connect_as("?room=rust");
    assert_eq!(dave.welcome(), "user2");
    assert_eq!(carol.line(), "* user2 joined");
    drop(carol);
    assert_eq!(dave.line(), "* carol left");
    dave.send("/nick carol");
    assert_eq!(dave.line(), "* user2 is now known as carol");
}

#[test]
fn one_name_claimed_on_two_nodes_at_once_goes_to_exactly_one() {
    let redis = Redis::start();
    let a = node(Rt::AsyncStd, &redis, "10");
    let b = node(Rt::Tokio, &redis, "10");
    for round in 0..20 {
        let name = format!("name{round}");
        let query = format!("?name={name}");
        let (qa, qb) = (query.clone(), query);
        let (addr_a, addr_b) = (a.addr, b.addr);
        let one = thread::spawn(move || Client::connect(addr_a, &qa, false));
        let two = thread::spawn(move || Client::connect(addr_b, &qb, false));
        let (mut one, mut two) = (one.join().unwrap(), two.join().unwrap());
        let (got_one, got_two) = (named(&mut one), named(&mut two));
        assert!(
            (got_one == name) ^ (got_two == name),
            "round {round}: exactly one is {name}: {got_one}, {got_two}"
        );
    }
}

/// A JSON chat line's id and text.
fn said(line: &str) -> Option<(u64, String)> {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    (v["type"] == "message").then(|| (v["id"].as_u64().unwrap(), v["text"].to_string()))
}

#[test]
fn concurrent_senders_on_every_node_give_every_member_one_transcript() {
    let redis = Redis::start();
    let nodes = [
        node(Rt::Tokio, &redis, "10"),
        node(Rt::AsyncStd, &redis, "10"),
        node(Rt::Smol, &redis, "10"),
    ];
    const LINES: usize = 200;
    let mut clients: Vec<Client> = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for k in 0..2 {
            let mut c = node.connect_json(&format!("?name=n{n}c{k}"));
            assert!(c.line().contains("\"welcome\""));
            clients.push(c);
        }
    }
    thread::sleep(Duration::from_millis(300)); // every join is applied everywhere
    let senders: Vec<_> = (0..nodes.len())
        .map(|n| {
            let mut c = Client::connect(nodes[n].addr, &format!("?name=sender{n}"), false);
            c.welcome();
            thread::spawn(move || {
                for i in 0..LINES {
                    c.send(&format!("s{n} {i}"));
                }
                c
            })
        })
        .collect();
    let total = LINES * nodes.len();
    let transcripts: Vec<Vec<(u64, String)>> = clients
        .into_iter()
        .map(|mut c| {
            thread::spawn(move || {
                let mut got = Vec::new();
                while got.len() < total {
                    if let Some(line) = said(&c.line()) {
                        got.push(line);
                    }
                }
                got
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let first = &transcripts[0];
    let ids: Vec<u64> = first.iter().map(|(id, _)| *id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids rise in the order seen"
    );
    for (k, t) in transcripts.iter().enumerate() {
        assert_eq!(t, first, "member {k} saw the same lines in the same order");
    }
    // Each sender's lines in the order it sent them.
    for n in 0..nodes.len() {
        let mine: Vec<&String> = (first.iter())
            .filter(|(_, t)| t.starts_with(&format!("\"s{n} ")))
            .map(|(_, t)| t)
            .collect();
        let sent: Vec<String> = (0..LINES).map(|i| format!("\"s{n} {i}\"")).collect();
        assert_eq!(mine.len(), LINES);
        assert!(mine.iter().zip(&sent).all(|(a, b)| *a == b));
    }
}

#[test]
fn history_and_resume_work_across_nodes() {
    let redis = Redis::start();
    let a = node(Rt::Smol, &redis, "10");
    let mut alice = a.connect_json("?name=alice&room=ktor");
    assert!(alice.line().contains("\"welcome\""));
    for i in 0..5 {
        alice.send(&format!("line {i}"));
    }
    let seen: Vec<(u64, String)> = (0..5).filter_map(|_| said(&alice.line())).collect();
    assert_eq!(seen.len(), 5);
    drop(alice);
    thread::sleep(Duration::from_millis(200)); // the room is empty everywhere: history is Redis's
                                               // A node started after the lines were said replays them from Redis, with their ids.
    let b = node(Rt::Tokio, &redis, "10");
    let mut bob = b.connect_json("?name=bob&room=ktor");
    assert!(bob.line().contains("\"welcome\""));
    let replayed: Vec<(u64, String)> = (0..5).filter_map(|_| said(&bob.line())).collect();
    assert_eq!(replayed, seen);
    // A resume on the other node gets exactly what came after `since`.
    let since = seen[2].0;
    let mut back = a.connect_json(&format!("?name=carol&room=ktor&since={since}"));
    assert!(back.line().contains("\"welcome\""));
    let resumed: Vec<(u64, String)> = (0..2).filter_map(|_| said(&back.line())).collect();
    assert_eq!(resumed, seen[3..]);
    back.send("after");
    let (id, _) = said(&back.line()).unwrap();
    assert!(id > seen[4].0, "ids go on rising");
}

#[test]
fn a_node_killed_with_sigkill_has_its_users_leave_within_the_node_timeout() {
    let redis = Redis::start();
    let a = node(Rt::Tokio, &redis, "2");
    let mut b = node(Rt::Smol, &redis, "2");
    let mut alice = a.connect_as("?name=alice");
    alice.welcome();
    let mut bob = b.connect_as("?name=bob");
    bob.welcome();
    assert_eq!(alice.line(), "* bob joined");
    bob.send("before");
    assert_eq!(alice.line(), "[bob]: before");
    let killed = Instant::now();
    b.kill();
    // node-timeout (2 s) plus 2 s at most.
    assert_eq!(
        line_within(&mut alice, Duration::from_secs(5), |_| true),
        "* bob left"
    );
    assert!(killed.elapsed() <= Duration::from_secs(4) + Duration::from_millis(500));
    // The others chat on; the name is free; counts no longer show bob.
    alice.send("/users");
    assert_eq!(alice.line(), "* users in #main (1): alice");
    let mut again = a.connect_as("?name=bob");
    assert_eq!(again.welcome(), "bob");
}

#[test]
fn while_redis_is_away_users_are_told_and_refused_and_the_state_comes_back_whole() {
    let mut redis = Redis::start();
    let a = node(Rt::AsyncStd, &redis, "10");
    let b = node(Rt::Smol, &redis, "10");
    let mut alice = a.connect_as("?name=alice");
    alice.welcome();
    let mut bob = b.connect_as("?name=bob&room=rust");
    bob.welcome();
    redis.kill();
    let lost = Instant::now();
    for c in [&mut alice, &mut bob] {
        assert_eq!(
            line_within(c, Duration::from_secs(6), |_| true),
            "* the chat is reconnecting"
        );
    }
    assert!(lost.elapsed() <= Duration::from_secs(5) + Duration::from_millis(500));
    // Lines and commands are refused; /help still answers; connections stay.
    alice.send("hello?");
    assert_eq!(alice.line(), "! not sent: the chat is reconnecting");
    bob.send("/users");
    assert_eq!(bob.line(), "! not sent: the chat is reconnecting");
    alice.send("/help");
    assert!(alice.line().starts_with("* commands:"));
    assert_eq!(a.get("/healthz"), (503, "degraded".to_string()));
    assert_eq!(b.metric("chat_cluster_connected"), 0);
    let refused = Client::try_connect(a.addr, "", false, None).err();
    assert!(
        matches!(&refused, Some(tungstenite::Error::Http(r)) if r.status() == 503),
        "new upgrades get 503: {refused:?}"
    );
    // Redis comes back empty: told within 5 s, and names, rooms and counts are whole.
    redis.restart();
    let back = Instant::now();
    for c in [&mut alice, &mut bob] {
        assert_eq!(
            line_within(c, Duration::from_secs(6), |_| true),
            "* the chat is back"
        );
    }
    assert!(back.elapsed() <= Duration::from_secs(5) + Duration::from_millis(500));
    wait_until_connected(&a);
    thread::sleep(Duration::from_millis(300)); // the re-registrations are applied
    for c in [&mut alice, &mut bob] {
        c.send("/rooms");
        assert_eq!(c.line(), "* rooms: #main (1), #rust (1)");
    }
    let mut carol = b.connect_as("?name=alice");
    let other = named(&mut carol);
    assert_ne!(other, "alice", "alice's name is still hers");
    assert_eq!(alice.line(), format!("* {other} joined"));
    alice.send("still here");
    assert_eq!(alice.line(), "[alice]: still here");
}

#[test]
fn a_node_paused_past_its_lease_closes_with_1012_and_rejoins_afresh() {
    let redis = Redis::start();
    let a = node(Rt::Smol, &redis, "2");
    let b = node(Rt::Tokio, &redis, "2");
    let mut alice = a.connect_as("?name=alice");
    alice.welcome();
    let mut bob = b.connect_as("?name=bob");
    bob.welcome();
    assert_eq!(alice.line(), "* bob joined");
    b.signal("STOP");
    assert_eq!(
        line_within(&mut alice, Duration::from_secs(5), |_| true),
        "* bob left"
    );
    alice.send("/users");
    assert_eq!(alice.line(), "* users in #main (1): alice");
    b.signal("CONT");
    // The paused node finds its lease gone: its users are closed with 1012 to come back.
    assert_eq!(bob.expect_close(), 1012);
    wait_until_connected(&b);
    let mut back = b.connect_as("?name=bob");
    assert_eq!(back.welcome(), "bob");
    assert_eq!(alice.line(), "* bob joined");
    back.send("/users");
    assert_eq!(back.line(), "* users in #main (2): alice, bob");
}

#[test]
fn a_node_stopped_with_sigterm_has_its_users_leave_at_once() {
    let redis = Redis::start();
    let a = node(Rt::AsyncStd, &redis, "10");
    let mut b = node(Rt::Tokio, &redis, "10");
    let mut alice = a.connect_as("?name=alice");
    alice.welcome();
    let mut bob = b.connect_as("?name=bob");
    bob.welcome();
    assert_eq!(alice.line(), "* bob joined");
    let stopped = Instant::now();
    assert!(b.terminate().success());
    assert_eq!(bob.expect_close(), 1001);
    // Well before the 10 s node timeout: the node ordered the leave as it stopped.
    assert_eq!(alice.line(), "* bob left");
    assert!(stopped.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_node_killed_in_a_flood_leaves_one_order_without_gaps_or_doubles() {
    let redis = Redis::start();
    let a = node(Rt::Smol, &redis, "2");
    let mut b = node(Rt::AsyncStd, &redis, "2");
    let mut readers: Vec<Client> = (0..2)
        .map(|k| {
            let mut c = a.connect_json(&format!("?name=reader{k}"));
            assert!(c.line().contains("\"welcome\""));
            c
        })
        .collect();
    let mut flooder = b.connect_as("?name=flooder");
    flooder.welcome();
    thread::sleep(Duration::from_millis(200));
    let flood = thread::spawn(move || {
        // Until the node dies under it; bounded in count either way.
        for i in 0..200_000 {
            if flooder
                .ws
                .send(tungstenite::Message::text(format!("f {i}")))
                .is_err()
            {
                return;
            }
        }
    });
    thread::sleep(Duration::from_millis(300));
    b.kill();
    flood.join().unwrap();
    // Every reader: the flood's lines in the order sent, ids rising, then the leave.
    let transcripts: Vec<Vec<(u64, String)>> = readers
        .iter_mut()
        .map(|c| {
            let mut got = Vec::new();
            loop {
                let line = c.line();
                if line.contains("\"leave\"") || line.contains("left") {
                    return got;
                }
                got.extend(said(&line));
            }
        })
        .collect();
    let first = &transcripts[0];
    assert!(
        first.len() > 100,
        "the flood reached the other node: {}",
        first.len()
    );
    assert_eq!(transcripts[1], *first, "one transcript");
    for (k, (id, text)) in first.iter().enumerate() {
        assert_eq!(
            *text,
            format!("\"f {k}\""),
            "in order, none missing, none doubled"
        );
        assert!(k == 0 || *id > first[k - 1].0);
    }
}

/// A token for `name` signed with the cluster tests' secret.
fn cluster_token(name: &str, admin: bool) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_serve"))
        .env("SERVE_RUNTIME", "tokio")
        .args(["token", "--auth-secret", "cluster-secret", "--name", name])
        .args(admin.then_some("--admin"))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_take_over_and_a_kick_reach_the_node_that_holds_the_connection() {
    let redis = Redis::start();
    let url = redis.url();
    let start = |rt| {
        let node = Server::start(
            rt,
            &[
                "--cluster",
                &url,
                "--cluster-prefix",
                "auth",
                "--auth-secret",
                "cluster-secret",
            ],
        );
        wait_until_connected(&node);
        node
    };
    let (a, b) = (start(Rt::Tokio), start(Rt::Smol));
    let alice = cluster_token("alice", false);
    let mut old = a.connect_as(&format!("?token={alice}"));
    old.welcome();
    let mut guest = a.connect();
    guest.welcome();
    assert_eq!(old.line(), "* user0 joined");
    // alice signs in on the other node: the node holding the old connection closes it.
    let mut new = b.connect_as(&format!("?token={alice}"));
    assert_eq!(named(&mut new), "alice");
    match old.next() {
        Seen::Close(code, reason) => {
            assert_eq!((code, reason.as_str()), (1008, "signed in elsewhere"))
        }
        other => panic!("expected a close, got {other:?}"),
    }
    assert_eq!(guest.lines(2), ["* alice left", "* alice joined"]);
    // An admin on node b kicks the guest on node a.
    let mut boss = b.connect_as(&format!("?token={}", cluster_token("boss", true)));
    named(&mut boss);
    assert_eq!(guest.line(), "* boss joined");
    boss.send("/kick user0 off you go");
    assert_eq!(guest.expect_close(), 1008);
    assert_eq!(
        line_within(&mut boss, PATIENCE, |l| l.contains("kicked")),
        "* user0 was kicked by boss (off you go)"
    );
}
