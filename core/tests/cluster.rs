//! Several nodes of a cluster and a model of the broker, simulated together without
//! sockets: random interleavings of users' inputs, orderings and deliveries, node crashes
//! and broker restarts. Whatever happens, a room has one order of lines for all its
//! members, names are unique, nobody receives after leaving, members who stayed hear every
//! line of their room, and every node ends up knowing the same names, rooms and counts.

mod common;
use chat_core::{
    Chat, Config, ConnId, Event, Grant, Join, Kept, LeaveReason, Member, Present, Proposal,
    Refusal, Signed, Snapshot, Why,
};
use common::{Got, Harness};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// One node: a chat in cluster mode, the proposals it made that the broker has not taken
/// yet, and where it is in the broker's log.
struct Node {
    id: Arc<str>,
    h: Harness,
    queue: VecDeque<Proposal>,
    applied: usize,
    /// Crashed: it does nothing more.
    dead: bool,
}

impl Node {
    fn new(id: &str, config: &Config) -> Node {
        let mut h = Harness::with(config.clone());
        h.chat = Chat::in_cluster(config.clone(), id);
        h.chat.handle_broker(true);
        h.drain();
        Node {
            id: Arc::from(id),
            h,
            queue: VecDeque::new(),
            applied: 0,
            dead: false,
        }
    }

    fn collect(&mut self) {
        while let Some(p) = self.h.chat.poll_proposal() {
            self.queue.push_back(p);
        }
    }

    fn member(&self, conn: ConnId) -> Member {
        Member {
            node: self.id.clone(),
            conn,
        }
    }
}

/// What the broker knows of one member.
#[derive(Clone)]
struct Entry {
    room: Arc<str>,
    name: Arc<str>,
    quiet: bool,
}

/// The broker as the nodes see it: the checks of `cluster/src/chat.lua` on an in-memory
/// state, and the one log of events every node applies in order.
#[derive(Default)]
struct Broker {
    log: Vec<Event>,
    names: BTreeMap<String, Member>,
    members: BTreeMap<Member, Entry>,
    auto: u64,
    ids: u64,
}

fn key(name: &str) -> String {
    name.to_lowercase()
}

impl Broker {
    fn event(&mut self, e: Event) {
        self.log.push(e);
    }

    fn auto_name(&mut self) -> Arc<str> {
        loop {
            let name = format!("user{}", self.auto);
            self.auto += 1;
            if !self.names.contains_key(&name) {
                return Arc::from(name);
            }
        }
    }

    /// Orders one proposal of `node`'s (whose highest line id seen is `floor`); `false` when
    /// it is refused (the refusal is an event too, so the member hears it in its place).
    fn order(&mut self, node: &Arc<str>, p: &Proposal, floor: u64) -> bool {
        let m = Member {
            node: node.clone(),
            conn: p.from(),
        };
        let entry = self.members.get(&m).cloned();
        match p.clone() {
            Proposal::Join {
                room,
                wanted,
                quiet,
                again,
                signed,
                ..
            } => {
                if entry.is_some() {
                    return true;
                }
                if let Some(w) = wanted.as_ref().filter(|_| signed) {
                    if let Some(holder) = self.names.get(&key(w)).cloned() {
                        self.leave(&holder, Why::Elsewhere);
                    }
                }
                let free = wanted.filter(|w| !self.names.contains_key(&key(w)));
                let name = free.clone().unwrap_or_else(|| self.auto_name());
                self.names.insert(key(&name), m.clone());
                let e = Entry {
                    room: room.clone(),
                    name: name.clone(),
                    quiet,
                };
                self.members.insert(m.clone(), e);
                let line = self.ids;
                self.event(Event::Joined {
                    member: m,
                    name,
                    room,
                    taken: free.is_none(),
                    quiet,
                    again,
                    line,
                });
            }
            Proposal::Leave { .. } => self.leave(&m, Why::Left),
            Proposal::Kick {
                name, by, reason, ..
            } => {
                if entry.is_none() {
                    return true;
                }
                let Some(target) = self.names.get(&key(&name)).cloned() else {
                    return self.refuse(m, Refusal::NoSuchUser(name));
                };
                self.leave(&target, Why::Kicked { by, reason });
            }
            Proposal::Move { room, quiet, .. } => {
                let Some(e) = entry else { return true };
                if e.room == room {
                    return self.refuse(m, Refusal::AlreadyInRoom(room));
                }
                let line = self.ids;
                self.members.insert(
                    m.clone(),
                    Entry {
                        room: room.clone(),
                        name: e.name.clone(),
                        quiet,
                    },
                );
                self.event(Event::Moved {
                    member: m,
                    name: e.name,
                    from: e.room,
                    room,
                    quiet_left: e.quiet,
                    quiet,
                    line,
                });
            }
            Proposal::Rename { name, .. } => {
                let Some(e) = entry else { return true };
                let holder = self.names.get(&key(&name));
                if holder.is_some_and(|h| *h != m) || e.name == name {
                    return self.refuse(m, Refusal::NameTaken(name));
                }
                self.names.remove(&key(&e.name));
                self.names.insert(key(&name), m.clone());
                let room = e.room.clone();
                let old = e.name.clone();
                self.members.insert(
                    m.clone(),
                    Entry {
                        name: name.clone(),
                        ..e
                    },
                );
                self.event(Event::Renamed {
                    member: m,
                    old,
                    name,
                    room,
                });
            }
            Proposal::Say {
                text, action, ts, ..
            } => {
                let Some(e) = entry else { return true };
                self.ids = self.ids.max(floor) + 1;
                self.event(Event::Said(Kept {
                    id: self.ids,
                    room: e.room,
                    from: e.name,
                    text,
                    action,
                    ts,
                }));
            }
            Proposal::Whisper { to, text, ts, .. } => {
                let Some(e) = entry else { return true };
                let Some(target) = self.names.get(&key(&to)).cloned() else {
                    return self.refuse(m, Refusal::NoSuchUser(to));
                };
                let to_name = self.members[&target].name.clone();
                self.event(Event::Whispered {
                    from: m,
                    from_name: e.name,
                    to: target,
                    to_name,
                    text,
                    ts,
                });
            }
            Proposal::Sync { question, .. } => {
                if entry.is_some() {
                    self.event(Event::Synced {
                        member: m,
                        question,
                    });
                }
            }
        }
        true
    }

    fn refuse(&mut self, member: Member, refusal: Refusal) -> bool {
        self.event(Event::Refused { member, refusal });
        false
    }

    fn leave(&mut self, m: &Member, why: Why) {
        let Some(e) = self.members.remove(m) else {
            return;
        };
        if self.names.get(&key(&e.name)) == Some(m) {
            self.names.remove(&key(&e.name));
        }
        self.event(Event::Left {
            member: m.clone(),
            name: e.name,
            room: e.room,
            quiet: e.quiet,
            why,
        });
    }

    /// A node's lease ran out: its members leave, each with its event.
    fn reap(&mut self, node: &Arc<str>) {
        let gone: Vec<Member> = (self.members.keys())
            .filter(|m| m.node == *node)
            .cloned()
            .collect();
        for m in gone {
            self.leave(&m, Why::Left);
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            line: self.ids,
            members: (self.members.iter())
                .map(|(m, e)| Present {
                    member: m.clone(),
                    name: e.name.clone(),
                    room: e.room.clone(),
                    quiet: e.quiet,
                })
                .collect(),
        }
    }
}

/// The whole simulation, with what each user received filed away as it arrives.
struct Cluster {
    broker: Broker,
    nodes: Vec<Node>,
    config: Config,
}

impl Cluster {
    fn new(nodes: usize) -> Cluster {
        let config = config();
        Cluster {
            broker: Broker::default(),
            nodes: (0..nodes)
                .map(|n| Node::new(&format!("n{n}"), &config))
                .collect(),
            config,
        }
    }

    /// The broker takes node `n`'s oldest proposal.
    fn order_one(&mut self, n: usize) -> bool {
        let node = &mut self.nodes[n];
        if node.dead {
            return false;
        }
        let Some(p) = node.queue.pop_front() else {
            return false;
        };
        let floor = self.broker.ids;
        self.broker.order(&node.id, &p, floor);
        true
    }

    /// Node `n` applies the next event it has not applied.
    fn deliver_one(&mut self, n: usize) -> bool {
        let node = &mut self.nodes[n];
        if node.dead {
            return false;
        }
        let Some(e) = self.broker.log.get(node.applied) else {
            return false;
        };
        node.h.chat.handle_event(e.clone());
        node.h.drain();
        node.applied += 1;
        node.collect();
        true
    }

    /// Everything proposed is ordered and everything ordered applied, everywhere.
    fn settle(&mut self) {
        loop {
            let mut busy = false;
            for n in 0..self.nodes.len() {
                self.nodes[n].collect();
                while self.order_one(n) {
                    busy = true;
                }
            }
            for n in 0..self.nodes.len() {
                while self.deliver_one(n) {
                    busy = true;
                }
            }
            if !busy {
                return;
            }
        }
    }

    fn join(&mut self, n: usize, name: &str) -> ConnId {
        let node = &mut self.nodes[n];
        let join = Join {
            name: Some(name),
            ..Join::default()
        };
        let id = node.h.try_join(join).expect("join accepted");
        node.h.drain();
        node.collect();
        id
    }

    fn send(&mut self, n: usize, id: ConnId, text: &str) {
        self.nodes[n].h.send(id, text);
        self.nodes[n].collect();
    }

    /// Redis restarted empty: every node is told it is back with a state new to it, and
    /// reads on from a snapshot of that state (as the reader does on another epoch).
    ///
    /// Events a node had not read when Redis lost them are lost with them (what survives is
    /// Redis's persistence's business); here every node has read everything first, so that
    /// what the test checks is the re-registration.
    fn restart_broker(&mut self) {
        for n in 0..self.nodes.len() {
            while self.deliver_one(n) {}
        }
        let ids = self.broker.ids;
        let log = std::mem::take(&mut self.broker.log);
        self.broker = Broker {
            // The history log stays whole for the test's checks; nodes read on from here.
            log,
            ..Broker::default()
        };
        let _ = ids; // lost with the rest: nodes' floors keep ids rising
        let at = self.broker.log.len();
        let snapshot = self.broker.snapshot();
        for node in self.nodes.iter_mut().filter(|n| !n.dead) {
            // The connection failed: what was queued was not sent.
            node.h.chat.handle_broker(false);
            for p in node.queue.drain(..) {
                node.h.chat.handle_not_ordered(p);
            }
            node.h.chat.handle_broker(true);
            node.h.chat.handle_snapshot(snapshot.clone());
            node.h.chat.handle_fresh();
            node.h.drain();
            node.applied = at;
            node.collect();
        }
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

const NAMES: [&str; 4] = ["alice", "bob", "carol", "dave"];
const ROOMS: [&str; 3] = ["main", "rust", "ktor"];

/// One user of the simulation: where it is, what it received so far.
struct Sim {
    node: usize,
    id: ConnId,
    got: Vec<Got>,
    gone: bool,
    /// Stayed in `main` since joining: it must hear every line of `main` after its join.
    stayed: bool,
}

#[test]
fn random_interleavings_keep_every_rule_on_every_node() {
    let (mut crashes, mut restarts) = (0, 0);
    for seed in 1..=60u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut c = Cluster::new(3);
        let mut sims: Vec<Sim> = Vec::new();
        let mut said = 0;
        let mut crashed: Option<usize> = None;
        let mut restarted = false;
        for step in 0..600 {
            let n = rng.below(3);
            if Some(n) == crashed {
                continue;
            }
            match rng.below(12) {
                0 | 1 => {
                    let id = c.join(n, NAMES[rng.below(NAMES.len())]);
                    sims.push(Sim {
                        node: n,
                        id,
                        got: Vec::new(),
                        gone: false,
                        stayed: true,
                    });
                }
                2..=4 => {
                    let live: Vec<usize> = (0..sims.len())
                        .filter(|&s| !sims[s].gone && sims[s].node == n)
                        .collect();
                    if live.is_empty() {
                        continue;
                    }
                    let s = live[rng.below(live.len())];
                    let id = sims[s].id;
                    let input = match rng.below(10) {
                        0 => format!("/nick {}", NAMES[rng.below(NAMES.len())]),
                        1 => {
                            sims[s].stayed = false;
                            format!("/join {}", ROOMS[rng.below(ROOMS.len())])
                        }
                        2 => format!("/w {} psst", NAMES[rng.below(NAMES.len())]),
                        3 => "/users".to_string(),
                        4 => {
                            sims[s].gone = true;
                            c.nodes[n].h.leave(id);
                            c.nodes[n].collect();
                            continue;
                        }
                        _ => {
                            said += 1;
                            format!("line {said}")
                        }
                    };
                    c.send(n, id, &input);
                }
                5..=7 => {
                    c.order_one(n);
                }
                8..=10 => {
                    c.deliver_one(n);
                }
                _ if step >= 300 && crashed.is_none() && seed % 3 == 0 => {
                    // Node n dies: its users are gone for it, the broker reaps them.
                    crashed = Some(n);
                    crashes += 1;
                    c.nodes[n].dead = true;
                    for s in sims.iter_mut().filter(|s| s.node == n) {
                        s.gone = true;
                    }
                    let id = c.nodes[n].id.clone();
                    c.broker.reap(&id);
                }
                _ if step > 400 && !restarted && seed % 4 == 0 => {
                    restarted = true;
                    restarts += 1;
                    c.restart_broker();
                }
                _ => {}
            }
            // File what arrived, so "nothing after leaving" can be checked.
            for s in sims.iter_mut() {
                let got = c.nodes[s.node].h.read(s.id);
                if s.gone && Some(s.node) != crashed {
                    assert!(
                        got.iter().all(|g| matches!(g, Got::Close(_))),
                        "seed {seed}: {} got {got:?} after leaving",
                        s.id
                    );
                }
                if got.iter().any(|g| matches!(g, Got::Close(_))) {
                    s.gone = true; // a join that could not be ordered is closed
                }
                s.got.extend(got);
            }
        }
        c.settle();
        for s in sims.iter_mut() {
            let got = c.nodes[s.node].h.read(s.id);
            assert!(!s.gone || got.is_empty(), "seed {seed}: after leaving");
            s.got.extend(got);
        }
        check(seed, &mut c, &sims, crashed);
    }
    // The faults really happen: a crash on every third seed, a restart on every fourth.
    assert_eq!((crashes, restarts), (20, 15));
}

/// The invariants, once everything is settled.
fn check(seed: u64, c: &mut Cluster, sims: &[Sim], crashed: Option<usize>) {
    // Every live node knows the same rooms, names and counts, and it is the broker's.
    let mut broker_view: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in c.broker.members.values() {
        broker_view
            .entry(e.room.to_string())
            .or_default()
            .push(e.name.to_string());
    }
    for names in broker_view.values_mut() {
        names.sort_by_key(|n| n.to_lowercase());
    }
    let mut all = Vec::new();
    for (n, node) in c.nodes.iter().enumerate() {
        if Some(n) == crashed {
            continue;
        }
        let view: BTreeMap<String, Vec<String>> = (node.h.chat.roster().into_iter())
            .map(|(r, names)| (r.to_string(), names.iter().map(|s| s.to_string()).collect()))
            .collect();
        assert_eq!(view, broker_view, "seed {seed}: node {n} converged");
        all.push(view);
    }
    // Names are unique across rooms.
    let mut keys: Vec<String> = broker_view.values().flatten().map(|n| key(n)).collect();
    let total = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), total, "seed {seed}: unique names");

    // One order: what each user heard of chat lines is in the log's order (for those who
    // changed rooms, a room's history replay comes in between: they are left out).
    let order: BTreeMap<String, usize> = (c.broker.log.iter().enumerate())
        .filter_map(|(i, e)| match e {
            Event::Said(k) => Some((k.text.to_string(), i)),
            _ => None,
        })
        .collect();
    for s in sims.iter().filter(|s| s.stayed) {
        let heard: Vec<usize> = (s.got.iter())
            .filter_map(|g| match g {
                Got::Line(l) if l.starts_with('[') && !l.contains(" -> ") => {
                    let text = l.split_once("]: ").map(|(_, t)| t)?;
                    order.get(text).copied()
                }
                _ => None,
            })
            .collect();
        let mut sorted = heard.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(heard, sorted, "seed {seed}: {} heard in one order", s.id);
    }
    // Members who stayed in main hear every line of main after their join.
    for s in sims.iter().filter(|s| s.stayed && !s.gone) {
        let member = c.nodes[s.node].member(s.id);
        let Some(joined) = (c.broker.log.iter()).position(
            |e| matches!(e, Event::Joined { member: m, again: false, .. } if *m == member),
        ) else {
            continue;
        };
        let expected: Vec<String> = (c.broker.log[joined..].iter())
            .filter_map(|e| match e {
                Event::Said(k) if &*k.room == "main" => Some(k.text.to_string()),
                _ => None,
            })
            .collect();
        let heard: Vec<String> = (s.got.iter())
            .filter_map(|g| match g {
                Got::Line(l) if l.starts_with('[') && !l.contains(" -> ") => {
                    l.split_once("]: ").map(|(_, t)| t.to_string())
                }
                _ => None,
            })
            .filter(|t| expected.contains(t))
            .collect();
        assert_eq!(heard, expected, "seed {seed}: {} missed nothing", s.id);
    }
}

#[test]
fn the_greeting_counts_the_whole_cluster_and_names_are_claimed_once() {
    let mut c = Cluster::new(2);
    let a = c.join(0, "alice");
    c.settle();
    // Two nodes claim "bob" at once: the order gives it to one.
    let b0 = c.join(0, "bob");
    let b1 = c.join(1, "bob");
    c.settle();
    let first = c.nodes[0].h.lines(b0);
    let second = c.nodes[1].h.lines(b1);
    assert_eq!(first[0], "You are connected! There are 2 users here.");
    assert_eq!(first[1], "* you are bob in #main");
    assert_eq!(second[0], "You are connected! There are 3 users here.");
    assert_eq!(second[1], "! name taken: bob");
    assert_eq!(second[2], "* you are user0 in #main");
    assert_eq!(
        c.nodes[0].h.lines(a),
        [
            "You are connected! There are 1 users here.",
            "* you are alice in #main",
            "* bob joined",
            "* user0 joined"
        ]
    );
    // /users on either node lists everyone.
    c.send(1, b1, "/users");
    c.settle();
    assert_eq!(
        c.nodes[1].h.lines(b1),
        ["* users in #main (3): alice, bob, user0"]
    );
}

#[test]
fn whispers_renames_and_moves_cross_nodes() {
    let mut c = Cluster::new(2);
    let alice = c.join(0, "alice");
    let bob = c.join(1, "bob");
    c.settle();
    let _ = (c.nodes[0].h.read(alice), c.nodes[1].h.read(bob));
    c.send(0, alice, "/w bob psst");
    c.send(0, alice, "/w nobody psst");
    c.settle();
    assert_eq!(
        c.nodes[0].h.lines(alice),
        ["[alice -> bob]: psst", "! no such user: nobody"]
    );
    assert_eq!(c.nodes[1].h.lines(bob), ["[alice -> bob]: psst"]);
    c.send(1, bob, "/nick alice");
    c.send(1, bob, "/nick robert");
    c.settle();
    assert_eq!(
        c.nodes[1].h.lines(bob),
        ["! name taken: alice", "* bob is now known as robert"]
    );
    assert_eq!(c.nodes[0].h.lines(alice), ["* bob is now known as robert"]);
    c.send(1, bob, "/join rust");
    c.settle();
    assert_eq!(c.nodes[0].h.lines(alice), ["* robert left"]);
    assert_eq!(
        c.nodes[1].h.lines(bob),
        ["* you are robert in #rust (1 users)"]
    );
    c.send(0, alice, "/rooms");
    c.settle();
    assert_eq!(c.nodes[0].h.lines(alice), ["* rooms: #main (1), #rust (1)"]);
}

#[test]
fn a_line_the_broker_cannot_order_is_refused_to_its_sender_only() {
    let mut c = Cluster::new(1);
    let alice = c.join(0, "alice");
    c.settle();
    let _ = c.nodes[0].h.read(alice);
    c.send(0, alice, "one\ntwo");
    assert_eq!(c.nodes[0].queue.len(), 2);
    while let Some(p) = c.nodes[0].queue.pop_front() {
        c.nodes[0].h.chat.handle_not_ordered(p);
    }
    c.nodes[0].h.drain();
    assert_eq!(
        c.nodes[0].h.lines(alice),
        [
            "! not sent: the chat is reconnecting",
            "! not sent: the chat is reconnecting"
        ]
    );
    // A leave that could not be ordered is ordered when the broker is back.
    c.nodes[0].h.leave(alice);
    c.nodes[0].collect();
    let leave = c.nodes[0].queue.pop_front().expect("a leave");
    c.nodes[0].h.chat.handle_broker(false);
    c.nodes[0].h.chat.handle_not_ordered(leave);
    c.nodes[0].h.chat.handle_broker(true);
    c.settle();
    assert!(c.broker.members.is_empty(), "the name is free again");
    // A join that could not be ordered is closed with 1013.
    let id = c.nodes[0].h.try_join(Join::default()).unwrap();
    c.nodes[0].collect();
    let join = c.nodes[0].queue.pop_front().unwrap();
    c.nodes[0].h.chat.handle_not_ordered(join);
    c.nodes[0].h.drain();
    assert_eq!(c.nodes[0].h.read(id), [Got::Close(1013)]);
}

#[test]
fn after_the_broker_lost_its_state_the_nodes_register_their_users_again() {
    let mut c = Cluster::new(2);
    let alice = c.join(0, "alice");
    let bob = c.join(1, "bob");
    c.send(1, bob, "/join rust");
    c.settle();
    let _ = c.nodes[0].h.read(alice);
    c.restart_broker();
    c.settle();
    assert_eq!(c.broker.members.len(), 2);
    for node in &c.nodes {
        assert_eq!(
            node.h.chat.roster(),
            [("main", vec!["alice"]), ("rust", vec!["bob"])]
        );
    }
    // Nobody heard anyone join again; lines flow and ids go on rising.
    let got = c.nodes[0].h.lines(alice);
    assert!(!got.iter().any(|l| l.contains("joined")), "{got:?}");
    c.send(0, alice, "still here");
    c.settle();
    assert_eq!(
        chat_lines(&mut c.nodes[0].h, alice),
        ["[alice]: still here"]
    );
}

#[test]
fn a_node_that_starts_late_knows_everyone_from_its_snapshot() {
    let mut c = Cluster::new(1);
    let alice = c.join(0, "alice");
    c.settle();
    c.send(0, alice, "before");
    c.settle();
    let mut late = Node::new("late", &c.config);
    late.h.chat.handle_snapshot(c.broker.snapshot());
    late.applied = c.broker.log.len();
    c.nodes.push(late);
    let bob = c.join(1, "alice");
    c.settle();
    let got = c.nodes[1].h.lines(bob);
    assert_eq!(got[0], "You are connected! There are 2 users here.");
    assert_eq!(got[1], "! name taken: alice");
}

#[test]
fn a_node_given_up_closes_everyone_with_1012_and_starts_afresh() {
    let mut c = Cluster::new(1);
    let alice = c.join(0, "alice");
    c.settle();
    let _ = c.nodes[0].h.read(alice);
    c.nodes[0].h.chat.handle_given_up();
    c.nodes[0].h.drain();
    assert_eq!(
        c.nodes[0].h.read(alice),
        [Got::Close(1012)],
        "closed, nothing else"
    );
    assert_eq!(c.nodes[0].h.chat.connections(), 0);
    // Its leaves are ordered all the same (where it only missed events, they free names).
    c.nodes[0].collect();
    assert!(matches!(
        c.nodes[0].queue.front(),
        Some(Proposal::Leave { name, .. }) if &**name == "alice"
    ));
    let refused = c.nodes[0].h.try_join(Join::default());
    assert_eq!(
        refused,
        Err(chat_core::JoinError::Reconnecting),
        "until back"
    );
    c.broker.reap(&c.nodes[0].id.clone());
    let at = c.broker.log.len();
    c.nodes[0].h.chat.handle_snapshot(c.broker.snapshot());
    c.nodes[0].applied = at;
    c.nodes[0].h.chat.handle_broker(true);
    let again = c.join(0, "alice");
    c.settle();
    assert!(c.nodes[0]
        .h
        .lines(again)
        .contains(&"* you are alice in #main".to_string()));
}

#[test]
fn while_the_broker_is_away_users_are_told_once_and_nothing_is_ordered() {
    let mut c = Cluster::new(1);
    let alice = c.join(0, "alice");
    c.settle();
    let a = &mut c.nodes[0];
    let _ = a.h.read(alice);
    a.h.chat.handle_broker(false);
    a.h.chat.handle_broker(false);
    a.h.drain();
    assert_eq!(a.h.lines(alice), ["* the chat is reconnecting"]);
    for input in [
        "hello",
        "/me waves",
        "/users",
        "/nick al",
        "/join rust",
        "/w bob hi",
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
    assert!(a.queue.is_empty(), "nothing to order");
    let refused = a.h.try_join(Join::default());
    assert_eq!(refused, Err(chat_core::JoinError::Reconnecting));
    a.h.chat.handle_broker(true);
    a.h.drain();
    assert_eq!(a.h.lines(alice), ["* the chat is back"]);
    a.h.chat.handle_leave(alice, LeaveReason::Closed);
}

#[test]
fn a_single_server_orders_everything_itself() {
    let mut h = Harness::new();
    let alice = h.join_named("alice");
    let _ = h.read(alice);
    h.send(alice, "hi");
    h.send(alice, "/users");
    assert_eq!(h.chat.poll_proposal(), None);
    assert_eq!(
        h.lines(alice),
        ["[alice]: hi", "* users in #main (1): alice"]
    );
    h.chat.handle_broker(false);
    h.chat.handle_given_up();
    h.drain();
    h.send(alice, "still");
    assert_eq!(h.lines(alice), ["[alice]: still"]);
}

fn token(name: &str, admin: bool) -> Signed {
    Signed {
        name: name.into(),
        admin,
        rooms: Grant::None,
    }
}

impl Cluster {
    fn join_signed(&mut self, n: usize, signed: &Signed) -> ConnId {
        let node = &mut self.nodes[n];
        let join = Join {
            signed: Some(signed),
            ..Join::default()
        };
        let id = node.h.try_join(join).expect("join accepted");
        node.h.drain();
        node.collect();
        id
    }
}

#[test]
fn a_signed_name_is_taken_over_and_a_kick_reaches_another_node() {
    let mut c = Cluster::new(2);
    let alice = token("alice", false);
    let old = c.join_signed(0, &alice);
    let bob = c.join(0, "bob");
    c.settle();
    let _ = (c.nodes[0].h.read(old), c.nodes[0].h.read(bob));
    // alice signs in on the other node: the older connection is closed, the room hears a leave.
    let new = c.join_signed(1, &alice);
    c.settle();
    assert_eq!(c.nodes[0].h.read(old), [Got::Close(1008)]);
    assert_eq!(c.nodes[0].h.lines(bob), ["* alice left", "* alice joined"]);
    let got = c.nodes[1].h.lines(new);
    assert_eq!(got[1], "* you are alice in #main", "{got:?}");
    // An admin on node 1 kicks bob on node 0.
    let boss = c.join_signed(1, &token("boss", true));
    c.settle();
    let _ = (
        c.nodes[0].h.read(bob),
        c.nodes[1].h.read(new),
        c.nodes[1].h.read(boss),
    );
    c.send(1, boss, "/kick bob spamming");
    c.send(1, boss, "/kick nobody");
    c.settle();
    assert_eq!(c.nodes[0].h.read(bob), [Got::Close(1008)]);
    assert_eq!(
        c.nodes[1].h.lines(boss),
        [
            "* bob was kicked by boss (spamming)",
            "! no such user: nobody"
        ]
    );
    assert_eq!(
        c.nodes[1].h.lines(new),
        ["* bob was kicked by boss (spamming)"]
    );
    assert!(!c.broker.names.contains_key("bob"), "bob's name is free");
}
