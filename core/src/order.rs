//! The one order of the chat's shared changes, with a single server or a cluster.
//!
//! Names, who is in which room, the counts, and the ids and order of lines are shared by
//! every node of a cluster: they change only by applying [`Event`]s in the one order. A
//! single server orders its changes itself, with the same checks the broker makes. A node
//! of a cluster hands each change to the broker as a [`Proposal`]
//! ([`Chat::poll_proposal`](crate::Chat::poll_proposal)) and applies the events the
//! broker ordered, its own and every other node's, in the order given
//! ([`Chat::handle_event`](crate::Chat::handle_event)). Both apply an event through the
//! same code, so the single server is not a second implementation.
//!
//! What only concerns one node stays there: its connections, their rate limits, queues and
//! heartbeats, and the fan-out of a line to its own members.

// The fields are described with their variants, once.
#![allow(missing_docs)]

use crate::output::ConnId;
use crate::store::Kept;
use std::sync::Arc;

/// A connection anywhere in the cluster: its node's id and its id there. A single server's
/// node id is empty.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    pub node: Arc<str>,
    pub conn: ConnId,
}

/// What a [`Proposal::Sync`] asks: answered when its event is applied, so the answer
/// shows every change ordered before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// `/users`.
    Users,
    /// `/rooms`.
    Rooms,
}

/// A change a local connection (`from`) asks the chat to order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposal {
    /// Enter the chat in `room`, with the name `wanted` if it is free (else an automatic
    /// one). `quiet`: no join notice (nor later leave notice), by the address's notice
    /// limit. `again`: registered again after a cluster's broker lost its state; nobody
    /// is told. `signed`: the name is the holder's token's, taken over from whoever has it.
    Join {
        from: ConnId,
        room: Arc<str>,
        wanted: Option<Arc<str>>,
        quiet: bool,
        again: bool,
        signed: bool,
    },
    /// The connection has gone: it leaves its room and its name is free. `name`, `room`
    /// and `quiet` are what the node knew of it.
    Leave {
        from: ConnId,
        name: Arc<str>,
        room: Arc<str>,
        quiet: bool,
    },
    /// `/join ROOM`; `quiet` as for a join.
    Move {
        from: ConnId,
        room: Arc<str>,
        quiet: bool,
    },
    /// `/nick NAME`.
    Rename { from: ConnId, name: Arc<str> },
    /// A chat line (or `/me` action), to be given its id by the order.
    Say {
        from: ConnId,
        /// The room it was said in.
        room: Arc<str>,
        /// The sender's name when it spoke.
        name: Arc<str>,
        /// The line, cleaned.
        text: Arc<str>,
        /// A `/me` action rather than a chat line.
        action: bool,
        /// When it was said, Unix milliseconds (this node's clock).
        ts: u64,
    },
    /// `/whisper TO TEXT`.
    Whisper {
        from: ConnId,
        to: Arc<str>,
        text: Arc<str>,
        ts: u64,
    },
    /// `/users` or `/rooms`: changes nothing, answered in its place in the order.
    Sync { from: ConnId, question: Question },
    /// An admin's `/kick NAME [REASON]` (`name` as typed, `by` the admin's name).
    Kick {
        from: ConnId,
        name: Arc<str>,
        by: Arc<str>,
        reason: Option<Arc<str>>,
    },
}

impl Proposal {
    /// The local connection that asked.
    pub fn from(&self) -> ConnId {
        match self {
            Proposal::Join { from, .. }
            | Proposal::Leave { from, .. }
            | Proposal::Move { from, .. }
            | Proposal::Rename { from, .. }
            | Proposal::Say { from, .. }
            | Proposal::Whisper { from, .. }
            | Proposal::Sync { from, .. }
            | Proposal::Kick { from, .. } => *from,
        }
    }
}

/// A change the chat has ordered: apply it in the order given. Names and rooms are as the
/// order knows them (after every earlier rename and move).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `member` entered the chat in `room` as `name` (`taken`: the name it asked for was
    /// taken). `line`: the last line id given, which a replay to the joiner covers (later
    /// lines reach it live).
    Joined {
        member: Member,
        name: Arc<str>,
        room: Arc<str>,
        taken: bool,
        quiet: bool,
        again: bool,
        line: u64,
    },
    /// `member` left the chat, for `why`.
    Left {
        member: Member,
        name: Arc<str>,
        room: Arc<str>,
        quiet: bool,
        why: Why,
    },
    /// `member` went from `from` to `room`; `quiet_left` / `quiet`: no notice in the old /
    /// new room; `line` as for a join.
    Moved {
        member: Member,
        name: Arc<str>,
        from: Arc<str>,
        room: Arc<str>,
        quiet_left: bool,
        quiet: bool,
        line: u64,
    },
    /// `member`, in `room`, is now called `name`.
    Renamed {
        member: Member,
        old: Arc<str>,
        name: Arc<str>,
        room: Arc<str>,
    },
    /// A chat line, with its id, said on any node.
    Said(Kept),
    /// A whisper, never kept.
    Whispered {
        from: Member,
        from_name: Arc<str>,
        to: Member,
        to_name: Arc<str>,
        text: Arc<str>,
        ts: u64,
    },
    /// `member`'s question, to answer now.
    Synced { member: Member, question: Question },
    /// `member`'s change was refused by the shared state: it is told so in its place in
    /// the order (after everything it heard before).
    Refused { member: Member, refusal: Refusal },
}

/// Why a member left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Its connection went.
    Left,
    /// A newer connection signed in with its name (its own connection is closed, 1008).
    Elsewhere,
    /// An admin kicked it (closed, 1008); its room hears who and why.
    Kicked {
        by: Arc<str>,
        reason: Option<Arc<str>>,
    },
}

/// Why the order refused a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `/nick NAME`: someone else has the name, or it is exactly the current one.
    NameTaken(Arc<str>),
    /// `/whisper NAME`: nobody has the name.
    NoSuchUser(Arc<str>),
    /// `/join ROOM`: the member is in that room already.
    AlreadyInRoom(Arc<str>),
}

/// Who is in the chat at one point of the order: what a node that starts (or starts
/// again) begins from, before the events that follow that point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The last line id given.
    pub line: u64,
    /// Everyone, on every node.
    pub members: Vec<Present>,
}

/// One member of a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    pub member: Member,
    pub name: Arc<str>,
    pub room: Arc<str>,
    pub quiet: bool,
}

impl Proposal {
    /// The event a chat line becomes once ordered with `id` (what a broker does to it);
    /// `None` for any other proposal, whose event depends on the shared state.
    pub fn said(self, id: u64) -> Option<Event> {
        match self {
            Proposal::Say {
                room,
                name,
                text,
                action,
                ts,
                ..
            } => Some(Event::Said(Kept {
                id,
                room,
                from: name,
                text,
                action,
                ts,
            })),
            _ => None,
        }
    }
}
