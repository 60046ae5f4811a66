//! Random interleavings of users' inputs, orderings, deliveries, crashes and restarts,
//! checked against every rule once settled.

use crate::broker::key;
use crate::common::Got;
use crate::sim::{Cluster, Rng};
use chat_core::{ConnId, Event};
use std::collections::BTreeMap;

pub(crate) const NAMES: [&str; 4] = ["alice", "bob", "carol", "dave"];
pub(crate) const ROOMS: [&str; 3] = ["main", "rust", "ktor"];

/// One user of the simulation: where it is, what it received so far.
pub(crate) struct Sim {
    pub(crate) node: usize,
    pub(crate) id: ConnId,
    pub(crate) got: Vec<Got>,
    pub(crate) gone: bool,
    /// Stayed in `main` since joining: it must hear every line of `main` after its join.
    pub(crate) stayed: bool,
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
