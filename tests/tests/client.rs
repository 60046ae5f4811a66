//! The terminal client (`connect`), used as a person or a script would: over real sockets,
//! with piped input, and in a pseudo-terminal.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn client(rt: Rt, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_serve"));
    cmd.env("SERVE_RUNTIME", rt.name())
        .arg("connect")
        .args(args);
    cmd
}

/// Runs the client with `input` on stdin, bounded in time.
fn run_client(rt: Rt, args: &[&str], input: &str) -> Output {
    let mut child = client(rt, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the client did not exit");
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// What the fake server saw: the client's close code, and every text it sent.
type Ending = (Option<u16>, Vec<String>);

/// A one-connection WebSocket server that sends `lines`, then reports how the client ended.
fn fake_server(lines: Vec<String>) -> (String, mpsc::Receiver<Ending>) {
    fake_server_of(lines, true)
}

/// The same, agreeing to the JSON subprotocol or (like the tutorial's server) to none: then
/// the client's first handshake fails and it connects again in text.
fn fake_server_of(lines: Vec<String>, json: bool) -> (String, mpsc::Receiver<Ending>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/chat", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        if !json {
            let refused = tungstenite::accept(stream.try_clone().unwrap());
            assert!(refused.is_ok(), "the client asks for JSON first");
            stream = listener.accept().unwrap().0;
        }
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Like the chat server, it agrees to the JSON subprotocol the client asks for.
        #[allow(clippy::result_large_err)] // tungstenite's callback type
        fn agree_json(
            req: &tungstenite::handshake::server::Request,
            mut res: tungstenite::handshake::server::Response,
        ) -> Result<
            tungstenite::handshake::server::Response,
            tungstenite::handshake::server::ErrorResponse,
        > {
            if let Some(p) = req.headers().get("Sec-WebSocket-Protocol") {
                res.headers_mut()
                    .insert("Sec-WebSocket-Protocol", p.clone());
            }
            Ok(res)
        }
        let mut ws = if json {
            tungstenite::accept_hdr(stream, agree_json).unwrap()
        } else {
            tungstenite::accept(stream).unwrap()
        };
        for line in lines {
            ws.send(tungstenite::Message::text(line)).unwrap();
        }
        let mut got = Vec::new();
        loop {
            match ws.read() {
                Ok(tungstenite::Message::Text(t)) => got.push(t.to_string()),
                Ok(tungstenite::Message::Close(frame)) => {
                    let _ = tx.send((frame.map(|f| u16::from(f.code)), got));
                    let _ = ws.flush();
                    return;
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = tx.send((None, got));
                    return;
                }
            }
        }
    });
    (url, rx)
}

for_every_runtime!(
    piped_input_chats_and_end_of_input_closes,
    after_a_restart_the_client_comes_back_and_shows_every_line_once
);

/// The client stays connected through a server restart on the same store: it says so in one
/// line, comes back as the same name, and shows what it missed, nothing twice.
fn after_a_restart_the_client_comes_back_and_shows_every_line_once(rt: Rt) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let flags = ["--port", &port, "--db", db.to_str().unwrap()];
    let mut server = Server::start_with_env(rt, &[], &flags);
    let mut watcher = server.connect_as("?name=w");
    watcher.welcome();
    let url = format!("ws://{}/chat", server.addr);
    let mut child = client(rt, &[&url, "--name", "bob"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    assert_eq!(watcher.line(), "* bob joined");
    stdin.write_all(b"before\n").unwrap();
    assert_eq!(watcher.line(), "[bob]: before");
    watcher.send("to bob");
    watcher.line();
    assert!(server.terminate().success());
    drop(watcher);

    let server = Server::start_with_env(rt, &[], &flags);
    let mut watcher = server.connect_as("?name=w");
    watcher.welcome();
    watcher.send("while bob was away");
    // Comes back within its first backoff (0.5 s): its join, then its own line.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let line = watcher.line();
        if line == "* bob joined" {
            break;
        }
        assert!(Instant::now() < deadline, "bob did not come back");
    }
    // End of input: the client closes once the answers have arrived.
    stdin.write_all(b"after\n").unwrap();
    drop(stdin);
    assert_eq!(watcher.line(), "[bob]: after");
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the client did not exit");
        thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "You are connected! There are 2 users here.",
            "* you are bob in #main",
            "[bob]: before",
            "[w]: to bob",
            "[w]: while bob was away",
            "[bob]: after",
        ],
        "{out:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "* disconnected by the server: 1001 server shutting down",
            "* reconnected: you are bob in #main (2 users)",
        ]
    );
}

fn piped_input_chats_and_end_of_input_closes(rt: Rt) {
    let server = Server::start(rt, &[]);
    let mut watcher = server.connect();
    watcher.welcome();
    let url = format!("ws://{}/chat", server.addr);
    let out = run_client(rt, &[&url, "--name", "bob"], "hi\n\n/users\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "You are connected! There are 2 users here.",
            "* you are bob in #main",
            "[bob]: hi",
            "* users in #main (2): bob, user0",
        ],
        "the empty line is not sent, and the answers arrive before the close"
    );
    assert_eq!(
        watcher.lines(3),
        ["* bob joined", "[bob]: hi", "* bob left"]
    );
}

#[test]
fn exit_closes_with_1000_and_exits_0() {
    let (url, closed) = fake_server(vec!["hello".into()]);
    let out = run_client(Rt::Tokio, &[&url], "one\nexit\nnever sent\n");
    assert!(out.status.success(), "{out:?}");
    let (code, got) = closed.recv_timeout(PATIENCE).unwrap();
    assert_eq!(code, Some(1000));
    assert_eq!(got, ["one"]);
}

#[test]
fn a_server_without_json_gets_a_text_client() {
    let (url, closed) = fake_server_of(vec!["[ann]: plain text".into()], false);
    let out = run_client(Rt::Tokio, &[&url], "hi\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[ann]: plain text\n");
    let (code, got) = closed.recv_timeout(PATIENCE).unwrap();
    assert_eq!((code, got), (Some(1000), vec!["hi".to_string()]));
}

#[test]
fn end_of_input_closes_with_1000() {
    let (url, closed) = fake_server(vec![]);
    let out = run_client(Rt::Tokio, &[&url], "a\nb\n");
    assert!(out.status.success(), "{out:?}");
    let (code, got) = closed.recv_timeout(PATIENCE).unwrap();
    assert_eq!(code, Some(1000));
    assert_eq!(got, ["a", "b"]);
}

#[test]
fn incoming_escape_sequences_never_reach_the_terminal() {
    let (url, _closed) = fake_server(vec!["\u{1b}[2J\u{1b}]0;pwned\u{7}red\r[admin]: fake".into()]);
    let out = run_client(Rt::Tokio, &[&url], "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(['\u{1b}', '\u{7}', '\r']), "{stdout:?}");
    assert_eq!(
        stdout.trim_end(),
        "\u{FFFD}[2J\u{FFFD}]0;pwned\u{FFFD}red\u{FFFD}[admin]: fake"
    );
}

#[test]
fn a_server_shutdown_ends_the_client_with_the_reason() {
    let mut server = Server::start(Rt::Tokio, &[]);
    let url = format!("ws://{}/chat", server.addr);
    // Input stays open: only the server can end this session.
    let mut child = client(Rt::Tokio, &[&url, "--reconnect-for", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut greeting = [0u8; 10];
    stdout.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"You are co");
    assert!(server.terminate().success());
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < PATIENCE, "the client did not end");
        thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "* disconnected by the server: 1001 server shutting down"
    );
}

#[test]
fn refused_and_malformed_urls_fail_with_one_line() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/chat", closed.local_addr().unwrap());
    drop(closed);
    let out = run_client(Rt::Tokio, &[&url], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");

    let out = run_client(Rt::Tokio, &["ws//nope"], "");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: not a URL"), "{stderr}");
}

#[test]
fn in_a_terminal_incoming_lines_do_not_mangle_the_line_being_typed() {
    use nix::pty::{openpty, Winsize};
    let server = Server::start(Rt::Tokio, &[]);
    let size = Winsize {
        ws_row: 24,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(Some(&size), None).expect("a pseudo-terminal");
    let url = format!("ws://{}/chat", server.addr);
    let mut child = client(Rt::Tokio, &[&url, "--name", "typist"])
        .env("TERM", "xterm")
        .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave))
        .spawn()
        .unwrap();
    let mut keyboard = std::fs::File::from(pty.master);
    let mut screen_out = keyboard.try_clone().unwrap();
    let screen = std::sync::Arc::new(std::sync::Mutex::new(vt100::Parser::new(
        nonzero(24),
        nonzero(100),
        0,
    )));
    let parser = screen.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = screen_out.read(&mut buf) {
            if n == 0 {
                break;
            }
            parser.lock().unwrap().process(&buf[..n]);
        }
    });
    let wait_for = |what: &str| {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let contents = screen.lock().unwrap().screen().contents();
            if contents.contains(what) {
                return contents;
            }
            assert!(
                Instant::now() < deadline,
                "{what:?} never showed:\n{contents}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("* you are typist in #main");
    keyboard.write_all(b"hello wor").unwrap();
    wait_for("> hello wor");
    // Someone else speaks while the line is half typed.
    let mut other = server.connect_as("?name=other");
    other.welcome();
    other.send("interrupting!");
    let contents = wait_for("[other]: interrupting!");
    let rows: Vec<&str> = contents
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    let incoming = rows
        .iter()
        .position(|r| *r == "[other]: interrupting!")
        .unwrap();
    let prompt = rows.iter().rposition(|r| *r == "> hello wor");
    assert!(
        prompt.is_some_and(|p| p > incoming),
        "the typed line stays whole below the incoming one:\n{contents}"
    );
    // Finishing the line sends it whole.
    keyboard.write_all(b"ld\r").unwrap();
    loop {
        match other.line() {
            l if l == "[typist]: hello world" => break,
            l if l.starts_with("[other]") || l.starts_with("* ") => continue,
            l => panic!("unexpected {l:?}"),
        }
    }
    keyboard.write_all(b"exit\r").unwrap();
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the client did not exit");
        thread::sleep(Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
}

fn nonzero(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).expect("not zero")
}
