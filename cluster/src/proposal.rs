//! The changes a node asks for, how each becomes a call of a `chat.lua` function, and how
//! its reply becomes an [`Answer`]: described once, for one call and for a pipeline.

use crate::broker::{Error, Member, STREAM_LENGTH};
use crate::event::{Joined, Moved};
use redis::Value;

/// A change to the shared state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposal {
    /// Join `room` with the name asked for (its case-folded key and its form), or an
    /// automatic one.
    Join {
        member: Member,
        room: String,
        wanted: Option<(String, String)>,
        /// No join (nor later leave) notice: the address's notice limit withheld it.
        quiet: bool,
        /// Registered again after Redis lost the state: nobody is told.
        again: bool,
        /// The name is the member's token's: whoever else has it leaves (`elsewhere`).
        signed: bool,
    },
    Leave {
        member: Member,
        reason: String,
    },
    Move {
        member: Member,
        room: String,
        /// No join notice in the new room.
        quiet: bool,
    },
    Rename {
        member: Member,
        key: String,
        name: String,
    },
    Say {
        member: Member,
        room: String,
        text: String,
        action: bool,
        ts: u64,
    },
    /// A whisper to the user whose case-folded name is `to_key` (`to` as typed, for a
    /// refusal).
    Whisper {
        member: Member,
        to_key: String,
        to: String,
        text: String,
        ts: u64,
    },
    /// Changes nothing: the member's node answers `question` when it applies the event.
    Sync {
        member: Member,
        question: String,
    },
    /// An admin (`by`, its name) kicks whoever has the name keyed `key` (`name` as typed).
    Kick {
        member: Member,
        by: String,
        key: String,
        name: String,
        reason: Option<String>,
    },
}

/// What a proposal got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `None`: the member had already joined.
    Joined(Option<Joined>),
    /// The leave's event id; `None` if the member was not joined (already left, or given up).
    Left(Option<String>),
    /// `None`: not joined, or already in that room.
    Moved(Option<Moved>),
    Renamed(Renamed),
    /// The event id and the line id; `None` when the member is not (any more) in that room.
    Said(Option<(String, u64)>),
    Whispered(Whispered),
    /// The sync's event id; `None` if the member is not joined.
    Synced(Option<String>),
    /// The leave's event id, `Some("")` when nobody has the name, `None` for an admin not
    /// joined.
    Kicked(Option<String>),
    /// Redis could not be reached (or the queue was full): nothing changed, as far as the
    /// node knows. The core answers `! not sent: the chat is reconnecting`.
    NotSent,
}

/// The answer of a rename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renamed {
    Done {
        event: String,
    },
    /// Someone else has the name.
    Taken,
    NotJoined,
}

/// The answer of a whisper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whispered {
    Sent { event: String },
    NoSuchUser,
    NotJoined,
}

impl Proposal {
    /// The `FCALL` for this change. `floor`: the highest line id the node has seen;
    /// `retain`: lines a room keeps.
    pub(crate) fn command(&self, prefix: &str, floor: u64, retain: u64) -> redis::Cmd {
        let mut cmd = redis::cmd("FCALL");
        let mut call = |function: &str| {
            cmd.arg(function).arg(0).arg(prefix).arg(STREAM_LENGTH);
        };
        match self {
            Proposal::Join {
                member,
                room,
                wanted,
                quiet,
                again,
                signed,
            } => {
                let (key, name) = wanted
                    .as_ref()
                    .map_or(("", ""), |(k, n)| (k.as_str(), n.as_str()));
                call("chat_join");
                cmd.arg(member.to_string()).arg(room).arg(key).arg(name);
                cmd.arg(flag(*quiet)).arg(flag(*again)).arg(flag(*signed));
            }
            Proposal::Leave { member, reason } => {
                call("chat_leave");
                cmd.arg(member.to_string()).arg(reason);
            }
            Proposal::Move {
                member,
                room,
                quiet,
            } => {
                call("chat_move");
                cmd.arg(member.to_string()).arg(room).arg(flag(*quiet));
            }
            Proposal::Rename { member, key, name } => {
                call("chat_rename");
                cmd.arg(member.to_string()).arg(key).arg(name);
            }
            Proposal::Say {
                member,
                room,
                text,
                action,
                ts,
            } => {
                call("chat_say");
                cmd.arg(member.to_string())
                    .arg(room)
                    .arg(text)
                    .arg(flag(*action))
                    .arg(*ts);
                cmd.arg(floor).arg(retain);
            }
            Proposal::Whisper {
                member,
                to_key,
                to,
                text,
                ts,
            } => {
                call("chat_whisper");
                cmd.arg(member.to_string()).arg(to_key).arg(text).arg(*ts);
                cmd.arg(to);
            }
            Proposal::Sync { member, question } => {
                call("chat_sync");
                cmd.arg(member.to_string()).arg(question);
            }
            Proposal::Kick {
                member,
                by,
                key,
                name,
                reason,
            } => {
                call("chat_kick");
                cmd.arg(member.to_string()).arg(by).arg(key).arg(name);
                cmd.arg(reason.as_deref().unwrap_or(""));
            }
        }
        cmd
    }

    /// Reads the function's reply.
    pub(crate) fn answer(&self, reply: Value) -> Result<Answer, Error> {
        // `false` from Lua arrives as nil; `''` as an empty string.
        let nil = matches!(reply, Value::Nil);
        let text = |reply: Value| -> Result<Option<String>, Error> {
            Ok(redis::from_redis_value::<Option<String>>(reply)?)
        };
        Ok(match self {
            Proposal::Join { .. } => Answer::Joined(if nil {
                None
            } else {
                let (event, name, taken, count): (String, String, String, u64) =
                    redis::from_redis_value(reply)?;
                Some(Joined {
                    event,
                    name,
                    taken: taken == "1",
                    count,
                })
            }),
            Proposal::Leave { .. } => Answer::Left(text(reply)?),
            Proposal::Move { .. } => Answer::Moved(if nil {
                None
            } else {
                let (event, count): (String, u64) = redis::from_redis_value(reply)?;
                Some(Moved { event, count })
            }),
            Proposal::Rename { .. } => Answer::Renamed(match text(reply)? {
                None => Renamed::NotJoined,
                Some(e) if e.is_empty() => Renamed::Taken,
                Some(event) => Renamed::Done { event },
            }),
            Proposal::Say { .. } => Answer::Said(redis::from_redis_value(reply)?),
            Proposal::Whisper { .. } => Answer::Whispered(match text(reply)? {
                None => Whispered::NotJoined,
                Some(e) if e.is_empty() => Whispered::NoSuchUser,
                Some(event) => Whispered::Sent { event },
            }),
            Proposal::Sync { .. } => Answer::Synced(text(reply)?),
            Proposal::Kick { .. } => Answer::Kicked(text(reply)?),
        })
    }
}

/// A flag as the functions read it.
fn flag(on: bool) -> &'static str {
    if on {
        "1"
    } else {
        "0"
    }
}
