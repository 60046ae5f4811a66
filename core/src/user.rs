//! A connected user: name, room, and the per-connection limits and timers.

use crate::auth::Signed;
use crate::line::Rendering;
use crate::payload::Payload;
use crate::rate::TokenBucket;
use crate::store::FetchId;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// Everything the core knows of one connection.
#[derive(Debug)]
pub(crate) struct User {
    pub name: Arc<str>,
    pub room: Arc<str>,
    pub rendering: Rendering,
    /// Index of this user in its room's member list.
    pub slot: usize,
    /// It reads its room's lines ([`Output::Room`](crate::Output::Room)) now: it is in the
    /// room here and not held. A member that does not is sent the room's lines one by one.
    pub reading: bool,
    /// Its line bucket as its [`Client`](crate::Client) last showed it (with a frame it let
    /// through): what its address inherits when it goes.
    pub bucket: TokenBucket,
    /// When the last frame of any kind arrived, as far as the chat knows.
    pub last_seen: Instant,
    /// When a ping went out that no frame has answered yet.
    pub pinged_at: Option<Instant>,
    /// While a replay is fetched from the store: what is addressed to this user, in order,
    /// behind the replay's place. Boxed: most users are never held, and a `User` stays
    /// small (it is per connection).
    #[allow(clippy::box_collection)]
    pub held: Option<Box<VecDeque<Held>>>,
    /// The client's address, when the per-address limits apply to it.
    pub addr: Option<IpAddr>,
    /// Its join notice was withheld by its address's notice limit: so is its leave notice.
    pub muted: bool,
    /// Until the order has applied its join (at once on a single server; a broker round
    /// trip in a cluster): what its greeting will need. It has no name yet and receives
    /// nothing of its room.
    pub pending: Option<Box<Pending>>,
    /// What its token says, if it signed in (its name is the token's, for good).
    pub token: Option<Box<Signed>>,
}

/// What a connection asked for when it joined, kept until its join is ordered.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// A valid `since`, for the replay.
    pub since: Option<u64>,
    /// What was refused as typed, in the order the refusals are told.
    pub invalid_since: Option<Box<str>>,
    pub invalid_room: Option<Box<str>>,
    /// A private room its token does not grant (refused where an invalid room would be).
    pub no_access: Option<Box<str>>,
    pub invalid_name: Option<Box<str>>,
    /// A guest asked for a name (refused where a taken name would be).
    pub sign_in: bool,
    /// The valid name asked for: told `! name taken` if the order gave another.
    pub wanted: Option<Arc<str>>,
}

/// One entry of a held user's queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// A line to send.
    Ready(Payload),
    /// The place of a replay that the store has not answered yet.
    Awaiting(FetchId),
}

impl User {
    /// A frame from the client at `at` is a sign of life: the heartbeat starts over from
    /// it, and it answers a ping sent before it. The chat may hear of a frame late (see
    /// [`Chat::handle_timeout`](crate::Chat::handle_timeout)), so an older one changes
    /// nothing.
    pub(crate) fn seen(&mut self, at: Instant) {
        self.last_seen = self.last_seen.max(at);
        if self.pinged_at.is_some_and(|pinged| at >= pinged) {
            self.pinged_at = None;
        }
    }
}
