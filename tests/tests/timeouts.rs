//! The server's timeouts on a virtual clock, each to the millisecond: the handshake
//! deadline, the heartbeat, the grace given to a closed connection; and the slow-reader
//! drop, with no heartbeat to interfere. The servers run in this process (see
//! `InProcess`); every test runs once per runtime. `limits.rs` keeps one heartbeat test on
//! the real clock.

mod common;
use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

for_every_runtime!(
    a_half_open_handshake_is_closed_after_exactly_10_s,
    the_heartbeat_pings_after_15_s_and_closes_15_s_later,
    a_closed_client_that_reads_nothing_is_let_go_after_exactly_2_s,
    a_stalled_reader_is_dropped_and_nobody_else_loses_a_line,
);

const MS: Duration = Duration::from_millis(1);

/// Asserts that nothing arrives on `raw` (and it stays open) for a moment of real time.
fn assert_silent(raw: &mut TcpStream) {
    raw.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut byte = [0u8; 1];
    match raw.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => {
            let mut more = [0u8; 200];
            let n = raw.read(&mut more).unwrap_or(0);
            panic!(
                "expected silence, got {other:?} {byte:?} {:?}",
                String::from_utf8_lossy(&more[..n])
            )
        }
    }
    raw.set_read_timeout(Some(PATIENCE)).unwrap();
}

/// Reads exactly `n` bytes.
fn read_n(raw: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    raw.read_exact(&mut buf).expect("bytes from the server");
    buf
}

fn a_half_open_handshake_is_closed_after_exactly_10_s(rt: Rt) {
    let server = InProcess::start(rt, &[]);
    let mut raw = TcpStream::connect(server.addr).unwrap();
    raw.write_all(b"GET /chat HTTP/1.1\r\nHost: x\r\n").unwrap();
    server
        .clock
        .wait_for_sleeper(server.after(Duration::from_secs(10)));
    server.advance(Duration::from_secs(10) - MS);
    assert_silent(&mut raw);
    server.advance(MS);
    let mut buf = Vec::new();
    raw.read_to_end(&mut buf).expect("closed");
    assert!(buf.is_empty(), "no answer to half a request: {buf:?}");
}

fn the_heartbeat_pings_after_15_s_and_closes_15_s_later(rt: Rt) {
    let server = InProcess::start(rt, &[]);
    let mut live = server.connect();
    live.welcome();
    // The dead client completes the handshake, then never reads through tungstenite (which
    // would answer pings) nor writes: its raw socket shows exactly what the server sends.
    // It has a room of its own, so the live client's lines do not reach it.
    let mut dead = server.connect_as("?name=dead&room=quiet");
    let mut raw = dead.ws.get_mut().try_clone().unwrap();
    let greeting = dead.lines(2);
    assert_eq!(greeting[1], "* you are dead in #quiet");

    server.advance(Duration::from_secs(15) - MS);
    assert_silent(&mut raw);
    server.advance(MS);
    assert_eq!(read_n(&mut raw, 2), [0x89, 0x00], "an empty ping");
    assert_eq!(live.next(), Seen::Ping);
    // Any frame shows the live client is alive; its echo shows the server has seen it.
    live.send("still here");
    assert_eq!(live.line(), "[user0]: still here");

    server.advance(Duration::from_secs(15) - MS);
    assert_silent(&mut raw);
    server.advance(MS);
    let close = read_n(&mut raw, 16);
    assert_eq!(
        close[..4],
        [0x88, 0x0e, 0x03, 0xe9],
        "close, 14 bytes, 1001"
    );
    assert_eq!(&close[4..], b"ping timeout");
    // The live client, quiet for 15 s since its line, is pinged again, not closed.
    assert_eq!(live.next(), Seen::Ping);
    assert_eq!(
        server.metric("chat_dropped_connections_total{reason=\"ping_timeout\"}"),
        1
    );
    assert_eq!(server.metric("chat_connections"), 1);
}

fn a_closed_client_that_reads_nothing_is_let_go_after_exactly_2_s(rt: Rt) {
    // A queue too large to overflow: only the heartbeat ends the stuck client, and the
    // server must not wait for ever to deliver its close frame to a client that reads nothing.
    let server = InProcess::start(rt, &["--rate", "0", "--outbound-queue-bytes", "100000000"]);
    let mut stuck = server.connect();
    stuck.welcome();
    let mut sender = server.connect();
    sender.welcome();
    // 12 MB: far more than loopback socket buffers hold, so the stuck client's driver is
    // blocked writing when the chat closes it.
    let line = "z".repeat(3000);
    for start in (0..4000).step_by(10) {
        for i in start..start + 10 {
            sender.send(&format!("{i} {line}"));
        }
        for _ in 0..10 {
            sender.line();
        }
    }
    drop(sender);
    server.wait_for_metric("chat_connections", 1);
    server.advance(Duration::from_secs(15)); // the ping is queued behind the lines
                                             // The timer has sent it once it sleeps until the ping's deadline.
    server
        .clock
        .wait_for_sleeper(server.after(Duration::from_secs(15)));
    server.advance(Duration::from_secs(15)); // unanswered: closed
    server.wait_for_metric("chat_dropped_connections_total{reason=\"ping_timeout\"}", 1);
    assert_eq!(server.metric("chat_connections"), 0);
    server
        .clock
        .wait_for_sleeper(server.after(Duration::from_secs(2)));
    server.advance(Duration::from_secs(2) - MS);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        server.metric("chat_sockets"),
        1,
        "held for the grace period"
    );
    server.advance(MS);
    server.wait_for_metric("chat_sockets", 0);
    drop(stuck);
}

fn a_stalled_reader_is_dropped_and_nobody_else_loses_a_line(rt: Rt) {
    let server = InProcess::start(rt, &["--rate", "0", "--outbound-queue-bytes", "65536"]);
    let mut stalled = server.connect();
    stalled.welcome();
    let mut sender = server.connect();
    sender.welcome();
    let mut reader = server.connect();
    reader.welcome();
    assert_eq!(sender.line(), "* user2 joined");
    // 12 MB in all: far more than loopback socket buffers hold for the stalled client. The
    // two readers read each window back before the next is sent, as well-behaved clients
    // keep up; only the stalled one falls behind, however slow this machine is.
    let line = "y".repeat(3000);
    let (count, window) = (4000, 10);
    for start in (0..count).step_by(window) {
        for i in start..start + window {
            sender.send(&format!("{i} {line}"));
        }
        for client in [&mut sender, &mut reader] {
            for i in start..start + window {
                assert_eq!(
                    next_line(client),
                    format!("[user1]: {i} {line}"),
                    "line {i} in order"
                );
            }
        }
    }
    assert_eq!(
        server.metric("chat_dropped_connections_total{reason=\"slow\"}"),
        1
    );
    assert_eq!(server.metric("chat_connections"), 2);
    // Its socket goes too, although it still reads nothing: a client that stops reading
    // cannot keep a socket the chat has given up on.
    server.wait_for_metric("chat_sockets", 2);
    // Reading now, it finds the connection ended after what was already in flight.
    let mut raw = stalled.ws.get_mut().try_clone().unwrap();
    let mut rest = Vec::new();
    let _ = raw.read_to_end(&mut rest);
    assert!(rest.len() < count * line.len(), "it did not get every line");
}

/// The next chat line, past the one notice the others get when the stalled client is dropped.
fn next_line(client: &mut Client) -> String {
    match client.line() {
        notice if notice == "* user0 left" => client.line(),
        line => line,
    }
}
