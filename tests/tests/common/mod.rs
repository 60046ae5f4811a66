//! Loopback harness: start a server of one runtime (a process on the real clock, or in this
//! process on a virtual clock), talk to it with real clients.
// Each test file uses its own part of the harness.
#![allow(dead_code)]

use chat_server::Runtime;
use chat_tests::virtual_time::{Virtual, VirtualClock};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::{Message, WebSocket};

/// How long any single wait in a test may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// Generates one `#[test]` per runtime for each suite function `fn(Rt)`.
#[macro_export]
macro_rules! for_every_runtime {
    ($($test:ident),* $(,)?) => {
        mod tokio { $( #[test] fn $test() { super::$test($crate::common::Rt::Tokio) } )* }
        mod async_std { $( #[test] fn $test() { super::$test($crate::common::Rt::AsyncStd) } )* }
        mod smol { $( #[test] fn $test() { super::$test($crate::common::Rt::Smol) } )* }
    };
}

#[derive(Clone, Copy, Debug)]
pub enum Rt {
    Tokio,
    AsyncStd,
    Smol,
}

impl Rt {
    pub fn name(self) -> &'static str {
        match self {
            Rt::Tokio => "tokio",
            Rt::AsyncStd => "async-std",
            Rt::Smol => "smol",
        }
    }
}

/// A server process on 127.0.0.1 and a free port; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(rt: Rt, flags: &[&str]) -> Server {
        let mut all = vec!["--port", "0"];
        all.extend_from_slice(flags);
        Self::start_with_env(rt, &[], &all)
    }

    /// Starts a server with these environment variables and flags (and `--host 127.0.0.1`,
    /// but no `--port`: pass one, or set `PORT` or `CHAT_PORT`), as `serve_command` does.
    pub fn start_with_env(rt: Rt, env: &[(&str, &str)], flags: &[&str]) -> Server {
        Self::spawn(rt, serve_command(rt, env, flags))
    }

    /// Starts a server (as [`start`](Self::start)) with at most `nofile` file descriptors,
    /// through util-linux's `prlimit`.
    pub fn start_with_nofile(rt: Rt, nofile: u32, flags: &[&str]) -> Server {
        let flags = [&["--port", "0"][..], flags].concat();
        let serve = serve_command(rt, &[], &flags);
        let mut command = Command::new("prlimit");
        command
            .arg(format!("--nofile={nofile}:{nofile}"))
            .arg(serve.get_program())
            .args(serve.get_args())
            .envs(serve.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .env_remove("PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Self::spawn(rt, command)
    }

    fn spawn(rt: Rt, mut command: Command) -> Server {
        let mut child = command.spawn().expect("start the serve binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        // Keep draining stderr for the server's whole life, so it never blocks on a full pipe.
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                panic!(
                    "{} server did not start: {}",
                    rt.name(),
                    log.lock().unwrap()
                )
            });
        Server {
            child,
            addr: addr.parse().expect("a socket address"),
            log,
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit after SIGTERM"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Server {
    /// Sends a signal (`STOP`, `CONT`, …) and returns at once.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Sends SIGKILL and waits: no shutdown, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The serve binary of `rt` with these environment variables and flags after
/// `--host 127.0.0.1`, logging at `info`, `PORT` unset unless `env` sets it; stdin and stdout
/// closed, stderr piped. The history is in memory
/// (`--db :memory:`) unless the flags or environment name a store.
fn serve_command(rt: Rt, env: &[(&str, &str)], flags: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_serve"));
    if !flags.contains(&"--db") && !env.iter().any(|(k, _)| *k == "CHAT_DB") {
        command.env("CHAT_DB", ":memory:");
    }
    command
        .env("SERVE_RUNTIME", rt.name())
        .env("RUST_LOG", "info")
        .env_remove("PORT")
        .envs(env.iter().copied())
        .args(["--host", "127.0.0.1"])
        .args(flags)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs the serve binary with `flags` (and `--host 127.0.0.1 --port 0`), expecting it to
/// exit by itself within [`PATIENCE`]; returns its exit code and what it wrote to stderr.
pub fn run_to_exit(rt: Rt, flags: &[&str]) -> (Option<i32>, String) {
    let flags = [&["--port", "0"][..], flags].concat();
    let mut child = serve_command(rt, &[], &flags)
        .spawn()
        .expect("start the serve binary");
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} server did not exit by itself", rt.name());
        }
        thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What every test server offers: its address, WebSocket clients and plain HTTP to it.
pub trait Serving {
    fn addr(&self) -> SocketAddr;

    fn connect(&self) -> Client {
        Client::connect(self.addr(), "", false)
    }

    fn connect_as(&self, query: &str) -> Client {
        Client::connect(self.addr(), query, false)
    }

    fn connect_json(&self, query: &str) -> Client {
        Client::connect(self.addr(), query, true)
    }

    /// Plain HTTP: sends `request` as is, returns the status code and body.
    fn http(&self, request: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr()).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(request.as_bytes()).expect("send request");
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response).into_owned();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {response:?}"));
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.http(&format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"))
    }

    /// The value of one series in `/metrics`.
    fn metric(&self, series: &str) -> u64 {
        let (_, body) = self.get("/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {body}"))
    }

    /// Waits (bounded, in real time) until a gauge in `/metrics` reads `value`.
    fn wait_for_metric(&self, series: &str, value: u64) {
        let deadline = Instant::now() + Duration::from_secs(8);
        loop {
            let now = self.metric(series);
            if now == value {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{series} stayed at {now}, expected {value}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Serving for Server {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server in this process, on a [`VirtualClock`]: its timeouts fire when the test
/// [`advance`](Self::advance)s the clock, not before. Shut down and joined when dropped.
pub struct InProcess {
    pub addr: SocketAddr,
    pub clock: VirtualClock,
    stop: Option<async_channel::Sender<()>>,
    thread: Option<thread::JoinHandle<Result<(), chat_server::Error>>>,
}

impl InProcess {
    /// Starts `rt`'s server with these flags (and `--host 127.0.0.1 --port 0`).
    pub fn start(rt: Rt, flags: &[&str]) -> InProcess {
        match rt {
            Rt::Tokio => Self::start_on(chat_tokio::Tokio::new().expect("tokio"), flags),
            Rt::AsyncStd => Self::start_on(chat_async_std::AsyncStd::default(), flags),
            Rt::Smol => Self::start_on(chat_smol::Smol::default(), flags),
        }
    }

    fn start_on<R: Runtime>(inner: R, flags: &[&str]) -> InProcess {
        use clap::Parser;
        let args = [
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--db",
            ":memory:",
        ];
        let args = chat_server::Args::try_parse_from(args.iter().chain(flags)).expect("flags");
        let settings = args.settings().expect("settings");
        let socket = chat_server::runtime::listen(settings.listen).expect("bind");
        let addr = socket.local_addr().expect("bound address");
        let clock = VirtualClock::new();
        let rt = Virtual::new(inner, clock.clone());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let thread = thread::spawn(move || {
            let shutdown = async move {
                let _ = stopped.recv().await;
            };
            rt.block_on(chat_server::serve_on(
                rt.clone(),
                socket,
                settings,
                shutdown,
            ))
        });
        InProcess {
            addr,
            clock,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// The virtual time now plus `by`: where a timeout armed now will fall.
    pub fn after(&self, by: Duration) -> Instant {
        self.clock.now().at + by
    }
}

impl Serving for InProcess {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        drop(self.stop.take());
        let Some(thread) = self.thread.take() else {
            return;
        };
        // Past every grace period, so that shutdown cannot wait on a client still connected.
        let deadline = Instant::now() + PATIENCE;
        while !thread.is_finished() && Instant::now() < deadline {
            self.clock.advance(Duration::from_secs(1));
            thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() && !thread::panicking() {
            thread.join().expect("server thread").expect("server ran");
        }
    }
}

/// What a client saw next.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    Line(String),
    Ping,
    Close(u16, String),
    /// The connection ended without a close frame.
    Gone,
}

/// A blocking WebSocket client with a read timeout.
pub struct Client {
    pub ws: WebSocket<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr, query: &str, json: bool) -> Client {
        Self::try_connect(addr, query, json, None).expect("WebSocket handshake")
    }

    pub fn try_connect(
        addr: SocketAddr,
        query: &str,
        json: bool,
        origin: Option<&str>,
    ) -> Result<Client, tungstenite::Error> {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut request = format!("ws://{addr}/chat{query}").into_client_request()?;
        if json {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", "chat.v1.json".parse().unwrap());
        }
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", origin.parse().unwrap());
        }
        match tungstenite::client(request, stream) {
            Ok((ws, _)) => Ok(Client { ws }),
            Err(tungstenite::HandshakeError::Failure(e)) => Err(e),
            Err(tungstenite::HandshakeError::Interrupted(_)) => {
                panic!("blocking handshake interrupted")
            }
        }
    }

    pub fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send");
    }

    /// Sends a text frame with arbitrary bytes, valid UTF-8 or not.
    pub fn send_raw_text(&mut self, bytes: &[u8]) {
        let frame = Frame::message(bytes.to_vec(), OpCode::Data(Data::Text), true);
        self.ws.send(Message::Frame(frame)).expect("send frame");
    }

    /// The next event, pings included.
    pub fn next(&mut self) -> Seen {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Seen::Line(t.to_string()),
                Ok(Message::Ping(_)) => return Seen::Ping,
                Ok(Message::Close(frame)) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| {
                        (f.code.into(), f.reason.to_string())
                    });
                    return Seen::Close(code, reason);
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    panic!("nothing arrived within {PATIENCE:?}")
                }
                Err(_) => return Seen::Gone,
            }
        }
    }

    /// The next line, skipping pings.
    pub fn line(&mut self) -> String {
        loop {
            match self.next() {
                Seen::Line(l) => return l,
                Seen::Ping => continue,
                other => panic!("expected a line, got {other:?}"),
            }
        }
    }

    pub fn lines(&mut self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.line()).collect()
    }

    /// Reads the greeting and `* you are …`, returning the name.
    pub fn welcome(&mut self) -> String {
        let greeting = self.line();
        assert!(
            greeting.starts_with("You are connected! There are "),
            "{greeting}"
        );
        let you = self.line();
        you.strip_prefix("* you are ")
            .and_then(|r| r.split(' ').next())
            .unwrap_or_else(|| panic!("not a welcome: {you}"))
            .to_string()
    }

    /// Reads past lines and pings to the server's close frame; returns its code. Panics if
    /// the connection ends without one.
    pub fn expect_close(&mut self) -> u16 {
        loop {
            match self.next() {
                Seen::Close(code, _) => return code,
                Seen::Ping | Seen::Line(_) => continue,
                Seen::Gone => panic!("connection ended without a close frame"),
            }
        }
    }

    /// Asserts that nothing arrives for `quiet`.
    pub fn expect_nothing(&mut self, quiet: Duration) {
        self.ws.get_mut().set_read_timeout(Some(quiet)).unwrap();
        match self.ws.read() {
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("expected silence, got {other:?}"),
        }
        self.ws.get_mut().set_read_timeout(Some(PATIENCE)).unwrap();
    }
}
