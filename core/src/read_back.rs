//! Reading a server line in JSON back as the text line a text client gets instead.
//!
//! A client that must know line ids (to resume with `since`) reads JSON, yet may want to
//! show exactly what a text client shows: the terminal client does. Each JSON object is
//! turned back into the `Line` it was rendered from and rendered as text, so the text
//! forms stay described once, in `line.rs`.

use crate::line::{error_text, Line, RoomCount, Said};
use serde_json::Value;

/// Where a JSON `welcome` stands: it reads as the greeting and `* you are NAME in #ROOM`
/// when a connection opens, and as `* you are NAME in #ROOM (N users)` after `/join`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Welcome {
    /// The first welcome of a connection.
    Connected,
    /// A welcome after `/join`.
    Joined,
}

/// The text lines for one JSON line, or `None` for one that is not a server line.
pub fn as_text(json: &str, welcome: Welcome) -> Option<Vec<String>> {
    let v: Value = serde_json::from_str(json).ok()?;
    let s = |key: &str| v.get(key).and_then(Value::as_str);
    let n = |key: &str| v.get(key).and_then(Value::as_u64);
    let strs = |key: &str| -> Option<Vec<&str>> {
        v.get(key)?.as_array()?.iter().map(Value::as_str).collect()
    };
    let said = || -> Option<Said<'_>> {
        Some(Said {
            id: n("id")?,
            room: s("room")?,
            from: s("from")?,
            text: s("text")?,
            ts: n("ts")?,
            replay: false,
        })
    };
    let line = match s("type")? {
        "welcome" => {
            let (you, room, total) = (s("you")?, s("room")?, n("total")? as usize);
            let lines = match welcome {
                Welcome::Connected => vec![
                    Line::Greeting { users: total },
                    Line::YouAre {
                        you,
                        room,
                        users: None,
                    },
                ],
                Welcome::Joined => vec![Line::YouAre {
                    you,
                    room,
                    users: Some(total),
                }],
            };
            return lines.iter().map(Line::text).collect();
        }
        "message" => Line::Message(said()?),
        "action" => Line::Action(said()?),
        "whisper" => Line::Whisper {
            from: s("from")?,
            to: s("to")?,
            text: s("text")?,
            ts: n("ts")?,
        },
        "join" => Line::Joined {
            room: s("room")?,
            user: s("user")?,
        },
        "leave" => Line::Left {
            room: s("room")?,
            user: s("user")?,
        },
        "kick" => Line::Kicked {
            room: s("room")?,
            user: s("user")?,
            by: s("by")?,
            reason: v.get("reason").and_then(Value::as_str),
        },
        "rename" => Line::Rename {
            from: s("from")?,
            to: s("to")?,
        },
        "users" => Line::Users {
            room: s("room")?,
            names: strs("users")?,
            total: n("total")? as usize,
        },
        "rooms" => {
            let rooms = v.get("rooms")?.as_array()?.iter();
            let rooms = rooms.map(|r| {
                Some(RoomCount {
                    name: r.get("name")?.as_str()?,
                    users: r.get("users")?.as_u64()? as usize,
                })
            });
            Line::Rooms {
                rooms: rooms.collect::<Option<_>>()?,
                total: n("total")? as usize,
            }
        }
        "help" => {
            let commands = strs("commands")?;
            return Some(vec![Line::Help { commands }.text()?]);
        }
        "skipped" => Line::Skipped {
            room: s("room")?,
            count: n("count")? as usize,
        },
        "status" => Line::Status {
            connected: v.get("connected")?.as_bool()?,
        },
        "error" => return Some(vec![error_text(s("text")?)]),
        _ => return None,
    };
    Some(vec![line.text()?])
}
