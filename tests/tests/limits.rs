//! Abuse and limits over real sockets: close codes, rate, heartbeat on the real clock,
//! connection limits, origins, shutdown. Every test runs once per runtime. The timeouts and
//! slow readers are in `timeouts.rs`, on a virtual clock.

mod common;
use common::*;
use std::io::Read;
use std::time::{Duration, Instant};
use tungstenite::Message;

for_every_runtime!(
    oversized_frames_close_with_1009,
    invalid_utf8_closes_with_1007,
    the_rate_limit_drops_and_warns,
    frames_that_concern_their_sender_alone_never_take_the_hub_lock,
    heartbeat_pings_and_drops_the_silent,
    max_connections_answers_503,
    origins_are_checked,
    shutdown_closes_everyone_with_1001_and_exits_0,
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

fn frames_that_concern_their_sender_alone_never_take_the_hub_lock(rt: Rt) {
    // One line, then (at 0.01 lines/s) no token for 100 s.
    let server = Server::start(rt, &["--burst", "1", "--rate", "0.01"]);
    let mut a = server.connect();
    a.welcome();
    a.send("first");
    assert_eq!(a.line(), "[user0]: first");
    let inputs = server.metric("chat_hub_inputs_total");
    let frames = server.metric("chat_frames_in_total");
    for i in 0..50 {
        a.send(&format!("m{i}")); // over the rate
        a.send("   "); // blank
        a.send(&"x".repeat(5000)); // over --max-message-bytes
        a.ws.send(Message::Pong(Vec::new().into())).expect("send");
        a.ws.send(Message::Binary(vec![1, 2, 3].into()))
            .expect("send");
    }
    // Every text frame is counted, as before.
    server.wait_for_metric("chat_frames_in_total", frames + 150);
    // Each too long a frame is answered; the others get a notice at most once a second.
    let (mut too_long, mut slow_down) = (0, 0);
    while too_long < 50 {
        match a.line().as_str() {
            "! message too long (max 4096 bytes)" => too_long += 1,
            "! slow down (max 0.01 lines/s)" => slow_down += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(slow_down >= 1);
    // Each connection's own client answered them: the shared hub ran nothing.
    assert_eq!(server.metric("chat_hub_inputs_total"), inputs);
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
    // Read its raw bytes without answering: a ping arrives, then a close.
    let ping = [0x89, 0x00];
    let close = [0x88, 0x0e, 0x03, 0xe9]; // close, 14 bytes: code 1001, "ping timeout"
    let mut seen = Vec::new();
    let mut chunk = [0u8; 256];
    while !seen.windows(4).any(|w| w == close) {
        match raw.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&chunk[..n]),
        }
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(550),
        "closed too early: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "closed too late: {took:?}");
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
    server.wait_for_metric("chat_connections", 0);
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
    // The clients read (and so answer the close) while the server shuts down.
    let closes: Vec<_> = [a, b]
        .into_iter()
        .map(|mut c| std::thread::spawn(move || c.expect_close()))
        .collect();
    let started = Instant::now();
    let status = server.terminate();
    let took = started.elapsed();
    for close in closes {
        assert_eq!(close.join().expect("a reader"), 1001);
    }
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        server.log.lock().unwrap()
    );
    // It exits once the last connection has ended, not after its 4 s grace period.
    assert!(took < Duration::from_millis(1500), "{took:?}");
}
