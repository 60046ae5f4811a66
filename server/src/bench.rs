//! The hub without sockets, for benchmarks (`chat-benches`' `hub` bench): rooms of idle
//! members, lines said into them, and each member's outbox emptied as its driver would.
//! Not part of the server's interface.

use crate::hub::Hub;
use crate::outbox::Outbox;
use chat_core::{Chat, Client, Config, ConnId, Join, Now, Payload, Said};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Instant;

/// A hub with `rooms` rooms of `members` members each.
pub struct Rooms {
    hub: Arc<Hub>,
    /// Each room's first member (who speaks, through its client: its driver's part) and
    /// every member's outbox.
    rooms: Vec<(Speaker, Vec<Arc<Outbox>>)>,
    now: Now,
    // Keeps the timer's channel open, as the timer task would.
    _timer: async_channel::Receiver<()>,
}

/// A room's speaker: its id and its client (a driver owns its client; the bench's threads
/// share the rooms, so each client has its own uncontended lock).
type Speaker = (ConnId, Mutex<Client>);

impl Rooms {
    /// Everyone joins, quietly (no rate limit, no notices past the first few), and reads
    /// what the joins sent.
    pub fn new(rooms: usize, members: usize) -> Rooms {
        let config = Config {
            rate: 0.0,
            announce_limit: 0,
            ..Config::default()
        };
        // The clock is read once, to start the virtual one.
        #[allow(clippy::disallowed_methods)]
        let now = Now::new(Instant::now(), 1_700_000_000_000);
        let (hub, timer) = Hub::new(Chat::new(config), 1 << 20, now.at);
        let mut all = Vec::new();
        for r in 0..rooms {
            let room = format!("room{r}");
            let mut outboxes = Vec::new();
            let mut first = None;
            for _ in 0..members {
                let join = Join {
                    room: Some(&room),
                    ..Join::default()
                };
                let Ok(joined) = hub.join(join, now) else {
                    continue;
                };
                first.get_or_insert((joined.id, Mutex::new(joined.client)));
                outboxes.push(joined.outbox);
            }
            if let Some(first) = first {
                all.push((first, outboxes));
            }
        }
        let rooms = Rooms {
            hub,
            rooms: all,
            now,
            _timer: timer,
        };
        for r in 0..rooms.rooms.len() {
            rooms.read(r);
        }
        rooms
    }

    /// How many rooms there are.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// Room `r`'s first member says `text` (the hub's part only; nobody reads yet).
    pub fn say(&self, r: usize, text: &str) {
        let (id, client) = &self.rooms[r].0;
        let mut client = client.lock().unwrap_or_else(|e| e.into_inner());
        if let Said::Lines(lines) = client.handle_text(text, self.now.at) {
            self.hub.text(*id, lines, self.now);
        }
    }

    /// Every member of room `r` takes what is queued for it, as its driver would; returns
    /// how many lines they took.
    pub fn read(&self, r: usize) -> usize {
        // Each line is copied into a buffer, as a driver copies it into its socket's.
        let mut buffer: Vec<u8> = Vec::new();
        let mut taken = 0;
        for outbox in &self.rooms[r].1 {
            loop {
                let before = taken;
                let mut into = |line: &Payload| {
                    buffer.extend_from_slice(line.as_bytes());
                    taken += 1;
                };
                outbox.take(&mut into, 16 * 1024, Waker::noop());
                if taken == before {
                    break;
                }
                buffer.clear();
            }
        }
        taken
    }

    /// Inputs the hub ran and the nanoseconds its lock was held for them, since start.
    pub fn lock_held(&self) -> (u64, u64) {
        let s = self.hub.snapshot();
        (s.inputs, s.locked_ns)
    }
}
