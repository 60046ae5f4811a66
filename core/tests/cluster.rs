//! Several nodes of a cluster and a model of the broker, simulated together: whatever the
//! interleaving of proposals, orderings and deliveries, every member of a room on every node
//! hears the room's lines in the one order the broker gave them.

mod common;
use chat_core::{Chat, Config, ConnId, Event, Proposal};
use common::Harness;
use std::collections::VecDeque;

/// A node: a chat in cluster mode, its proposals not yet taken by the broker, and how many
/// of the broker's events it has applied.
struct Node {
    h: Harness,
    pending: VecDeque<Proposal>,
    applied: usize,
}

impl Node {
    fn new(config: &Config) -> Node {
        let mut h = Harness::with(config.clone());
        h.chat = Chat::in_cluster(config.clone());
        Node {
            h,
            pending: VecDeque::new(),
            applied: 0,
        }
    }

    /// Collects what the chat asks the broker to order.
    fn collect(&mut self) {
        while let Some(p) = self.h.chat.poll_proposal() {
            self.pending.push_back(p);
        }
    }
}

/// The broker as the core sees it: it takes proposals in the order it gets them, gives each
/// line the next id, and keeps the one log of events every node applies in order.
#[derive(Default)]
struct Broker {
    log: Vec<Event>,
}

impl Broker {
    fn order(&mut self, p: Proposal) {
        let id = self.log.len() as u64 + 1;
        self.log.push(p.ordered(id));
    }
}

/// A small deterministic generator (xorshift), so that each seed is one interleaving.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn config() -> Config {
    Config {
        rate: 0.0,
        ..Config::default()
    }
}

/// The chat lines (not notices) in what `id` received.
fn chat_lines(h: &mut Harness, id: ConnId) -> Vec<String> {
    h.lines(id)
        .into_iter()
        .filter(|l| l.starts_with('['))
        .collect()
}

#[test]
fn every_member_on_every_node_hears_one_order() {
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut nodes: Vec<Node> = (0..3).map(|_| Node::new(&config())).collect();
        let users: Vec<Vec<ConnId>> = nodes
            .iter_mut()
            .map(|n| (0..3).map(|_| n.h.join()).collect())
            .collect();
        let mut broker = Broker::default();
        let mut said = 0;
        for _ in 0..300 {
            match rng.below(3) {
                0 => {
                    let n = rng.below(3);
                    let u = users[n][rng.below(3)];
                    nodes[n].h.send(u, &format!("n{n} #{said}"));
                    nodes[n].collect();
                    said += 1;
                }
                1 => {
                    let n = rng.below(3);
                    if let Some(p) = nodes[n].pending.pop_front() {
                        broker.order(p);
                    }
                }
                _ => {
                    let n = rng.below(3);
                    let node = &mut nodes[n];
                    if let Some(e) = broker.log.get(node.applied) {
                        node.h.chat.handle_event(e.clone());
                        node.h.drain();
                        node.applied += 1;
                    }
                }
            }
        }
        // Everything left is ordered, then delivered everywhere.
        for node in &mut nodes {
            while let Some(p) = node.pending.pop_front() {
                broker.order(p);
            }
        }
        for node in &mut nodes {
            for e in &broker.log[node.applied..] {
                node.h.chat.handle_event(e.clone());
                node.h.drain();
            }
            assert_eq!(node.h.chat.poll_proposal(), None, "a line is proposed once");
        }
        assert_eq!(
            broker.log.len(),
            said,
            "seed {seed}: every line ordered once"
        );
        let expected: Vec<String> = broker
            .log
            .iter()
            .map(|e| match e {
                Event::Said(k) => format!("[{}]: {}", k.from, k.text),
            })
            .collect();
        for (n, node) in nodes.iter_mut().enumerate() {
            for &u in &users[n] {
                let got = chat_lines(&mut node.h, u);
                assert_eq!(got, expected, "seed {seed}: node {n}, {u}");
            }
        }
    }
}

#[test]
fn a_line_reaches_the_room_on_other_nodes_and_only_that_room() {
    let mut a = Node::new(&config());
    let mut b = Node::new(&config());
    let alice = a.h.join_named("alice");
    let bob = b.h.join_named("bob");
    let carol = b.h.join_named("carol");
    b.h.send(carol, "/join rust");
    let _ = (a.h.read(alice), b.h.read(bob), b.h.read(carol));
    a.h.send(alice, "hello from a");
    a.collect();
    assert!(
        a.h.lines(alice).is_empty(),
        "nothing is heard before it is ordered"
    );
    let mut broker = Broker::default();
    broker.order(a.pending.pop_front().expect("proposed"));
    for node in [&mut a, &mut b] {
        node.h.chat.handle_event(broker.log[0].clone());
        node.h.drain();
    }
    assert_eq!(a.h.lines(alice), ["[alice]: hello from a"]);
    assert_eq!(b.h.lines(bob), ["[alice]: hello from a"]);
    assert!(b.h.lines(carol).is_empty(), "another room hears nothing");
    // A joiner on b hears the line in the room's history.
    let dave = b.h.join_named("dave");
    let got = b.h.lines(dave);
    assert!(
        got.contains(&"[alice]: hello from a".to_string()),
        "{got:?}"
    );
}

#[test]
fn a_single_server_orders_its_lines_itself() {
    let mut h = Harness::new();
    let alice = h.join_named("alice");
    let _ = h.read(alice);
    h.send(alice, "hi");
    assert_eq!(h.chat.poll_proposal(), None);
    assert_eq!(h.lines(alice), ["[alice]: hi"]);
}

#[test]
fn a_line_the_broker_cannot_order_is_refused_to_its_sender_only() {
    let mut a = Node::new(&config());
    let alice = a.h.join_named("alice");
    let bob = a.h.join_json("bob");
    let _ = (a.h.read(alice), a.h.read(bob));
    a.h.send(alice, "one\ntwo");
    a.h.send(bob, "three");
    a.collect();
    assert_eq!(a.pending.len(), 3);
    while let Some(p) = a.pending.pop_front() {
        a.h.chat.handle_not_ordered(p);
        a.h.drain();
    }
    assert_eq!(
        a.h.lines(alice),
        [
            "! not sent: the chat is reconnecting",
            "! not sent: the chat is reconnecting"
        ]
    );
    let json = a.h.lines(bob);
    assert_eq!(json.len(), 1, "{json:?}");
    let error = common::json(&json[0]);
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("error"), Some("not_sent"))
    );
    // A sender gone meanwhile is simply not told.
    a.h.send(alice, "four");
    a.collect();
    a.h.leave(alice);
    let _ = a.h.read(bob); // alice's leave
    a.h.chat.handle_not_ordered(a.pending.pop_front().unwrap());
    a.h.drain();
    a.h.assert_quiet();
}

#[test]
fn while_the_broker_is_away_users_are_told_once_and_nothing_is_ordered() {
    let mut a = Node::new(&config());
    let alice = a.h.join_named("alice");
    let bob = a.h.join_json("bob");
    let _ = (a.h.read(alice), a.h.read(bob));
    a.h.chat.handle_broker(false);
    a.h.chat.handle_broker(false);
    a.h.drain();
    assert_eq!(a.h.lines(alice), ["* the chat is reconnecting"]);
    let told = a.h.lines(bob);
    assert_eq!(told.len(), 1, "told once: {told:?}");
    assert_eq!(
        common::json(&told[0]),
        serde_json::json!({"type": "status", "connected": false})
    );
    assert_eq!(
        chat_core::read_back::as_text(&told[0], chat_core::read_back::Welcome::Connected),
        Some(vec!["* the chat is reconnecting".to_string()])
    );
    // Lines and commands are refused, /help still answers; nothing is proposed.
    for input in [
        "hello",
        "/me waves",
        "/users",
        "/nick al",
        "/join rust",
        "/whisper bob hi",
    ] {
        a.h.send(alice, input);
        assert_eq!(
            a.h.lines(alice),
            ["! not sent: the chat is reconnecting"],
            "{input}"
        );
    }
    a.h.send(alice, "/help");
    assert!(a.h.lines(alice)[0].starts_with("* commands:"));
    a.collect();
    assert!(a.pending.is_empty(), "nothing to order");
    assert!(a.h.lines(bob).is_empty());
    // Nobody new gets in meanwhile; the connections stay.
    let refused = a.h.chat.handle_join(chat_core::Join::default(), a.h.now());
    assert_eq!(refused, Err(chat_core::JoinError::Reconnecting));
    assert_eq!(a.h.chat.connections(), 2);
    // Back: told once, and lines are ordered again.
    a.h.chat.handle_broker(true);
    a.h.drain();
    assert_eq!(a.h.lines(alice), ["* the chat is back"]);
    assert_eq!(common::json(&a.h.lines(bob)[0])["connected"], true);
    a.h.send(alice, "again");
    a.collect();
    assert_eq!(a.pending.len(), 1);
    // /quit still works while away.
    a.h.chat.handle_broker(false);
    a.h.drain();
    let _ = a.h.read(alice);
    a.h.send(alice, "/quit");
    assert!(a.h.read(alice).contains(&common::Got::Close(1000)));
}

#[test]
fn a_single_server_has_no_broker_to_lose() {
    let mut h = Harness::new();
    let alice = h.join_named("alice");
    let _ = h.read(alice);
    h.chat.handle_broker(false);
    h.drain();
    h.send(alice, "hi");
    assert_eq!(h.lines(alice), ["[alice]: hi"]);
}

#[test]
fn a_node_given_up_closes_everyone_with_1012_and_starts_afresh() {
    let mut a = Node::new(&config());
    let alice = a.h.join_named("alice");
    let bob = a.h.join_named("bob");
    a.h.send(bob, "/join rust");
    let _ = (a.h.read(alice), a.h.read(bob));
    a.h.chat.handle_given_up();
    a.h.drain();
    assert_eq!(
        a.h.read(alice),
        [common::Got::Close(1012)],
        "closed, nothing else"
    );
    assert_eq!(a.h.read(bob), [common::Got::Close(1012)]);
    assert_eq!(a.h.chat.connections(), 0);
    // Afresh: the names are free again, the clients come back.
    let again = a.h.join_named("alice");
    assert!(a
        .h
        .lines(again)
        .contains(&"* you are alice in #main".to_string()));
}

#[test]
fn a_single_server_is_never_given_up() {
    let mut h = Harness::new();
    let alice = h.join_named("alice");
    let _ = h.read(alice);
    h.chat.handle_given_up();
    h.drain();
    h.assert_quiet();
    assert_eq!(h.chat.connections(), 1);
}
