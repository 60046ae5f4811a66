//! A virtual-clock harness: feed inputs at chosen instants, read what each connection got.
// Each test file uses its own part of the harness.
#![allow(dead_code)]
// The virtual clock starts at one real instant; after that, time moves only by `advance`.
#![allow(clippy::disallowed_methods)]

pub use chat_core::Now;
use chat_core::{
    Chat, Client, Config, ConnId, Feeds, Fetch, Fetched, Join, JoinError, Kept, LeaveReason,
    Output, Rendering, Restored, Said, StoreRequest,
};
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
    /// Which room each connection reads: the runtime's half of the fan-out.
    pub feeds: Feeds,
    /// Each connection's own side, and when a frame of any kind last came from it: the
    /// runtime's half of the limits and the heartbeat.
    pub clients: Clients,
    /// The store, for a chat made `with_store`.
    pub store: Option<ModelStore>,
}

/// A store as the core sees it: every kept line (at most `retain`, the oldest go first),
/// the next id recorded, and fetches answered at once or, when `defer` is set, when the
/// test says so.
#[derive(Debug, Default)]
pub struct ModelStore {
    pub lines: Vec<Kept>,
    pub retain: usize,
    pub next_id: u64,
    pub defer: bool,
    pub deferred: Vec<Fetch>,
    /// Fetches answered as failed (`None`).
    pub failing: bool,
}

impl ModelStore {
    pub fn new(retain: usize) -> Self {
        ModelStore {
            retain,
            next_id: 1,
            ..ModelStore::default()
        }
    }

    pub fn fetch(&self, f: &Fetch) -> Fetched {
        f.answer_from(&self.lines)
    }

    /// Where a chat starts on this store, as the server does it: above every id kept and
    /// the recorded next id, with a fresh reservation recorded before it starts.
    pub fn restore(&mut self) -> Restored {
        let top = self.lines.iter().map(|k| k.id + 1).max().unwrap_or(1);
        let next_id = top.max(self.next_id);
        self.next_id = next_id + chat_core::store::RESERVE_AHEAD;
        Restored {
            next_id,
            reserved: self.next_id,
        }
    }
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
            feeds: Feeds::new(),
            clients: Clients::default(),
            store: None,
        }
    }

    /// A chat with a model store keeping at most `retain` lines.
    pub fn with_store(config: Config, retain: usize) -> Self {
        let mut store = ModelStore::new(retain);
        let mut h = Self::with(config.clone());
        h.chat = Chat::with_store(config, store.restore());
        h.store = Some(store);
        h
    }

    /// A new chat on the same store, as after a restart (clean or not: call
    /// `chat.handle_shutdown()` and drain first for a clean one). Inboxes are emptied.
    pub fn restart(&mut self) {
        let store = self.store.as_mut().expect("a chat with a store");
        store.deferred.clear();
        let restored = store.restore();
        self.chat = Chat::with_store(self.chat.config().clone(), restored);
        self.inbox.clear();
        self.feeds = Feeds::new();
        self.clients = Clients::default();
    }

    /// A clean stop: shutdown, everything drained.
    pub fn shutdown(&mut self) {
        self.chat.handle_shutdown();
        self.drain();
    }

    /// Answers the deferred fetches, oldest first.
    pub fn answer_fetches(&mut self) {
        let store = self.store.as_mut().expect("a chat with a store");
        let fetches = std::mem::take(&mut store.deferred);
        for f in fetches {
            let answer = self.store.as_ref().map(|s| s.fetch(&f));
            self.chat.handle_fetched(f.id, answer);
            self.drain();
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
            let heard = &self.clients.heard;
            self.chat
                .handle_timeout(self.now, |id| heard.get(&id).copied());
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
        let id = self.try_join(join).expect("join accepted");
        self.drain();
        id
    }

    /// A join as the runtime makes it, not drained yet.
    pub fn try_join(&mut self, join: Join<'_>) -> Result<ConnId, JoinError> {
        let now = self.now();
        self.clients.join(&mut self.chat, join, now)
    }

    /// Joins and discards the greeting, so tests can look at what follows.
    pub fn join_quiet(&mut self, name: &str) -> ConnId {
        let id = self.join_named(name);
        self.read(id);
        id
    }

    pub fn send(&mut self, id: ConnId, text: &str) {
        let now = self.now();
        if let Some(refused) = self.clients.text(&mut self.chat, id, text, now) {
            let line = Got::Line(refused.as_str().to_string());
            self.inbox.entry(id).or_default().push(line);
        }
        self.drain();
    }

    /// A frame other than text (a pong) from `id`.
    pub fn pong(&mut self, id: ConnId) {
        self.clients.heard.insert(id, self.now);
    }

    pub fn leave(&mut self, id: ConnId) {
        self.clients.forget(id);
        self.chat.handle_leave(id, LeaveReason::Closed);
        self.drain();
    }

    pub fn drain(&mut self) {
        loop {
            self.drain_outputs();
            if !self.drain_store() {
                return;
            }
        }
    }

    /// Carries out the store requests; true if any may have caused outputs.
    fn drain_store(&mut self) -> bool {
        let Some(store) = self.store.as_mut() else {
            return false;
        };
        let mut answered = false;
        while let Some(request) = self.chat.poll_store() {
            match request {
                StoreRequest::Keep(kept) => {
                    store.lines.push(kept);
                    let over = store.lines.len().saturating_sub(store.retain);
                    store.lines.drain(..over);
                }
                StoreRequest::NextId(next) => {
                    store.next_id = next;
                    self.chat.handle_reserved(Some(next));
                }
                StoreRequest::Fetch(f) if store.defer => store.deferred.push(f),
                StoreRequest::Fetch(f) => {
                    let answer = (!store.failing).then(|| store.fetch(&f));
                    self.chat.handle_fetched(f.id, answer);
                    answered = true;
                }
            }
        }
        answered
    }

    fn drain_outputs(&mut self) {
        while let Some(out) = self.chat.poll_output() {
            if let Output::Close { to, .. } = &out {
                self.clients.forget(*to);
            }
            let inbox = &mut self.inbox;
            self.feeds.expand(out, |out| {
                let (to, got) = match &out {
                    Output::Send { to, payload } => {
                        let s = payload.as_str();
                        assert!(
                            !s.contains(['\n', '\r']),
                            "a server frame is one line: {s:?}"
                        );
                        (to, Got::Line(s.to_string()))
                    }
                    Output::Ping { to } => (to, Got::Ping),
                    Output::Close { to, reason } => (to, Got::Close(reason.code())),
                    Output::Room { .. } | Output::Enter { .. } => unreachable!("expanded"),
                };
                inbox.entry(*to).or_default().push(got);
            });
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

/// The runtime's half of each connection: its [`Client`], and when it last heard a frame.
#[derive(Debug, Default)]
pub struct Clients {
    pub clients: BTreeMap<ConnId, Client>,
    pub heard: BTreeMap<ConnId, Instant>,
}

impl Clients {
    /// Joins, keeping the connection's client.
    pub fn join(&mut self, chat: &mut Chat, join: Join<'_>, now: Now) -> Result<ConnId, JoinError> {
        let (id, client) = chat.handle_join(join, now)?;
        self.clients.insert(id, client);
        Ok(id)
    }

    /// A text frame from `id`, through its client: what passes goes to the chat; a refusal
    /// comes back, for `id` alone. Nothing happens for a connection that has ended.
    pub fn text(
        &mut self,
        chat: &mut Chat,
        id: ConnId,
        frame: &str,
        now: Now,
    ) -> Option<chat_core::Payload> {
        let client = self.clients.get_mut(&id)?;
        self.heard.insert(id, now.at);
        match client.handle_text(frame, now.at) {
            Said::Lines(lines) => chat.handle_text(id, lines, now),
            Said::Refused(line) => return Some(line),
            Said::Nothing => {}
        }
        None
    }

    /// The connection has ended: its frames are read no more.
    pub fn forget(&mut self, id: ConnId) {
        self.clients.remove(&id);
        self.heard.remove(&id);
    }
}

/// Parses a JSON line.
pub fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}
