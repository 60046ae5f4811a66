//! The core's proposals as calls of `chat.lua`, and the stream's events as the core's:
//! field for field, nothing decided here.

use chat_core::order::{Event, Member, Proposal, Question, Refusal, Why};
use chat_core::{name, ConnId, Kept};
use std::sync::Arc;

fn broker_member(id: &Arc<str>, conn: ConnId) -> chat_cluster::Member {
    chat_cluster::Member {
        node: id.to_string(),
        conn: conn.number(),
    }
}

pub(super) fn member(m: chat_cluster::Member) -> Member {
    Member {
        node: m.node.into(),
        conn: ConnId::numbered(m.conn),
    }
}

/// A name and its key, as `chat.lua` takes them.
fn keyed(name: &str) -> (String, String) {
    (name::key(name).into(), name.to_string())
}

/// The core's proposal as a call of `chat.lua`.
pub(super) fn to_broker(p: &Proposal, id: &Arc<str>) -> chat_cluster::Proposal {
    use chat_cluster::Proposal as B;
    let m = broker_member(id, p.from());
    match p {
        Proposal::Join {
            room,
            wanted,
            quiet,
            again,
            signed,
            ..
        } => B::Join {
            member: m,
            room: room.to_string(),
            wanted: wanted.as_deref().map(keyed),
            quiet: *quiet,
            again: *again,
            signed: *signed,
        },
        Proposal::Leave { .. } => B::Leave {
            member: m,
            reason: "closed".into(),
        },
        Proposal::Move { room, quiet, .. } => B::Move {
            member: m,
            room: room.to_string(),
            quiet: *quiet,
        },
        Proposal::Rename { name, .. } => {
            let (key, name) = keyed(name);
            B::Rename {
                member: m,
                key,
                name,
            }
        }
        Proposal::Say {
            room,
            text,
            action,
            ts,
            ..
        } => B::Say {
            member: m,
            room: room.to_string(),
            text: text.to_string(),
            action: *action,
            ts: *ts,
        },
        Proposal::Whisper { to, text, ts, .. } => B::Whisper {
            member: m,
            to_key: name::key(to).into(),
            to: to.to_string(),
            text: text.to_string(),
            ts: *ts,
        },
        Proposal::Kick {
            name, by, reason, ..
        } => {
            let (key, name) = keyed(name);
            B::Kick {
                member: m,
                by: by.to_string(),
                key,
                name,
                reason: reason.as_deref().map(str::to_string),
            }
        }
        Proposal::Sync { question, .. } => B::Sync {
            member: m,
            question: match question {
                Question::Users => "users",
                Question::Rooms => "rooms",
            }
            .into(),
        },
    }
}

/// An event of the stream as the core's; `None` for what only the link needs (beats,
/// a node gone after its users' leaves) or does not know.
pub(super) fn to_core(e: chat_cluster::Event) -> Option<Event> {
    use chat_cluster::Event as B;
    Some(match e {
        B::Join {
            member: m,
            name,
            room,
            taken,
            quiet,
            again,
            line,
            ..
        } => Event::Joined {
            member: member(m),
            name: name.into(),
            room: room.into(),
            taken,
            quiet,
            again,
            line,
        },
        B::Leave {
            member: m,
            name,
            room,
            quiet,
            why,
            by,
            reason,
            ..
        } => Event::Left {
            member: member(m),
            name: name.into(),
            room: room.into(),
            quiet,
            why: match why.as_str() {
                "elsewhere" => Why::Elsewhere,
                "kicked" => Why::Kicked {
                    by: by.into(),
                    reason: (!reason.is_empty()).then(|| reason.into()),
                },
                _ => Why::Left,
            },
        },
        B::Move {
            member: m,
            name,
            from,
            room,
            quiet_left,
            quiet,
            line,
            ..
        } => Event::Moved {
            member: member(m),
            name: name.into(),
            from: from.into(),
            room: room.into(),
            quiet_left,
            quiet,
            line,
        },
        B::Rename {
            member: m,
            old,
            name,
            room,
        } => Event::Renamed {
            member: member(m),
            old: old.into(),
            name: name.into(),
            room: room.into(),
        },
        B::Say {
            id,
            name,
            room,
            text,
            action,
            ts,
            ..
        } => Event::Said(Kept {
            id,
            room: room.into(),
            from: name.into(),
            text: text.into(),
            action,
            ts,
        }),
        B::Whisper {
            member: m,
            name,
            to,
            to_name,
            text,
            ts,
        } => Event::Whispered {
            from: member(m),
            from_name: name.into(),
            to: member(to),
            to_name: to_name.into(),
            text: text.into(),
            ts,
        },
        B::Refused {
            member: m,
            why,
            what,
        } => Event::Refused {
            member: member(m),
            refusal: match why.as_str() {
                "name_taken" => Refusal::NameTaken(what.into()),
                "no_such_user" => Refusal::NoSuchUser(what.into()),
                "already_in_room" => Refusal::AlreadyInRoom(what.into()),
                _ => return None,
            },
        },
        B::Sync {
            member: m,
            question,
        } => Event::Synced {
            member: member(m),
            question: match question.as_str() {
                "users" => Question::Users,
                "rooms" => Question::Rooms,
                _ => return None,
            },
        },
        B::Gone { .. } | B::Beat { .. } => return None,
    })
}
