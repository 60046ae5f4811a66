//! A virtual-clock harness: feed inputs at chosen instants, read what each connection got.
// Each test file uses its own part of the harness.
#![allow(dead_code)]
// The virtual clock starts at one real instant; after that, time moves only by `advance`.
#![allow(clippy::disallowed_methods)]

pub use chat_core::Now;
use chat_core::{Chat, Config, ConnId, Join, LeaveReason, Output, Rendering};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What one connection received, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    Line(String),
    Ping,
    Close(u16),
}

/// Drives a [`Chat`] and files every output into the addressee's inbox. Every input is
/// followed by a full drain, as a runtime does.
pub struct Harness {
    pub chat: Chat,
    pub start: Instant,
    pub now: Instant,
    inbox: BTreeMap<ConnId, Vec<Got>>,
}

pub const EPOCH_MS: u64 = 1_700_000_000_000;

/// Where a test's virtual clock starts: the one real instant a test reads.
pub fn origin() -> Instant {
    Instant::now()
}

impl Harness {
    pub fn new() -> Self {
        Self::with(Config::default())
    }

    pub fn with(config: Config) -> Self {
        let start = origin();
        Harness {
            chat: Chat::new(config),
            start,
            now: start,
            inbox: BTreeMap::new(),
        }
    }

    /// The current time, with a wall clock that moves with the monotonic one.
    pub fn now(&self) -> Now {
        let ms = (self.now - self.start).as_millis() as u64;
        Now::new(self.now, EPOCH_MS + ms)
    }

    /// Moves the clock and delivers any due timeout.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.chat.poll_timeout().is_some_and(|t| t <= self.now) {
            self.chat.handle_timeout(self.now);
        }
        self.drain();
    }

    pub fn advance_secs(&mut self, secs: f64) {
        self.advance(Duration::from_secs_f64(secs));
    }

    pub fn join(&mut self) -> ConnId {
        self.join_with(Join::default())
    }

    pub fn join_named(&mut self, name: &str) -> ConnId {
        self.join_with(Join {
            name: Some(name),
            ..Join::default()
        })
    }

    pub fn join_json(&mut self, name: &str) -> ConnId {
        self.join_with(Join {
            name: Some(name),
            rendering: Some(Rendering::Json),
            ..Join::default()
        })
    }

    pub fn join_with(&mut self, join: Join<'_>) -> ConnId {
        let now = self.now();
        let id = self.chat.handle_join(join, now).expect("join accepted");
        self.drain();
        id
    }

    /// Joins and discards the greeting, so tests can look at what follows.
    pub fn join_quiet(&mut self, name: &str) -> ConnId {
        let id = self.join_named(name);
        self.read(id);
        id
    }

    pub fn send(&mut self, id: ConnId, text: &str) {
        let now = self.now();
        self.chat.handle_text(id, text, now);
        self.drain();
    }

    pub fn leave(&mut self, id: ConnId) {
        self.chat.handle_leave(id, LeaveReason::Closed);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(out) = self.chat.poll_output() {
            let got = match &out {
                Output::Send { payload, .. } => {
                    let s = payload.as_str();
                    assert!(
                        !s.contains(['\n', '\r']),
                        "a server frame is one line: {s:?}"
                    );
                    Got::Line(s.to_string())
                }
                Output::Ping { .. } => Got::Ping,
                Output::Close { reason, .. } => Got::Close(reason.code()),
            };
            self.inbox.entry(out.to()).or_default().push(got);
        }
    }

    /// Takes everything `id` received since the last read.
    pub fn read(&mut self, id: ConnId) -> Vec<Got> {
        self.inbox.remove(&id).unwrap_or_default()
    }

    /// Takes the lines `id` received, asserting it got nothing but lines.
    pub fn lines(&mut self, id: ConnId) -> Vec<String> {
        self.read(id)
            .into_iter()
            .map(|g| match g {
                Got::Line(l) => l,
                other => panic!("{id} expected lines, got {other:?}"),
            })
            .collect()
    }

    /// Asserts that nobody has anything unread.
    pub fn assert_quiet(&mut self) {
        let unread: Vec<_> = self.inbox.iter().filter(|(_, v)| !v.is_empty()).collect();
        assert!(unread.is_empty(), "unexpected output: {unread:?}");
    }
}

/// Parses a JSON line.
pub fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}
