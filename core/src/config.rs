//! Chat policy settings, with the defaults of the protocol.

use std::collections::BTreeSet;
use std::time::Duration;

/// Every tunable rule of the chat. The defaults are those of `PROTOCOL.md`.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Chat lines and actions kept per room and replayed to whoever joins it.
    pub history: usize,
    /// Largest text frame, in bytes, that is accepted as chat (`! message too long` above).
    pub max_message_bytes: usize,
    /// Largest frame at all; anything bigger closes the connection with 1009.
    pub max_frame_bytes: usize,
    /// Most lines one frame may carry (`! too many lines` above).
    pub max_lines: usize,
    /// Lines per second refilled into each connection's token bucket; `0` turns the limit off.
    pub rate: f64,
    /// Size of the token bucket: how many lines may be sent at once.
    pub burst: u32,
    /// Rooms larger than this get no join and leave notices.
    pub announce_limit: usize,
    /// Idle time after which a connection is pinged; zero turns the heartbeat off.
    pub ping_interval: Duration,
    /// Time after a ping within which some frame must arrive, or the connection is closed.
    pub ping_timeout: Duration,
    /// Connections the chat holds at most; further joins are refused.
    pub max_connections: usize,
    /// Names shown at most in `/users` and welcome objects, and rooms in `/rooms`.
    pub list_limit: usize,
    /// Lines a resume (`?since=ID`) replays at most; more missed lines are announced as
    /// skipped.
    pub resume_limit: usize,
    /// Bytes of lines one replay sends at most (the latest lines that fit; a resume counts
    /// the rest as skipped). The server sets half its outbound queue, so that a replay never
    /// gets its reader dropped as slow.
    pub replay_bytes: usize,
    /// Connections one client address may hold at once; `0` turns the limit off.
    pub max_connections_per_ip: usize,
    /// New connections per second one address may open, refilled into a bucket of
    /// `connect_burst`; `0` turns off this limit and what goes with it (a new connection
    /// inherits its address's line bucket, join notices are limited per address).
    pub connect_rate: f64,
    /// How many connections an address may open at once before `connect_rate` applies.
    pub connect_burst: u32,
    /// Bytes of history held in memory over all rooms, with a store; beyond it the quietest
    /// rooms' history is read back from the store when someone joins them.
    pub history_memory: usize,
    /// Signed names are on (`--auth-secret`): clients without a token are guests, with
    /// automatic names only.
    pub signed_names: bool,
    /// Rooms only a token's grant lets in (`--private-rooms`), by room name.
    pub private_rooms: BTreeSet<Box<str>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            history: 20,
            max_message_bytes: 4096,
            max_frame_bytes: 64 * 1024,
            max_lines: 20,
            rate: 5.0,
            burst: 20,
            announce_limit: 100,
            ping_interval: Duration::from_secs(15),
            ping_timeout: Duration::from_secs(15),
            max_connections: 10_000,
            list_limit: 100,
            resume_limit: 1000,
            replay_bytes: 512 * 1024,
            max_connections_per_ip: 100,
            connect_rate: 20.0,
            connect_burst: 100,
            history_memory: 64 * 1024 * 1024,
            signed_names: false,
            private_rooms: BTreeSet::new(),
        }
    }
}
