//! One case of the cluster each: greetings, names, whispers across nodes, the broker's
//! refusals and outages, a node given up, a single server.

use crate::common::{Got, Harness};
use crate::sim::{chat_lines, token, Cluster, Node};
use chat_core::{Join, LeaveReason, Proposal};

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
