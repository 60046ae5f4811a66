//! The plain HTTP routes of the one port. Every test runs once per runtime.

mod common;
use common::*;

for_every_runtime!(
    routes_answer_with_the_right_status,
    metrics_count_what_happens
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
