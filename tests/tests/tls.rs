//! TLS through every runtime's server: a certificate made in the test (rcgen), wss and
//! https on the port, a plain-text client closed cleanly, the TLS handshake within the
//! 10 s handshake limit, and files that cannot be read or parsed refused with exit status 2.

mod common;
use common::*;
use futures_rustls::rustls::pki_types::{CertificateDer, ServerName};
use futures_rustls::rustls::{self, ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;
use tungstenite::client::IntoClientRequest;

/// A self-signed certificate for 127.0.0.1 and localhost, in a temporary directory.
struct Cert {
    dir: tempfile::TempDir,
    der: CertificateDer<'static>,
}

impl Cert {
    fn new() -> Cert {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        Cert {
            der: cert.der().clone(),
            dir,
        }
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).to_str().unwrap().to_string()
    }

    fn flags(&self) -> Vec<String> {
        let (cert, key) = (self.path("cert.pem"), self.path("key.pem"));
        vec!["--tls-cert".into(), cert, "--tls-key".into(), key]
    }

    /// A TLS connection to `addr` that trusts only this certificate.
    fn connect(&self, addr: std::net::SocketAddr) -> StreamOwned<ClientConnection, TcpStream> {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let conn = ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        StreamOwned::new(conn, tcp)
    }
}

/// Reads until the server closes the connection; panics if it does not within PATIENCE.
fn closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Ok(_) => got,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => got,
        Err(e) => panic!("not closed: {e}"),
    }
}

fn flags(cert: &Cert) -> Vec<String> {
    cert.flags()
}

fn start(rt: Rt, cert: &Cert) -> InProcess {
    let flags = flags(cert);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    InProcess::start(rt, &flags)
}

fn wss_and_https_work_on_the_tls_port(rt: Rt) {
    let cert = Cert::new();
    let server = start(rt, &cert);
    let request = format!("wss://127.0.0.1:{}/chat?name=alice", server.addr.port())
        .into_client_request()
        .unwrap();
    let (ws, _) = tungstenite::client(request, cert.connect(server.addr)).unwrap();
    let mut ws = ws;
    let greeting = ws.read().unwrap().into_text().unwrap();
    assert_eq!(
        greeting.as_str(),
        "You are connected! There are 1 users here."
    );
    let you = ws.read().unwrap().into_text().unwrap();
    assert_eq!(you.as_str(), "* you are alice in #main");
    ws.send(tungstenite::Message::text("over tls")).unwrap();
    assert_eq!(
        ws.read().unwrap().into_text().unwrap().as_str(),
        "[alice]: over tls"
    );
    // Plain HTTP routes, over TLS.
    let mut https = cert.connect(server.addr);
    https
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    let _ = https.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("ok"), "{response}");
}

fn a_plain_text_client_is_closed_cleanly(rt: Rt) {
    let cert = Cert::new();
    let server = start(rt, &cert);
    let mut plain = TcpStream::connect(server.addr).unwrap();
    plain.set_read_timeout(Some(PATIENCE)).unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Closed (perhaps after a TLS alert), never answered in plain text, never left hanging.
    let answer = closed(&mut plain);
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    // The server goes on serving TLS clients.
    let request = format!("wss://127.0.0.1:{}/chat", server.addr.port())
        .into_client_request()
        .unwrap();
    assert!(tungstenite::client(request, cert.connect(server.addr)).is_ok());
}

fn the_tls_handshake_counts_against_the_handshake_limit(rt: Rt) {
    let cert = Cert::new();
    let server = start(rt, &cert);
    let mut silent = TcpStream::connect(server.addr).unwrap();
    silent.set_read_timeout(Some(PATIENCE)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.advance(Duration::from_millis(9_900));
    // Not yet: one byte of a ClientHello keeps nothing alive beyond the limit either.
    silent.write_all(&[0x16]).unwrap();
    server.advance(Duration::from_millis(200));
    let mut rest = Vec::new();
    let _ = silent.read_to_end(&mut rest);
    assert!(
        rest.is_empty() || rest[0] == 0x15,
        "closed (an alert at most): {rest:?}"
    );
}

fn unreadable_or_unparsable_files_stop_the_server_with_status_2(rt: Rt) {
    let cert = Cert::new();
    let (code, log) = run_to_exit(
        rt,
        &[
            "--tls-cert",
            "/no/such/cert.pem",
            "--tls-key",
            &cert.path("key.pem"),
        ],
    );
    assert_eq!(code, Some(2));
    assert!(
        log.contains("error: cannot read /no/such/cert.pem: No such file"),
        "{log}"
    );
    let junk = cert.path("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let (code, log) = run_to_exit(
        rt,
        &["--tls-cert", &junk, "--tls-key", &cert.path("key.pem")],
    );
    assert_eq!(code, Some(2));
    assert!(
        log.contains(&format!("error: {junk} holds no PEM certificate")),
        "{log}"
    );
    let (code, log) = run_to_exit(
        rt,
        &["--tls-cert", &cert.path("cert.pem"), "--tls-key", &junk],
    );
    assert_eq!(code, Some(2));
    assert!(
        log.contains(&format!("error: {junk} is not a PEM private key")),
        "{log}"
    );
    assert_eq!(log.lines().count(), 1, "one line: {log}");
}

/// The terminal client over wss, trusting the server's certificate with `--ca`, signed in
/// with `--token` (sent as `Authorization: Bearer`); a bad token ends it with the reason.
fn the_terminal_client_signs_in_over_wss(rt: Rt) {
    use std::process::{Command, Stdio};
    let cert = Cert::new();
    let mut flags = cert.flags();
    flags.extend(["--auth-secret".to_string(), "tls-secret".to_string()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = InProcess::start(rt, &flags);
    let serve = env!("CARGO_BIN_EXE_serve");
    let minted = Command::new(serve)
        .env("SERVE_RUNTIME", rt.name())
        .args(["token", "--auth-secret", "tls-secret", "--name", "alice"])
        .output()
        .unwrap();
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_string();
    let url = format!("wss://127.0.0.1:{}/chat", server.addr.port());
    let run = |token: &str| {
        let mut child = Command::new(serve)
            .env("SERVE_RUNTIME", rt.name())
            .env("CHAT_TOKEN", token)
            .args([
                "connect",
                &url,
                "--ca",
                &cert.path("cert.pem"),
                "--reconnect-for",
                "0",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"hello over tls\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(&token);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("* you are alice in #main"), "{stdout}");
    assert!(stdout.contains("[alice]: hello over tls"), "{stdout}");
    let refused = run("not-a-token");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("HTTP 401 Unauthorized: invalid token: malformed"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-a-token"), "the token is never echoed");
}

/// Junk on the TLS accept path: random bytes, and random bytes behind a TLS record header.
/// Every connection is closed (at the latest by the handshake limit) and the server serves on.
fn junk_on_the_tls_port_is_closed_and_the_server_serves_on(rt: Rt) {
    let cert = Cert::new();
    let server = start(rt, &cert);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut junk: Vec<TcpStream> = (0..60)
        .map(|i| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            let len = (next() % 600) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 2 == 0 {
                // A handshake record's header, then junk.
                bytes.splice(0..0, [0x16, 0x03, 0x01, (len >> 8) as u8, len as u8]);
            }
            let _ = s.write_all(&bytes);
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    server.advance(Duration::from_secs(11));
    for s in &mut junk {
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let answer = closed(s);
        assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    }
    let request = format!("wss://127.0.0.1:{}/chat", server.addr.port())
        .into_client_request()
        .unwrap();
    let (mut ws, _) = tungstenite::client(request, cert.connect(server.addr)).unwrap();
    assert!(ws
        .read()
        .unwrap()
        .into_text()
        .unwrap()
        .starts_with("You are connected!"));
}

for_every_runtime!(
    junk_on_the_tls_port_is_closed_and_the_server_serves_on,
    the_terminal_client_signs_in_over_wss,
    wss_and_https_work_on_the_tls_port,
    a_plain_text_client_is_closed_cleanly,
    the_tls_handshake_counts_against_the_handshake_limit,
    unreadable_or_unparsable_files_stop_the_server_with_status_2,
);
