//! The per-address limits on the virtual clock: a reconnect loop buys nothing, notices from
//! it are bounded, concurrent connections keep their own rate, and an address may open only
//! so many connections, so fast.

mod common;
use chat_core::{Config, ConnId, Join, JoinError, LeaveReason};
use common::*;
use std::net::IpAddr;
use std::time::Duration;

const ATTACKER: [u8; 4] = [192, 0, 2, 1];

fn from(addr: [u8; 4]) -> Join<'static> {
    Join {
        addr: Some(IpAddr::from(addr)),
        ..Join::default()
    }
}

/// Connect, send a frame of 20 lines, close; every 100 ms for `secs` seconds. Returns what
/// a watcher in the room received from the loop.
fn reconnect_loop(h: &mut Harness, join: Join<'_>, secs: u64) -> Vec<String> {
    let watcher = h.join_quiet("watcher");
    for _ in 0..secs * 10 {
        let id = h.try_join(join).expect("admitted");
        h.drain();
        h.send(id, &"spam\n".repeat(20));
        h.chat.handle_leave(id, LeaveReason::Closed);
        h.drain();
        h.read(id);
        h.advance(Duration::from_millis(100));
    }
    h.lines(watcher)
}

#[test]
fn a_reconnect_loop_gets_no_more_lines_than_one_connection() {
    let config = Config::default();
    let budget = config.burst as usize + (config.rate * 10.0) as usize;
    let mut h = Harness::with(config);
    let seen = reconnect_loop(&mut h, from(ATTACKER), 10);
    let lines = seen.iter().filter(|l| l.ends_with("]: spam")).count();
    assert!(lines <= budget, "{lines} lines in 10 s, budget {budget}");
    assert!(
        lines >= budget - 20,
        "it still gets its fair share: {lines}"
    );
    // Without an address (or with the limits off) every connection has a full bucket.
    let mut v1 = Harness::new();
    let seen = reconnect_loop(&mut v1, Join::default(), 10);
    assert_eq!(
        seen.iter().filter(|l| l.ends_with("]: spam")).count(),
        100 * 20
    );
}

#[test]
fn notices_from_a_reconnect_loop_are_bounded_and_come_in_pairs() {
    let config = Config::default();
    let budget = config.burst as usize + (config.rate * 10.0) as usize;
    let mut h = Harness::with(config);
    let seen = reconnect_loop(&mut h, from(ATTACKER), 10);
    let joined = seen.iter().filter(|l| l.ends_with(" joined")).count();
    let left = seen.iter().filter(|l| l.ends_with(" left")).count();
    assert!(joined <= budget, "{joined} join notices, budget {budget}");
    assert_eq!(joined, left, "an unannounced join leaves unannounced");
}

#[test]
fn concurrent_connections_of_one_address_each_keep_their_own_rate() {
    let mut h = Harness::new();
    let watcher = h.join_quiet("watcher");
    let ids: Vec<ConnId> = (0..3)
        .map(|_| h.try_join(from(ATTACKER)).unwrap())
        .collect();
    h.drain();
    for id in &ids {
        h.send(*id, &"burst\n".repeat(20));
    }
    let got = h.lines(watcher);
    assert_eq!(got.iter().filter(|l| l.ends_with("]: burst")).count(), 60);
}

#[test]
fn an_address_may_hold_and_open_only_so_many_connections() {
    let config = Config {
        max_connections_per_ip: 3,
        connect_burst: 5,
        connect_rate: 2.0,
        ..Config::default()
    };
    let mut h = Harness::with(config);
    let open: Vec<ConnId> = (0..3)
        .map(|_| h.try_join(from(ATTACKER)).unwrap())
        .collect();
    assert_eq!(
        h.try_join(from(ATTACKER)).unwrap_err(),
        JoinError::TooManyFromAddress(3)
    );
    // Another address is not affected.
    assert!(h.try_join(from([192, 0, 2, 2])).is_ok());
    // Closing one frees a place; the connect burst (5) is then used up.
    h.chat.handle_leave(open[0], LeaveReason::Closed);
    let fourth = h.try_join(from(ATTACKER)).unwrap();
    h.chat.handle_leave(fourth, LeaveReason::Closed);
    let fifth = h.try_join(from(ATTACKER)).unwrap();
    h.chat.handle_leave(fifth, LeaveReason::Closed);
    match h.try_join(from(ATTACKER)) {
        Err(JoinError::TooFast(wait)) => assert_eq!(wait, Duration::from_millis(500)),
        other => panic!("expected TooFast, got {other:?}"),
    }
    h.advance(Duration::from_millis(499));
    assert!(h.try_join(from(ATTACKER)).is_err());
    h.advance(Duration::from_millis(1));
    assert!(h.try_join(from(ATTACKER)).is_ok());
}

#[test]
fn with_the_limits_off_an_address_is_not_counted() {
    let config = Config {
        max_connections_per_ip: 0,
        connect_rate: 0.0,
        ..Config::default()
    };
    let mut h = Harness::with(config);
    for _ in 0..500 {
        h.try_join(from(ATTACKER)).unwrap();
    }
}
