//! Every line the server sends, described once and rendered from that description to text
//! or to `chat.v1.json`.
//!
//! `Line` is the description. Its JSON form is derived from it (serde, with the wire's
//! names as attributes); its text form is `Line::text`. A new kind of line is one variant
//! here and one arm in `text`.

use crate::command::HELP;
use crate::payload::Payload;
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// How a connection wants its lines: the tutorial's text, or one JSON object per line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rendering {
    /// Plain text lines, as in the Ktor tutorial.
    Text,
    /// One JSON object per line, for clients that asked for the `chat.v1.json` subprotocol.
    Json,
}

impl Rendering {
    /// The WebSocket subprotocol that selects JSON rendering.
    pub const JSON_SUBPROTOCOL: &'static str = "chat.v1.json";
}

/// Something the server tells a user, before it is rendered. As JSON it is an object whose
/// `type` is the variant's name in lower case (or its `rename`), with the fields in order.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Line<'a> {
    /// `You are connected! There are N users here.` (text only; JSON has `Welcome`).
    #[serde(skip)]
    Greeting {
        users: usize,
    },
    /// `* you are NAME in #ROOM`, with ` (N users)` after `/join` (text only).
    #[serde(skip)]
    YouAre {
        you: &'a str,
        room: &'a str,
        users: Option<usize>,
    },
    /// The JSON form of the greeting and `YouAre` together (JSON only).
    Welcome {
        you: &'a str,
        room: &'a str,
        #[serde(rename = "users")]
        names: Vec<&'a str>,
        total: usize,
    },
    Message(Said<'a>),
    Action(Said<'a>),
    Whisper {
        from: &'a str,
        to: &'a str,
        text: &'a str,
        ts: u64,
    },
    #[serde(rename = "join")]
    Joined {
        room: &'a str,
        user: &'a str,
    },
    #[serde(rename = "leave")]
    Left {
        room: &'a str,
        user: &'a str,
    },
    Rename {
        from: &'a str,
        to: &'a str,
    },
    /// `* NAME was kicked by ADMIN` (` (REASON)`).
    #[serde(rename = "kick")]
    Kicked {
        room: &'a str,
        user: &'a str,
        by: &'a str,
        reason: Option<&'a str>,
    },
    Users {
        room: &'a str,
        #[serde(rename = "users")]
        names: Vec<&'a str>,
        total: usize,
    },
    Rooms {
        rooms: Vec<RoomCount<'a>>,
        total: usize,
    },
    Help {
        commands: Vec<&'a str>,
    },
    /// Before a resume's replay: this many missed lines are not replayed.
    Skipped {
        room: &'a str,
        count: usize,
    },
    /// In a cluster: the broker was lost (`* the chat is reconnecting`) or is back
    /// (`* the chat is back`).
    Status {
        connected: bool,
    },
    Error(Problem<'a>),
}

/// A chat line or action: what a user said in a room, and when.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub(crate) struct Said<'a> {
    /// Strictly increasing over the server; the same for every recipient.
    pub id: u64,
    pub room: &'a str,
    pub from: &'a str,
    pub text: &'a str,
    pub ts: u64,
    /// Sent again from history to someone who just arrived (JSON shows `"replay":true`).
    #[serde(skip_serializing_if = "is_false")]
    pub replay: bool,
}

/// One room in `/rooms`: its name and how many are in it.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub(crate) struct RoomCount<'a> {
    pub name: &'a str,
    pub users: usize,
}

/// Why a user's input was refused: every `! …` line.
#[derive(Debug)]
pub(crate) enum Problem<'a> {
    InvalidSince(&'a str),
    NameTaken(&'a str),
    InvalidName(&'a str),
    InvalidAction(&'a str),
    NoSuchUser(&'a str),
    Usage(&'static str),
    UnknownCommand(&'a str),
    InvalidRoom(&'a str),
    AlreadyInRoom(&'a str),
    TooManyLines(usize),
    MessageTooLong(usize),
    SlowDown(f64),
    /// In a cluster, the broker could not order the line: it went to nobody.
    NotSent,
    /// A command this user may not use (`/nick` when signed, `/kick` when not an admin).
    NotAllowed(&'static str),
    /// A guest (signed names on, no token) asked for a name.
    SignIn,
    /// A private room this user's token does not grant.
    NoAccess(&'a str),
}

impl Problem<'_> {
    /// The `code` of the JSON error object.
    fn code(&self) -> &'static str {
        match self {
            Problem::InvalidSince(_) => "invalid_since",
            Problem::NameTaken(_) => "name_taken",
            Problem::InvalidName(_) => "invalid_name",
            Problem::InvalidAction(_) => "invalid_action",
            Problem::NoSuchUser(_) => "no_such_user",
            Problem::Usage(_) => "usage",
            Problem::UnknownCommand(_) => "unknown_command",
            Problem::InvalidRoom(_) => "invalid_room",
            Problem::AlreadyInRoom(_) => "already_in_room",
            Problem::TooManyLines(_) => "too_many_lines",
            Problem::MessageTooLong(_) => "message_too_long",
            Problem::SlowDown(_) => "slow_down",
            Problem::NotSent => "not_sent",
            Problem::NotAllowed(_) => "not_allowed",
            Problem::SignIn => "sign_in",
            Problem::NoAccess(_) => "no_access",
        }
    }

    /// The words of the error: the JSON `text`, and the text line after `! `.
    fn words(&self) -> String {
        match self {
            Problem::InvalidSince(v) => format!("invalid since: {v}"),
            Problem::NameTaken(n) => format!("name taken: {n}"),
            Problem::InvalidName(n) => format!("invalid name: {n}"),
            Problem::InvalidAction(t) => format!("invalid action: {t}"),
            Problem::NoSuchUser(n) => format!("no such user: {n}"),
            Problem::Usage(u) => format!("usage: {u}"),
            Problem::UnknownCommand(w) => format!("unknown command: {w} (try /help)"),
            Problem::InvalidRoom(r) => format!("invalid room: {r}"),
            Problem::AlreadyInRoom(r) => format!("you are already in #{r}"),
            Problem::TooManyLines(max) => format!("too many lines (max {max})"),
            Problem::MessageTooLong(max) => format!("message too long (max {max} bytes)"),
            Problem::SlowDown(rate) => format!("slow down (max {rate} lines/s)"),
            Problem::NotSent => "not sent: the chat is reconnecting".to_string(),
            Problem::NotAllowed(c) => format!("not allowed: {c}"),
            Problem::SignIn => "sign in to choose a name".to_string(),
            Problem::NoAccess(r) => format!("no access to #{r}"),
        }
    }
}

/// `{"code": …, "text": …}`: the fields of the JSON error object.
impl Serialize for Problem<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut error = serializer.serialize_struct("Problem", 2)?;
        error.serialize_field("code", self.code())?;
        error.serialize_field("text", &self.words())?;
        error.end()
    }
}

impl<'a> Line<'a> {
    /// `/help`'s answer; admins also see `/kick`.
    pub(crate) fn help(admin: bool) -> Line<'a> {
        let commands = HELP.iter().filter(|(_, only_admins)| admin || !only_admins);
        Line::Help {
            commands: commands.map(|(c, _)| *c).collect(),
        }
    }

    /// Renders the line once, for every recipient of one rendering to share.
    ///
    /// `None` when the line does not exist in that rendering (the text greeting in JSON,
    /// the JSON welcome in text).
    pub(crate) fn render(&self, rendering: Rendering) -> Option<Payload> {
        let line = match rendering {
            Rendering::Text => self.text(),
            Rendering::Json => self.json(),
        };
        line.map(Payload::from)
    }

    fn json(&self) -> Option<String> {
        if let Line::Greeting { .. } | Line::YouAre { .. } = self {
            return None;
        }
        // Every other line is strings, integers and lists of them: serializing cannot fail.
        Some(serde_json::to_string(self).expect("JSON of strings and numbers"))
    }

    pub(crate) fn text(&self) -> Option<String> {
        Some(match self {
            Line::Greeting { users } => {
                format!("You are connected! There are {users} users here.")
            }
            Line::YouAre { you, room, users } => match users {
                None => format!("* you are {you} in #{room}"),
                Some(n) => format!("* you are {you} in #{room} ({n} users)"),
            },
            Line::Welcome { .. } => return None,
            Line::Message(s) => format!("[{}]: {}", s.from, s.text),
            Line::Action(s) => format!("* {} {}", s.from, s.text),
            Line::Whisper { from, to, text, .. } => format!("[{from} -> {to}]: {text}"),
            Line::Joined { user, .. } => format!("* {user} joined"),
            Line::Left { user, .. } => format!("* {user} left"),
            Line::Rename { from, to } => format!("* {from} is now known as {to}"),
            Line::Kicked {
                user, by, reason, ..
            } => match reason {
                None => format!("* {user} was kicked by {by}"),
                Some(why) => format!("* {user} was kicked by {by} ({why})"),
            },
            Line::Users { room, names, total } => {
                let mut line = format!("* users in #{room} ({total}): {}", names.join(", "));
                and_more(&mut line, *total, names.len());
                line
            }
            Line::Rooms { rooms, total } => {
                let listed: Vec<String> = rooms
                    .iter()
                    .map(|r| format!("#{} ({})", r.name, r.users))
                    .collect();
                let mut line = format!("* rooms: {}", listed.join(", "));
                and_more(&mut line, *total, rooms.len());
                line
            }
            Line::Help { commands } => format!("* commands: {}", commands.join(", ")),
            Line::Skipped { count, .. } => format!("* {count} earlier lines skipped"),
            Line::Status { connected: false } => "* the chat is reconnecting".to_string(),
            Line::Status { connected: true } => "* the chat is back".to_string(),
            Line::Error(p) => error_text(&p.words()),
        })
    }
}

/// An error line from its words.
pub(crate) fn error_text(words: &str) -> String {
    format!("! {words}")
}

fn and_more(line: &mut String, total: usize, listed: usize) {
    if total > listed {
        line.push_str(&format!(" and {} more", total - listed));
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
