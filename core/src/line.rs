//! Every line the server sends, and its two renderings: text and `chat.v1.json`.

use crate::command::HELP;
use crate::payload::Payload;
use serde::Serialize;

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

/// Something the server tells a user, before it is rendered.
#[derive(Debug)]
pub(crate) enum Line<'a> {
    /// `You are connected! There are N users here.` (text only; JSON has `Welcome`).
    Greeting {
        users: usize,
    },
    /// `* you are NAME in #ROOM`, with ` (N users)` after `/join` (text only).
    YouAre {
        you: &'a str,
        room: &'a str,
        users: Option<usize>,
    },
    /// The JSON form of the greeting and `YouAre` together (JSON only).
    Welcome {
        you: &'a str,
        room: &'a str,
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
    Joined {
        room: &'a str,
        user: &'a str,
    },
    Left {
        room: &'a str,
        user: &'a str,
    },
    Rename {
        from: &'a str,
        to: &'a str,
    },
    Users {
        room: &'a str,
        names: Vec<&'a str>,
        total: usize,
    },
    Rooms {
        rooms: Vec<(&'a str, usize)>,
        total: usize,
    },
    Help,
    Error(Problem<'a>),
}

/// A chat line or action: what a user said in a room, and when.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Said<'a> {
    pub room: &'a str,
    pub from: &'a str,
    pub text: &'a str,
    pub ts: u64,
}

/// Why a user's input was refused: every `! …` line.
#[derive(Debug)]
pub(crate) enum Problem<'a> {
    NameTaken(&'a str),
    InvalidName(&'a str),
    NoSuchUser(&'a str),
    Usage(&'static str),
    UnknownCommand(&'a str),
    InvalidRoom(&'a str),
    AlreadyInRoom(&'a str),
    TooManyLines(usize),
    MessageTooLong(usize),
    SlowDown(f64),
}

impl Problem<'_> {
    /// The `code` of the JSON error object.
    fn code(&self) -> &'static str {
        match self {
            Problem::NameTaken(_) => "name_taken",
            Problem::InvalidName(_) => "invalid_name",
            Problem::NoSuchUser(_) => "no_such_user",
            Problem::Usage(_) => "usage",
            Problem::UnknownCommand(_) => "unknown_command",
            Problem::InvalidRoom(_) => "invalid_room",
            Problem::AlreadyInRoom(_) => "already_in_room",
            Problem::TooManyLines(_) => "too_many_lines",
            Problem::MessageTooLong(_) => "message_too_long",
            Problem::SlowDown(_) => "slow_down",
        }
    }

    /// The words of the error, without the text rendering's `! `.
    fn words(&self) -> String {
        match self {
            Problem::NameTaken(n) => format!("name taken: {n}"),
            Problem::InvalidName(n) => format!("invalid name: {n}"),
            Problem::NoSuchUser(n) => format!("no such user: {n}"),
            Problem::Usage(u) => format!("usage: {u}"),
            Problem::UnknownCommand(w) => format!("unknown command: {w} (try /help)"),
            Problem::InvalidRoom(r) => format!("invalid room: {r}"),
            Problem::AlreadyInRoom(r) => format!("you are already in #{r}"),
            Problem::TooManyLines(max) => format!("too many lines (max {max})"),
            Problem::MessageTooLong(max) => format!("message too long (max {max} bytes)"),
            Problem::SlowDown(rate) => format!("slow down (max {rate} lines/s)"),
        }
    }
}

impl Line<'_> {
    /// Renders the line once, for every recipient of one rendering to share.
    ///
    /// `None` when the line does not exist in that rendering (the text greeting in JSON,
    /// the JSON welcome in text). `replay` marks history items in JSON.
    pub(crate) fn render(&self, rendering: Rendering, replay: bool) -> Option<Payload> {
        let line = match rendering {
            Rendering::Text => self.text(),
            Rendering::Json => self.json(replay),
        };
        line.map(Payload::from)
    }

    fn text(&self) -> Option<String> {
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
            Line::Users { room, names, total } => {
                let mut line = format!("* users in #{room} ({total}): {}", names.join(", "));
                and_more(&mut line, *total, names.len());
                line
            }
            Line::Rooms { rooms, total } => {
                let listed: Vec<String> =
                    rooms.iter().map(|(r, n)| format!("#{r} ({n})")).collect();
                let mut line = format!("* rooms: {}", listed.join(", "));
                and_more(&mut line, *total, rooms.len());
                line
            }
            Line::Help => format!("* commands: {}", HELP.join(", ")),
            Line::Error(p) => format!("! {}", p.words()),
        })
    }

    fn json(&self, replay: bool) -> Option<String> {
        let json = match self {
            Line::Greeting { .. } | Line::YouAre { .. } => return None,
            Line::Welcome {
                you,
                room,
                names,
                total,
            } => Json::Welcome {
                you,
                room,
                users: names,
                total: *total,
            },
            Line::Message(s) => Json::Message {
                room: s.room,
                from: s.from,
                text: s.text,
                ts: s.ts,
                replay,
            },
            Line::Action(s) => Json::Action {
                room: s.room,
                from: s.from,
                text: s.text,
                ts: s.ts,
                replay,
            },
            Line::Whisper { from, to, text, ts } => Json::Whisper {
                from,
                to,
                text,
                ts: *ts,
            },
            Line::Joined { room, user } => Json::Join { room, user },
            Line::Left { room, user } => Json::Leave { room, user },
            Line::Rename { from, to } => Json::Rename { from, to },
            Line::Users { room, names, total } => Json::Users {
                room,
                users: names,
                total: *total,
            },
            Line::Rooms { rooms, total } => Json::Rooms {
                rooms: rooms
                    .iter()
                    .map(|&(name, users)| RoomCount { name, users })
                    .collect(),
                total: *total,
            },
            Line::Help => Json::Help { commands: &HELP },
            Line::Error(p) => Json::Error {
                code: p.code(),
                text: p.words(),
            },
        };
        // Serializing plain structs of strings and integers into a Vec cannot fail.
        Some(serde_json::to_string(&json).expect("JSON of strings and numbers"))
    }
}

fn and_more(line: &mut String, total: usize, listed: usize) {
    if total > listed {
        line.push_str(&format!(" and {} more", total - listed));
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Json<'a> {
    Welcome {
        you: &'a str,
        room: &'a str,
        users: &'a [&'a str],
        total: usize,
    },
    Message {
        room: &'a str,
        from: &'a str,
        text: &'a str,
        ts: u64,
        #[serde(skip_serializing_if = "is_false")]
        replay: bool,
    },
    Action {
        room: &'a str,
        from: &'a str,
        text: &'a str,
        ts: u64,
        #[serde(skip_serializing_if = "is_false")]
        replay: bool,
    },
    Whisper {
        from: &'a str,
        to: &'a str,
        text: &'a str,
        ts: u64,
    },
    Join {
        room: &'a str,
        user: &'a str,
    },
    Leave {
        room: &'a str,
        user: &'a str,
    },
    Rename {
        from: &'a str,
        to: &'a str,
    },
    Users {
        room: &'a str,
        users: &'a [&'a str],
        total: usize,
    },
    Rooms {
        rooms: Vec<RoomCount<'a>>,
        total: usize,
    },
    Help {
        commands: &'a [&'a str],
    },
    Error {
        code: &'static str,
        text: String,
    },
}

#[derive(Serialize)]
struct RoomCount<'a> {
    name: &'a str,
    users: usize,
}

fn is_false(b: &bool) -> bool {
    !*b
}
