//! The plain HTTP routes of the one port. Every test runs once per runtime.

mod common;
use common::*;

for_every_runtime!(
    routes_answer_with_the_right_status,
    metrics_count_what_happens,
    settings_come_from_the_environment_too,
);

fn routes_answer_with_the_right_status(rt: Rt) {
    let server = Server::start(rt, &[]);
    assert_eq!(server.get("/healthz"), (200, "ok".to_string()));
    let (status, page) = server.get("/");
    assert_eq!(status, 200);
    assert!(page.starts_with("<!doctype html>"));
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "no external assets"
    );
    assert_eq!(server.get("/chat").0, 426);
    assert_eq!(server.get("/nope").0, 404);
    assert_eq!(server.get("/chat/more").0, 404);
    assert_eq!(
        server
            .http("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            .0,
        405
    );
    assert_eq!(server.http("NOT HTTP AT ALL\r\n\r\n").0, 400);
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(9000));
    assert_eq!(server.http(&huge).0, 431);
    let old = "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    assert_eq!(server.http(old).0, 426);
}

fn metrics_count_what_happens(rt: Rt) {
    let server = Server::start(rt, &[]);
    let mut a = server.connect();
    a.welcome();
    let mut b = server.connect_as("?room=other");
    b.welcome();
    a.send("one");
    a.line();
    assert_eq!(server.metric("chat_connections"), 2);
    assert_eq!(server.metric("chat_rooms"), 2);
    assert_eq!(server.metric("chat_frames_in_total"), 1);
    // Greeting and welcome for each, plus the one line.
    assert_eq!(server.metric("chat_frames_out_total"), 5);
    let (_, body) = server.get("/metrics");
    assert!(body.contains("# TYPE chat_dropped_connections_total counter"));
}

fn settings_come_from_the_environment_too(rt: Rt) {
    // PORT, as in the tutorial's application.conf.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let port_text = port.to_string();
    let server = Server::start_with_env(rt, &[("PORT", &port_text)], &[]);
    assert_eq!(server.addr.port(), port);
    drop(server);
    // Every flag has its CHAT_* variable; a flag wins over it.
    let env = [
        ("CHAT_PORT", "0"),
        ("CHAT_MAX_CONNECTIONS", "1"),
        ("CHAT_HISTORY", "1"),
    ];
    let server = Server::start_with_env(rt, &env, &[]);
    let mut first = server.connect();
    first.welcome();
    match Client::try_connect(server.addr, "", false, None) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!(
            "CHAT_MAX_CONNECTIONS=1 should refuse a second: {:?}",
            other.map(|_| "ok")
        ),
    }
    let server = Server::start_with_env(rt, &env, &["--max-connections", "2"]);
    let mut a = server.connect();
    a.welcome();
    for text in ["one", "two"] {
        a.send(text);
        a.line();
    }
    let mut b = server.connect();
    b.welcome();
    assert_eq!(b.line(), "[user0]: two", "CHAT_HISTORY=1 keeps one line");
    b.expect_nothing(std::time::Duration::from_millis(300));
}
