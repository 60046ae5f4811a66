//! Abuse and limits over real sockets: close codes, rate, heartbeat, slow readers, connection
//! limits, origins, shutdown. Every test runs once per runtime.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

for_every_runtime!(
    oversized_frames_close_with_1009,
    invalid_utf8_closes_with_1007,
    the_rate_limit_drops_and_warns,
    heartbeat_pings_and_drops_the_silent,
    a_stalled_reader_is_dropped_and_nobody_else_loses_a_line,
    a_closed_client_that_reads_nothing_is_let_go_after_a_grace_period,
    max_connections_answers_503,
    origins_are_checked,
    shutdown_closes_everyone_with_1001_and_exits_0,
    a_half_open_handshake_is_closed_after_10_s,
);

fn oversized_frames_close_with_1009(rt: Rt) {
    let server = Server::start(rt, &[]);
    let mut watcher = server.connect();
    watcher.welcome();
    let mut a = server.connect();
    a.welcome();
    watcher.line();
    a.send(&"x".repeat(64 * 1024 + 1));
    assert_eq!(a.expect_close(), 1009);
    assert_eq!(watcher.line(), "* user1 left");
    assert_eq!(
        server.metric("chat_dropped_connections_total{reason=\"too_big\"}"),
        1
    );
}

fn invalid_utf8_closes_with_1007(rt: Rt) {
    let server = Server::start(rt, &[]);
    let mut a = server.connect();
    a.welcome();
    a.send_raw_text(b"bad \xff\xfe");
    assert_eq!(a.expect_close(), 1007);
    assert_eq!(
        server.metric("chat_dropped_connections_total{reason=\"invalid_utf8\"}"),
        1
    );
}

fn the_rate_limit_drops_and_warns(rt: Rt) {
    let server = Server::start(rt, &["--burst", "3", "--rate", "1"]);
    let mut a = server.connect();
    a.welcome();
    for i in 0..5 {
        a.send(&format!("m{i}"));
    }
    assert_eq!(
        a.lines(4),
        [
            "[user0]: m0",
            "[user0]: m1",
            "[user0]: m2",
            "! slow down (max 1 lines/s)"
        ]
    );
    a.expect_nothing(Duration::from_millis(300));
}

fn heartbeat_pings_and_drops_the_silent(rt: Rt) {
    // Short enough to test quickly, long enough for a loaded CI machine to answer in time.
    let server = Server::start(rt, &["--ping-interval", "0.5", "--ping-timeout", "1"]);
    // A live client keeps reading (tungstenite answers pings while it reads) and stays.
    let mut live = server.connect();
    live.welcome();
    let live = std::thread::spawn(move || {
        let mut pings = 0;
        loop {
            match live.next() {
                Seen::Ping => pings += 1,
                Seen::Line(l) if l == "* dead left" => live.send("still here"),
                Seen::Line(l) if l == "[user0]: still here" => return pings,
                Seen::Line(_) => {}
                other => panic!("the live client was dropped: {other:?}"),
            }
        }
    });
    // A dead one completes the handshake and then never reads or writes.
    let mut dead = Client::connect(server.addr, "?name=dead", false);
    let started = Instant::now();
    let mut raw = dead.ws.get_mut().try_clone().unwrap();
    // Read its raw bytes without answering: a ping arrives, then a close, then EOF.
    let mut seen = Vec::new();
    let _ = raw.read_to_end(&mut seen);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(550),
        "closed too early: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "closed too late: {took:?}");
    let ping = [0x89, 0x00];
    let close = [0x88, 0x0e, 0x03, 0xe9]; // close, 14 bytes: code 1001, "ping timeout"
    assert!(seen.windows(2).any(|w| w == ping), "a ping came: {seen:?}");
    assert!(
        seen.windows(4).any(|w| w == close),
        "a 1001 close came: {seen:?}"
    );
    let pings = live.join().expect("the live client stayed");
    assert!(pings >= 1, "the live client was pinged too");
    assert_eq!(
        server.metric("chat_dropped_connections_total{reason=\"ping_timeout\"}"),
        1
    );
}

fn a_stalled_reader_is_dropped_and_nobody_else_loses_a_line(rt: Rt) {
    let server = Server::start(rt, &["--rate", "0", "--outbound-queue-bytes", "65536"]);
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
    wait_for_metric(&server, "chat_sockets", 2);
    // Reading now, it finds the connection ended after what was already in flight.
    let mut raw = stalled.ws.get_mut().try_clone().unwrap();
    let mut rest = Vec::new();
    let _ = raw.read_to_end(&mut rest);
    assert!(rest.len() < count * line.len(), "it did not get every line");
}

/// Waits (bounded) until a gauge in `/metrics` reads `value`.
fn wait_for_metric(server: &Server, series: &str, value: u64) {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let now = server.metric(series);
        if now == value {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} stayed at {now}, expected {value}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn a_closed_client_that_reads_nothing_is_let_go_after_a_grace_period(rt: Rt) {
    // A queue too large to overflow: only the heartbeat ends the stuck client, and the
    // server must not wait for ever to deliver its close frame to a client that reads nothing.
    let flags = [
        "--rate",
        "0",
        "--outbound-queue-bytes",
        "100000000",
        "--ping-interval",
        "0.5",
        "--ping-timeout",
        "1",
    ];
    let server = Server::start(rt, &flags);
    let mut stuck = server.connect();
    stuck.welcome();
    let mut sender = server.connect();
    sender.welcome();
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
    wait_for_metric(
        &server,
        "chat_dropped_connections_total{reason=\"ping_timeout\"}",
        1,
    );
    wait_for_metric(&server, "chat_sockets", 0);
    assert_eq!(server.metric("chat_connections"), 0);
    drop(stuck);
}

/// The next chat line, past the one notice the others get when the stalled client is dropped.
fn next_line(client: &mut Client) -> String {
    match client.line() {
        notice if notice == "* user0 left" => client.line(),
        line => line,
    }
}

fn max_connections_answers_503(rt: Rt) {
    let server = Server::start(rt, &["--max-connections", "1"]);
    let mut first = server.connect();
    first.welcome();
    match Client::try_connect(server.addr, "", false, None) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected 503, got {:?}", other.map(|_| "a connection")),
    }
    first.send("/quit");
    first.expect_close();
    // The slot frees up once the first has gone.
    let deadline = Instant::now() + PATIENCE;
    while server.metric("chat_connections") > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.connect().welcome();
}

fn origins_are_checked(rt: Rt) {
    let server = Server::start(
        rt,
        &[
            "--allowed-origins",
            "http://good.example,http://also.example",
        ],
    );
    match Client::try_connect(server.addr, "", false, Some("http://evil.example")) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| "a connection")),
    }
    let mut ok =
        Client::try_connect(server.addr, "", false, Some("http://also.example")).expect("allowed");
    ok.welcome();
}

fn shutdown_closes_everyone_with_1001_and_exits_0(rt: Rt) {
    let mut server = Server::start(rt, &[]);
    let mut a = server.connect();
    a.welcome();
    let mut b = server.connect_as("?room=elsewhere");
    b.welcome();
    let started = Instant::now();
    let status = server.terminate();
    assert_eq!(a.expect_close(), 1001);
    assert_eq!(b.expect_close(), 1001);
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        server.log.lock().unwrap()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn a_half_open_handshake_is_closed_after_10_s(rt: Rt) {
    let server = Server::start(rt, &[]);
    let mut raw = TcpStream::connect(server.addr).unwrap();
    raw.write_all(b"GET /chat HTTP/1.1\r\nHost: x\r\n").unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = raw.read_to_end(&mut buf);
    let took = started.elapsed();
    assert!(buf.is_empty(), "no answer to half a request: {buf:?}");
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(13)).contains(&took),
        "{took:?}"
    );
}
