//! The per-address limits through every runtime's server: past them an upgrade is answered
//! HTTP 429 with `Retry-After`, and a reconnect loop gets no more lines into a room than
//! one connection would.

mod common;
use common::*;
use std::time::Duration;

/// The status and `Retry-After` of a refused upgrade.
fn refused(server: &InProcess) -> (u16, Option<String>) {
    match Client::try_connect(server.addr, "", false, None) {
        Err(tungstenite::Error::Http(response)) => (
            response.status().as_u16(),
            (response.headers().get("Retry-After")).map(|v| v.to_str().unwrap().to_string()),
        ),
        Ok(_) => panic!("the upgrade was accepted"),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn past_max_connections_per_ip_is_429(rt: Rt) {
    let server = InProcess::start(rt, &["--max-connections-per-ip", "2"]);
    let mut a = server.connect();
    let mut b = server.connect();
    a.welcome();
    b.welcome();
    assert_eq!(refused(&server), (429, Some("5".into())));
    drop(a);
    server.wait_for_metric("chat_connections", 1);
    server.connect().welcome(); // a place is free again
}

fn past_the_connect_rate_is_429_until_the_bucket_refills(rt: Rt) {
    let server = InProcess::start(rt, &["--connect-burst", "3", "--connect-rate", "1"]);
    for _ in 0..3 {
        server.connect().welcome();
    }
    assert_eq!(refused(&server), (429, Some("1".into())));
    server.advance(Duration::from_secs(1));
    server.connect().welcome();
}

fn a_reconnect_loop_gets_one_connections_worth_of_lines(rt: Rt) {
    let server = InProcess::start(rt, &[]);
    let mut watcher = server.connect_as("?name=watcher");
    watcher.welcome();
    // Ten connections one after another, each trying its burst of 20 at once, no (virtual)
    // time passing: the address's bucket is passed on, so only the first frame gets through.
    for _ in 0..10 {
        let mut c = server.connect();
        c.welcome();
        c.send(&"spam\n".repeat(20));
        drop(c);
        // Gone before the next one comes: it inherits what this one left.
        server.wait_for_metric("chat_connections", 1);
    }
    watcher.send("/users"); // a marker: everything before it has arrived
    let mut spam = 0;
    loop {
        let line = watcher.line();
        if line.starts_with("* users in") {
            break;
        }
        spam += usize::from(line.ends_with("]: spam"));
    }
    assert_eq!(spam, 20);
}

for_every_runtime!(
    past_max_connections_per_ip_is_429,
    past_the_connect_rate_is_429_until_the_bucket_refills,
    a_reconnect_loop_gets_one_connections_worth_of_lines,
);
