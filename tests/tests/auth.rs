//! Signed names, private rooms and `/kick` through every runtime's server, over real
//! loopback sockets: each token case (valid by `?token=` and by `Authorization: Bearer`,
//! expired, bad signature, `alg: none`, another algorithm, no `sub`, an automatic `sub`,
//! garbage), `--auth-required`, take-over, guests, private rooms through both doors,
//! `/kick` by an admin and by anyone else, and the `token` subcommand.

mod common;
use common::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};
use tungstenite::client::IntoClientRequest;

const SECRET: &str = "test-secret";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token with these claims, signed with `secret` by `alg`.
fn token_with(claims: serde_json::Value, secret: &str, alg: Algorithm) -> String {
    encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn token(name: &str, extra: serde_json::Value) -> String {
    let mut claims = json!({"sub": name, "exp": now() + 600});
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    token_with(claims, SECRET, Algorithm::HS256)
}

fn signed_server(rt: Rt, more: &[&str]) -> InProcess {
    let flags = [&["--auth-secret", SECRET, "--rate", "0"][..], more].concat();
    InProcess::start(rt, &flags)
}

/// The status and body of an upgrade with this query (sent as is).
fn refused(server: &InProcess, query: &str) -> (u16, String) {
    server.http(&format!(
        "GET /chat{query} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ))
}

fn every_token_case_is_answered(rt: Rt) {
    let server = signed_server(rt, &[]);
    let mut alice = server.connect_as(&format!("?token={}", token("alice", json!({}))));
    assert_eq!(alice.welcome(), "alice");
    // The same by header.
    let stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut request = format!("ws://{}/chat", server.addr)
        .into_client_request()
        .unwrap();
    let bearer = format!("Bearer {}", token("bob", json!({})));
    request
        .headers_mut()
        .insert("Authorization", bearer.parse().unwrap());
    let (ws, _) = tungstenite::client(request, stream).unwrap();
    assert_eq!(Client { ws }.welcome(), "bob");

    let none = {
        let header = r#"{"alg":"none","typ":"JWT"}"#;
        let body = format!(r#"{{"sub":"eve","exp":{}}}"#, now() + 600);
        use std::fmt::Write;
        let b64 = |s: &str| {
            // base64url without padding, by hand: enough for a test's forged token.
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in s.as_bytes().chunks(3) {
                let n = chunk.iter().fold(0u32, |n, b| n << 8 | u32::from(*b))
                    << (8 * (3 - chunk.len()));
                for i in 0..=chunk.len() {
                    let _ = out.write_char(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                }
            }
            out
        };
        format!("{}.{}.", b64(header), b64(&body))
    };
    let cases = [
        (
            token_with(
                json!({"sub": "eve", "exp": now() - 120}),
                SECRET,
                Algorithm::HS256,
            ),
            "invalid token: expired",
        ),
        (
            token_with(
                json!({"sub": "eve", "exp": now() + 600}),
                "wrong",
                Algorithm::HS256,
            ),
            "invalid token: bad signature",
        ),
        (none, "invalid token: "),
        (
            token_with(
                json!({"sub": "eve", "exp": now() + 600}),
                SECRET,
                Algorithm::HS512,
            ),
            "invalid token: wrong algorithm",
        ),
        (
            token_with(json!({"exp": now() + 600}), SECRET, Algorithm::HS256),
            "invalid token: missing sub",
        ),
        (
            token_with(json!({"sub": "eve"}), SECRET, Algorithm::HS256),
            "invalid token: missing exp",
        ),
        (
            token("user12", json!({})),
            "invalid token: sub is an automatic name",
        ),
        ("not.a.token".to_string(), "invalid token: malformed"),
        ("%00%ff%20garbage".to_string(), "invalid token: malformed"),
    ];
    for (bad, expected) in cases {
        let (status, body) = refused(&server, &format!("?token={bad}"));
        assert_eq!(status, 401, "{bad}");
        assert!(body.starts_with(expected), "{bad}: {body}");
        assert!(
            !body.contains(&bad) || bad.len() < 3,
            "the body never echoes the token"
        );
    }
    // A guest (no token) is let in without --auth-required, not with it.
    assert_eq!(server.connect().welcome(), "user0");
    let required = signed_server(rt, &["--auth-required"]);
    assert_eq!(refused(&required, ""), (401, "token required".to_string()));
}

fn a_newer_connection_takes_a_signed_name_over(rt: Rt) {
    let server = signed_server(rt, &[]);
    let t = token("alice", json!({}));
    let mut old = server.connect_as(&format!("?token={t}"));
    old.welcome();
    let mut guest = server.connect();
    guest.welcome();
    assert_eq!(old.line(), "* user0 joined");
    let mut new = server.connect_as(&format!("?token={t}&name=mallory"));
    assert_eq!(new.welcome(), "alice", "exactly the token's name");
    match old.next() {
        Seen::Close(code, reason) => {
            assert_eq!((code, reason.as_str()), (1008, "signed in elsewhere"))
        }
        other => panic!("expected a close, got {other:?}"),
    }
    assert_eq!(guest.lines(2), ["* alice left", "* alice joined"]);
    new.send("/nick alicia");
    assert_eq!(new.line(), "! not allowed: /nick");
    // Guests get automatic names and cannot choose one.
    let mut g = server.connect_as("?name=bob");
    assert_eq!(g.line(), "You are connected! There are 3 users here.");
    assert_eq!(g.line(), "! sign in to choose a name");
    assert_eq!(g.line(), "* you are user1 in #main");
    g.send("/nick bob");
    assert_eq!(g.line(), "! sign in to choose a name");
}

fn private_rooms_let_in_only_those_granted(rt: Rt) {
    let server = signed_server(rt, &["--private-rooms", "ops,Staff"]);
    let granted = token("olga", json!({"rooms": ["ops"]}));
    let mut olga = server.connect_as(&format!("?token={granted}&room=ops"));
    assert_eq!(olga.line(), "You are connected! There are 1 users here.");
    assert_eq!(olga.line(), "* you are olga in #ops");
    let admin = token("adam", json!({"admin": true}));
    let mut adam = server.connect_as(&format!("?token={admin}&room=ops"));
    assert_eq!(
        adam.lines(3),
        [
            "You are connected! There are 1 users here.",
            "! no access to #ops",
            "* you are adam in #main"
        ]
    );
    adam.send("/join ops");
    assert_eq!(adam.line(), "! no access to #ops");
    adam.send("/rooms");
    assert_eq!(adam.line(), "* rooms: #main (1)");
    olga.send("/rooms");
    assert_eq!(olga.line(), "* rooms: #main (1), #ops (1)");
    let mut guest = server.connect_json("?room=staff");
    let first = guest.line();
    assert!(first.contains("\"no_access\""), "{first}");
}

fn an_admin_kicks_and_nobody_else_may(rt: Rt) {
    let server = signed_server(rt, &[]);
    let mut boss = server.connect_as(&format!("?token={}", token("boss", json!({"admin": true}))));
    boss.welcome();
    let mut alice = server.connect_as(&format!("?token={}", token("alice", json!({}))));
    alice.welcome();
    assert_eq!(boss.line(), "* alice joined");
    alice.send("/kick boss");
    assert_eq!(alice.line(), "! not allowed: /kick");
    boss.send("/kick");
    assert_eq!(boss.line(), "! usage: /kick NAME [REASON]");
    boss.send("/kick nobody");
    assert_eq!(boss.line(), "! no such user: nobody");
    boss.send("/kick alice be nice");
    match alice.next() {
        Seen::Close(code, reason) => assert_eq!((code, reason.as_str()), (1008, "kicked: be nice")),
        other => panic!("expected a close, got {other:?}"),
    }
    assert_eq!(boss.line(), "* alice was kicked by boss (be nice)");
    let mut g = server.connect();
    let name = g.welcome();
    assert_eq!(boss.line(), format!("* {name} joined"));
    boss.send(&format!("/kick {name}"));
    match g.next() {
        Seen::Close(code, reason) => assert_eq!((code, reason.as_str()), (1008, "kicked")),
        other => panic!("expected a close, got {other:?}"),
    }
}

fn the_token_subcommand_mints_what_the_server_accepts(rt: Rt) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_serve"))
        .env("SERVE_RUNTIME", rt.name())
        .env("CHAT_AUTH_SECRET", SECRET)
        .args(["token", "--name", "carol", "--ttl", "15m", "--rooms", "ops"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let minted = String::from_utf8(out.stdout).unwrap();
    assert_eq!(minted.lines().count(), 1, "the token alone on one line");
    let server = signed_server(rt, &["--private-rooms", "ops"]);
    let mut carol = server.connect_as(&format!("?token={}&room=ops", minted.trim()));
    assert_eq!(carol.lines(2)[1], "* you are carol in #ops");
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_serve"))
        .env("SERVE_RUNTIME", rt.name())
        .env_remove("CHAT_AUTH_SECRET")
        .args(["token", "--name", "carol"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim(),
        "error: token needs --auth-secret or CHAT_AUTH_SECRET"
    );
}

for_every_runtime!(
    every_token_case_is_answered,
    a_newer_connection_takes_a_signed_name_over,
    private_rooms_let_in_only_those_granted,
    an_admin_kicks_and_nobody_else_may,
    the_token_subcommand_mints_what_the_server_accepts,
);

/// Neither the 401 body nor the server's log (at its most verbose) holds a refused token.
#[test]
fn the_log_never_holds_the_token() {
    let server = Server::start_with_env(
        Rt::Tokio,
        &[("RUST_LOG", "trace")],
        &["--port", "0", "--auth-secret", SECRET],
    );
    let bad = token_with(
        json!({"sub": "eve", "exp": now() - 999}),
        SECRET,
        Algorithm::HS256,
    );
    let (status, body) = server.http(&format!(
        "GET /chat?token={bad} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ));
    assert_eq!((status, body.as_str()), (401, "invalid token: expired"));
    let good = token("alice", json!({}));
    let mut alice = server.connect_as(&format!("?token={good}"));
    assert_eq!(alice.welcome(), "alice");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = server.log.lock().unwrap().clone();
    assert!(
        log.contains("upgrade refused: invalid token: expired"),
        "{log}"
    );
    for secret_part in [&bad, &good] {
        let signature = secret_part.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "the log holds a token");
    }
}
