//! Abuse, through every runtime's server: past the per-address limits an upgrade is
//! answered HTTP 429 with `Retry-After`, a reconnect loop gets no more lines into a room
//! than one connection would, bad upgrades get 400, protocol errors a 1002 close frame, and
//! the page its security headers.

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

fn metrics_on_their_own_listener_and_not_on_the_chat_port(rt: Rt) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let server = Server::start(rt, &["--metrics-listen", &metrics_addr]);
    let mut c = server.connect();
    c.welcome();
    assert_eq!(server.get("/metrics").0, 404, "not on the chat port");
    assert_eq!(server.get("/healthz").0, 200);
    let metrics = Metrics(metrics_addr.parse().unwrap());
    let (status, body) = metrics.get("/metrics");
    assert_eq!(status, 200);
    assert!(body.lines().any(|l| l == "chat_connections 1"), "{body}");
    assert_eq!(metrics.get("/healthz").0, 200);
    assert_eq!(metrics.get("/chat").0, 404);
    assert_eq!(metrics.get("/").0, 404);
}

/// The metrics listener, spoken to as plain HTTP.
struct Metrics(std::net::SocketAddr);

impl Serving for Metrics {
    fn addr(&self) -> std::net::SocketAddr {
        self.0
    }
}

fn shutdown_does_not_wait_for_connections_in_the_http_phase(rt: Rt) {
    use std::io::Write;
    let mut server = Server::start(rt, &[]);
    let mut c = server.connect();
    c.welcome();
    // Half a request each, never finished.
    let stalled: Vec<std::net::TcpStream> = (0..3)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(server.addr).unwrap();
            s.write_all(b"GET /chat HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    server.wait_for_metric("chat_connections", 1);
    // The joined client answers its close frame at once, as a live client does.
    let closed = std::thread::spawn(move || c.expect_close());
    let started = std::time::Instant::now();
    assert!(server.terminate().success());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    assert_eq!(closed.join().unwrap(), 1001);
    drop(stalled);
}

/// Whether the server closed `s` (rather than leaving it waiting for `PATIENCE`).
fn closed_by_server(s: &mut std::net::TcpStream) -> bool {
    use std::io::{ErrorKind, Read};
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
    }
}

/// Whether `s` is still open and unanswered after a moment.
fn still_waiting(s: &mut std::net::TcpStream) -> bool {
    use std::io::{ErrorKind, Read};
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

fn past_the_handshake_cap_connections_are_closed_at_once(rt: Rt) {
    use std::io::Write;
    let server = InProcess::start(rt, &["--max-handshakes", "2"]);
    let stall = || {
        let mut s = std::net::TcpStream::connect(server.addr).unwrap();
        s.write_all(b"GET /chat HTTP/1.1\r\n").unwrap();
        s
    };
    let first = stall();
    let mut second = stall();
    // The third is closed without a word (the accept loop may take a moment to get to it).
    let mut third = std::net::TcpStream::connect(server.addr).unwrap();
    assert!(closed_by_server(&mut third), "closed at once");
    assert!(still_waiting(&mut second), "the second keeps its place");
    // A place frees up: a legitimate client gets in.
    drop(first);
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Ok(mut c) = Client::try_connect(server.addr, "", false, None) {
            c.welcome();
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no way in after a place freed up"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A TCP connection to `addr` from the loopback address `from` (127.0.0.0/8 is all local).
fn connect_from(from: [u8; 4], addr: std::net::SocketAddr) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((from, 0)).into())
        .unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream = std::net::TcpStream::from(socket);
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

fn one_address_cannot_hold_every_place_in_the_http_phase(rt: Rt) {
    use std::io::{Read, Write};
    let server = InProcess::start(rt, &["--max-connections-per-ip", "2"]);
    let stall = || {
        let mut s = connect_from([127, 0, 0, 1], server.addr);
        s.write_all(b"GET /chat HTTP/1.1\r\n").unwrap();
        s
    };
    let mut held = [stall(), stall()];
    // A third from the same address is closed without a word.
    let mut third = connect_from([127, 0, 0, 1], server.addr);
    assert!(closed_by_server(&mut third), "closed at once");
    assert!(
        held.iter_mut().all(still_waiting),
        "the first two keep their places"
    );
    let mut buf = [0u8; 64];
    // Another address gets in.
    let mut other = connect_from([127, 0, 0, 2], server.addr);
    other
        .write_all(
            b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
    let n = other.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}

fn at_the_descriptor_limit_new_clients_get_503_and_the_server_recovers(rt: Rt) {
    let server = Server::start_with_nofile(rt, 64, &[]);
    let mut held = Vec::new();
    let mut busy = 0;
    for _ in 0..100 {
        match Client::try_connect(server.addr, "", false, None) {
            Ok(c) => held.push(c),
            Err(tungstenite::Error::Http(r)) if r.status() == 503 => busy += 1,
            Err(e) => panic!(
                "expected a chat or a 503, got {e} after {} clients",
                held.len()
            ),
        }
    }
    assert!(
        busy > 0 && !held.is_empty(),
        "{} in, {busy} told 503",
        held.len()
    );
    drop(held);
    // As the closed connections give their descriptors back, the server answers again.
    let deadline = std::time::Instant::now() + PATIENCE;
    while server.get("/healthz") != (200, "ok".to_string()) {
        assert!(
            std::time::Instant::now() < deadline,
            "/healthz never answered again"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.wait_for_metric("chat_connections", 0);
    server.connect().welcome();
    let log = server.log.lock().unwrap().clone();
    let warnings = log.matches("out of file descriptors").count();
    assert!(
        (1..=3).contains(&warnings),
        "logged at most once a second: {log}"
    );
}

/// An upgrade with `X-Forwarded-For: forwarded`: its status, and the open stream.
fn upgrade_forwarded_for(server: &InProcess, forwarded: &str) -> (u16, std::net::TcpStream) {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let request = format!(
        "GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         X-Forwarded-For: {forwarded}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(stream.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap();
    (line.split(' ').nth(1).unwrap().parse().unwrap(), stream)
}

fn forwarded_addresses_count_only_from_a_trusted_proxy(rt: Rt) {
    // One connection per address: the forwarded address decides, from a trusted peer.
    let trusting = InProcess::start(
        rt,
        &[
            "--max-connections-per-ip",
            "1",
            "--trusted-proxies",
            "127.0.0.0/8",
        ],
    );
    let (a, _a) = upgrade_forwarded_for(&trusting, "192.0.2.1");
    let (b, _b) = upgrade_forwarded_for(&trusting, "192.0.2.2");
    let (again, _c) = upgrade_forwarded_for(&trusting, "198.51.100.7, 192.0.2.1");
    assert_eq!((a, b, again), (101, 101, 429));
    // Without --trusted-proxies the header is anyone's to send, and ignored.
    let plain = InProcess::start(rt, &["--max-connections-per-ip", "1"]);
    let (a, _a) = upgrade_forwarded_for(&plain, "192.0.2.1");
    let (b, _b) = upgrade_forwarded_for(&plain, "192.0.2.2");
    assert_eq!((a, b), (101, 429));
}

for_every_runtime!(
    forwarded_addresses_count_only_from_a_trusted_proxy,
    at_the_descriptor_limit_new_clients_get_503_and_the_server_recovers,
    past_the_handshake_cap_connections_are_closed_at_once,
    one_address_cannot_hold_every_place_in_the_http_phase,
    metrics_on_their_own_listener_and_not_on_the_chat_port,
    shutdown_does_not_wait_for_connections_in_the_http_phase,
    past_max_connections_per_ip_is_429,
    past_the_connect_rate_is_429_until_the_bucket_refills,
    a_reconnect_loop_gets_one_connections_worth_of_lines,
    bad_upgrades_get_400,
    head_and_the_pages_security_headers,
    protocol_errors_close_with_1002_and_a_close_frame,
);

/// A raw upgrade of `request`'s shape: the status line of the answer.
fn upgrade_status(server: &InProcess, version: &str, host: bool, key: &str) -> u16 {
    let host = if host { "Host: test\r\n" } else { "" };
    let request = format!(
        "GET /chat {version}\r\n{host}Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    // Only the status line: after a 101 the connection stays open.
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status")
}

fn bad_upgrades_get_400(rt: Rt) {
    let server = InProcess::start(rt, &[]);
    let good = "dGhlIHNhbXBsZSBub25jZQ==";
    assert_eq!(upgrade_status(&server, "HTTP/1.1", true, good), 101);
    assert_eq!(
        upgrade_status(&server, "HTTP/1.1", false, good),
        400,
        "no Host"
    );
    assert_eq!(
        upgrade_status(&server, "HTTP/1.0", true, good),
        400,
        "HTTP/1.0"
    );
    for key in [
        "",
        "short",
        "dGhlIHNhbXBsZSBub25jZR==",
        "dGhlIHNhbXBsZSBub25jZQdGhl",
    ] {
        assert_eq!(
            upgrade_status(&server, "HTTP/1.1", true, key),
            400,
            "key {key:?}"
        );
    }
}

fn head_and_the_pages_security_headers(rt: Rt) {
    let server = InProcess::start(rt, &[]);
    for path in ["/", "/healthz", "/metrics"] {
        let (status, body) = server.http(&format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n"));
        assert_eq!((status, body.as_str()), (200, ""), "HEAD {path}");
    }
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let head = response
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .to_ascii_lowercase();
    for header in [
        "content-security-policy: default-src 'none';",
        "connect-src 'self'",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "referrer-policy: no-referrer",
    ] {
        assert!(head.contains(header), "{header} missing in\n{head}");
    }
}

/// A joined client sends `frame` as raw bytes; what does it get back?
fn after_raw_frame(server: &InProcess, frame: &[u8]) -> Seen {
    let mut c = server.connect();
    c.welcome();
    use std::io::Write;
    c.ws.get_mut().write_all(frame).unwrap();
    loop {
        match c.next() {
            Seen::Line(_) | Seen::Ping => continue,
            other => return other,
        }
    }
}

fn protocol_errors_close_with_1002_and_a_close_frame(rt: Rt) {
    let server = InProcess::start(rt, &[]);
    let masked = |first: u8, payload: &[u8]| {
        let mut f = vec![first, 0x80 | payload.len() as u8, 1, 2, 3, 4];
        f.extend(
            payload
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]),
        );
        f
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a reserved bit", masked(0x80 | 0x40 | 0x1, b"hi")),
        ("an unmasked frame", vec![0x81, 2, b'h', b'i']),
        ("a bad opcode", masked(0x80 | 0x3, b"hi")),
        ("a control frame over 125 bytes", {
            let mut f = vec![0x89, 0x80 | 126, 0, 126, 1, 2, 3, 4];
            f.extend(std::iter::repeat_n(0, 126));
            f
        }),
        ("a bad close code", masked(0x88, &999u16.to_be_bytes())),
    ];
    for (what, frame) in cases {
        let seen = after_raw_frame(&server, &frame);
        assert!(
            matches!(seen, Seen::Close(1002, _)),
            "{what}: expected a 1002 close frame, got {seen:?}"
        );
    }
}
