//! What the stream of events holds, and what each change answers.

use crate::broker::Member;

/// One entry of the stream, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Redis's id of the entry: where to read on from.
    pub id: String,
    /// The epoch of the state it belongs to.
    pub epoch: String,
    /// Rises by one per event within an epoch: a jump means events were missed.
    pub seq: u64,
    /// `None` for an event this version does not know.
    pub event: Option<Event>,
}

/// A change to the shared state, in the one order every node applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A connection joined with `name` (`taken`: the name it asked for was taken); `count`
    /// members are in `room` now.
    ///
    /// `quiet`: no notice (the address's notice limit); `again`: registered again after
    /// Redis lost the state, nobody is told; `line`: the last line id given, which the
    /// joiner's replay covers.
    Join {
        member: Member,
        name: String,
        room: String,
        count: u64,
        taken: bool,
        quiet: bool,
        again: bool,
        line: u64,
    },
    /// A connection left `room` (`why`: `closed`, `node` when its node was given up,
    /// `elsewhere` when a newer connection signed in with its name, `kicked` by `by` for
    /// `reason`).
    Leave {
        member: Member,
        name: String,
        room: String,
        count: u64,
        why: String,
        quiet: bool,
        by: String,
        reason: String,
    },
    /// A member went from room `from` (`left` members stay there) to `room` (`count` now);
    /// `quiet_left`/`quiet`: no notice in the old/new room; `line` as for a join.
    Move {
        member: Member,
        name: String,
        from: String,
        left: u64,
        room: String,
        count: u64,
        quiet_left: bool,
        quiet: bool,
        line: u64,
    },
    /// A member's name changed from `old` to `name`.
    Rename {
        member: Member,
        old: String,
        name: String,
        room: String,
    },
    /// A chat line (`action`: a `/me`) with its id, kept in the room's history.
    Say {
        id: u64,
        member: Member,
        name: String,
        room: String,
        text: String,
        action: bool,
        ts: u64,
    },
    /// A whisper from `member` to `to`, never kept.
    Whisper {
        member: Member,
        name: String,
        to: Member,
        to_name: String,
        text: String,
        ts: u64,
    },
    /// `member`'s change was refused (`why`: `name_taken`, `no_such_user` or
    /// `already_in_room`; `what`: the name or room).
    Refused {
        member: Member,
        why: String,
        what: String,
    },
    /// Nothing changed: `member`'s node answers `question` now.
    Sync { member: Member, question: String },
    /// A node's members were all removed (each with its `Leave` before this).
    Gone { node: String },
    /// A node's heartbeat through the stream.
    Beat { node: String },
}

/// The answer of a join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The stream id of the join's event.
    pub event: String,
    pub name: String,
    /// The name asked for was taken: this is an automatic one.
    pub taken: bool,
    /// Members of the room, the joiner included.
    pub count: u64,
}

/// The answer of a move to another room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub event: String,
    pub count: u64,
}

/// The whole shared state at one point of the stream: where a node that starts (or starts
/// again) begins, reading on from `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub epoch: String,
    /// The sequence number of the last event in it.
    pub seq: u64,
    /// The stream id of the last event in it.
    pub after: String,
    /// The last line id given.
    pub line: u64,
    /// Every member, in member order.
    pub members: Vec<Present>,
}

/// A member in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    pub member: Member,
    pub room: String,
    pub name: String,
    pub quiet: bool,
}

/// The answer of a lease renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// Renewed.
    Held { epoch: String },
    /// A first registration, or Redis lost the state the node knew: register every user
    /// again under this epoch.
    New { epoch: String },
    /// The others gave this node up: close every connection and join afresh.
    Lost,
}

impl Event {
    /// Reads an entry's fields; `None` for an entry this version does not know.
    pub(crate) fn parse(fields: &[(String, String)]) -> Option<Event> {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let text = |name: &str| get(name).unwrap_or_default();
        let number = |name: &str| {
            get(name)
                .and_then(|v| v.parse::<i64>().ok())
                .map(|n| n.max(0) as u64)
        };
        let member = |name: &str| get(name).and_then(|v| Member::parse(&v));
        let flag = |name: &str| get(name).as_deref() == Some("1");
        Some(match get("t")?.as_str() {
            "join" => Event::Join {
                member: member("m")?,
                name: text("n"),
                room: text("r"),
                count: number("count")?,
                taken: flag("taken"),
                quiet: flag("q"),
                again: flag("again"),
                line: number("line").unwrap_or(0),
            },
            "leave" => Event::Leave {
                member: member("m")?,
                name: text("n"),
                room: text("r"),
                count: number("count")?,
                why: text("why"),
                quiet: flag("q"),
                by: text("by"),
                reason: text("reason"),
            },
            "move" => Event::Move {
                member: member("m")?,
                name: text("n"),
                from: text("from"),
                left: number("left")?,
                room: text("r"),
                count: number("count")?,
                quiet_left: flag("ql"),
                quiet: flag("q"),
                line: number("line").unwrap_or(0),
            },
            "rename" => Event::Rename {
                member: member("m")?,
                old: text("old"),
                name: text("n"),
                room: text("r"),
            },
            "say" => Event::Say {
                id: number("id")?,
                member: member("m")?,
                name: text("n"),
                room: text("r"),
                text: text("x"),
                action: get("a").as_deref() == Some("1"),
                ts: number("ts")?,
            },
            "whisper" => Event::Whisper {
                member: member("m")?,
                name: text("n"),
                to: member("to")?,
                to_name: text("tn"),
                text: text("x"),
                ts: number("ts").unwrap_or(0),
            },
            "refused" => Event::Refused {
                member: member("m")?,
                why: text("why"),
                what: text("x"),
            },
            "sync" => Event::Sync {
                member: member("m")?,
                question: text("q"),
            },
            "gone" => Event::Gone { node: get("node")? },
            "beat" => Event::Beat { node: get("node")? },
            _ => return None,
        })
    }
}
