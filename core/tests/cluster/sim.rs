//! The simulated cluster: nodes, each a chat in cluster mode with its harness, and the
//! model broker between them.

use crate::broker::Broker;
use crate::common::Harness;
use chat_core::{Chat, Config, ConnId, Grant, Join, Member, Proposal, Signed};
use std::collections::VecDeque;
use std::sync::Arc;

/// One node: a chat in cluster mode, the proposals it made that the broker has not taken
/// yet, and where it is in the broker's log.
pub(crate) struct Node {
    pub(crate) id: Arc<str>,
    pub(crate) h: Harness,
    pub(crate) queue: VecDeque<Proposal>,
    pub(crate) applied: usize,
    /// Crashed: it does nothing more.
    pub(crate) dead: bool,
}

impl Node {
    pub(crate) fn new(id: &str, config: &Config) -> Node {
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

    pub(crate) fn collect(&mut self) {
        while let Some(p) = self.h.chat.poll_proposal() {
            self.queue.push_back(p);
        }
    }

    pub(crate) fn member(&self, conn: ConnId) -> Member {
        Member {
            node: self.id.clone(),
            conn,
        }
    }
}

/// The whole simulation, with what each user received filed away as it arrives.
pub(crate) struct Cluster {
    pub(crate) broker: Broker,
    pub(crate) nodes: Vec<Node>,
    pub(crate) config: Config,
}

impl Cluster {
    pub(crate) fn new(nodes: usize) -> Cluster {
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
    pub(crate) fn order_one(&mut self, n: usize) -> bool {
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
    pub(crate) fn deliver_one(&mut self, n: usize) -> bool {
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
    pub(crate) fn settle(&mut self) {
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

    /// `name` joins node `n`; its join is proposed, not yet ordered.
    pub(crate) fn join(&mut self, n: usize, name: &str) -> ConnId {
        let join = Join {
            name: Some(name),
            ..Join::default()
        };
        self.join_with(n, join)
    }

    /// The holder of `signed` joins node `n`.
    pub(crate) fn join_signed(&mut self, n: usize, signed: &Signed) -> ConnId {
        let join = Join {
            signed: Some(signed),
            ..Join::default()
        };
        self.join_with(n, join)
    }

    fn join_with(&mut self, n: usize, join: Join<'_>) -> ConnId {
        let node = &mut self.nodes[n];
        let id = node.h.try_join(join).expect("join accepted");
        node.h.drain();
        node.collect();
        id
    }

    pub(crate) fn send(&mut self, n: usize, id: ConnId, text: &str) {
        self.nodes[n].h.send(id, text);
        self.nodes[n].collect();
    }

    /// Redis restarted empty: every node is told it is back with a state new to it, and
    /// reads on from a snapshot of that state (as the reader does on another epoch).
    ///
    /// Events a node had not read when Redis lost them are lost with them (what survives is
    /// Redis's persistence's business); here every node has read everything first, so that
    /// what the test checks is the re-registration.
    pub(crate) fn restart_broker(&mut self) {
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
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

pub(crate) fn config() -> Config {
    Config {
        rate: 0.0,
        ..Config::default()
    }
}

/// The chat lines (not notices) in what `id` received.
pub(crate) fn chat_lines(h: &mut Harness, id: ConnId) -> Vec<String> {
    h.lines(id)
        .into_iter()
        .filter(|l| l.starts_with('['))
        .collect()
}

pub(crate) fn token(name: &str, admin: bool) -> Signed {
    Signed {
        name: name.into(),
        admin,
        rooms: Grant::None,
    }
}
