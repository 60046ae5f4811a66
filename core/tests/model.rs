//! Property tests: random sequences of joins, resumes, lines, commands, renames, room
//! changes, leaves and clock steps, checked against a small reference model of rooms, names,
//! line ids and history; with the history in memory only, and with a (model) store.

mod common;
use chat_core::{
    Chat, Config, ConnId, Feeds, Join, LeaveReason, Now, Output, Rendering, Restored, StoreRequest,
    Violation,
};
use common::Clients;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

const NAMES: &[&str] = &["al", "Al", "bob", "user1", "user3", "bad name", "x-_9"];
const ROOMS: &[&str] = &["main", "rust", "#Rust", "ada", "bad room", "#"];

#[derive(Clone, Debug)]
enum Op {
    Join {
        name: Option<usize>,
        room: Option<usize>,
        json: bool,
    },
    /// Joins with `since` this many lines before the latest id.
    Resume {
        room: Option<usize>,
        json: bool,
        back: u64,
    },
    Leave(usize),
    Say(usize, usize),
    Me(usize),
    Whisper(usize, usize),
    Nick(usize, usize),
    Move(usize, usize),
    Quit(usize),
    Users(usize),
    Pong(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let u = 0..8usize;
    prop_oneof![
        3 => (proptest::option::of(0..NAMES.len()), proptest::option::of(0..ROOMS.len()), any::<bool>())
            .prop_map(|(name, room, json)| Op::Join { name, room, json }),
        2 => (proptest::option::of(0..ROOMS.len()), any::<bool>(), 0..12u64)
            .prop_map(|(room, json, back)| Op::Resume { room, json, back }),
        1 => u.clone().prop_map(Op::Leave),
        4 => (u.clone(), 1..4usize).prop_map(|(u, n)| Op::Say(u, n)),
        1 => u.clone().prop_map(Op::Me),
        1 => (u.clone(), 0..8usize).prop_map(|(u, t)| Op::Whisper(u, t)),
        1 => (u.clone(), 0..NAMES.len()).prop_map(|(u, n)| Op::Nick(u, n)),
        2 => (u.clone(), 0..ROOMS.len()).prop_map(|(u, r)| Op::Move(u, r)),
        1 => u.clone().prop_map(Op::Quit),
        1 => u.clone().prop_map(Op::Users),
        1 => u.clone().prop_map(Op::Pong),
        1 => (0..20_000u64).prop_map(Op::Advance),
    ]
}

/// What the model knows of a user.
#[derive(Clone, Debug)]
struct ModelUser {
    name: String,
    room: String,
    json: bool,
}

/// A chat line as both renderings can be read back: (kind, from, to, text, id). Only JSON
/// shows the id of a message or action; a whisper has none.
type Said = (&'static str, String, String, String, Option<u64>);

struct Model {
    users: BTreeMap<ConnId, ModelUser>,
    next_auto: u64,
    /// Each room's lines with their ids: without a store, its latest `cap`, gone when its
    /// last member leaves; with one, all of them.
    history: BTreeMap<String, Vec<(u64, Said)>>,
    cap: usize,
    resume_limit: usize,
    stored: bool,
    /// The id the next chat line or action gets.
    next_id: u64,
}

impl Model {
    fn remove(&mut self, id: ConnId) {
        if let Some(u) = self.users.remove(&id) {
            self.vacate(&u.room);
        }
    }

    /// Without a store, drops a room's history once nobody is in it (but `main` keeps its
    /// own); with one, the history stays.
    fn vacate(&mut self, room: &str) {
        if !self.stored && room != "main" && self.in_room(room).is_empty() {
            self.history.remove(room);
        }
    }

    /// A line said in `room`: it gets the next id.
    fn remember(&mut self, room: &str, said: Said) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let h = self.history.entry(room.to_string()).or_default();
        h.push((id, said));
        if !self.stored && h.len() > self.cap {
            h.remove(0);
        }
        id
    }

    /// The history a joiner of `room` gets: the latest `cap` lines.
    fn replay(&self, room: &str, json: bool) -> Vec<Said> {
        let h = self.history.get(room).map_or(&[][..], Vec::as_slice);
        let from = h.len().saturating_sub(self.cap);
        h[from..]
            .iter()
            .map(|(id, s)| with_id(s, *id, json))
            .collect()
    }

    /// What a resume of `room` after `since` gets: the kept lines after it, the latest
    /// `resume_limit` of them.
    fn resume(&self, room: &str, since: u64, json: bool) -> Vec<Said> {
        let h = self.history.get(room).map_or(&[][..], Vec::as_slice);
        let after: Vec<_> = h.iter().filter(|(id, _)| *id > since).collect();
        let from = after.len().saturating_sub(self.resume_limit);
        after[from..]
            .iter()
            .map(|(id, s)| with_id(s, *id, json))
            .collect()
    }

    fn taken(&self, name: &str, except: Option<ConnId>) -> bool {
        self.users
            .iter()
            .any(|(id, u)| Some(*id) != except && u.name.eq_ignore_ascii_case(name))
    }

    fn auto(&mut self) -> String {
        loop {
            let n = format!("user{}", self.next_auto);
            self.next_auto += 1;
            if !self.taken(&n, None) {
                return n;
            }
        }
    }

    fn in_room(&self, room: &str) -> Vec<ConnId> {
        self.users
            .iter()
            .filter(|(_, u)| u.room == room)
            .map(|(id, _)| *id)
            .collect()
    }

    fn pick(&self, i: usize) -> Option<ConnId> {
        let ids: Vec<_> = self.users.keys().copied().collect();
        (!ids.is_empty()).then(|| ids[i % ids.len()])
    }
}

/// A line as a recipient reads it: with its id in JSON.
fn with_id(said: &Said, id: u64, json: bool) -> Said {
    let mut said = said.clone();
    said.4 = json.then_some(id);
    said
}

fn valid_name(s: &str) -> bool {
    chat_core::name::is_valid_name(s)
}

fn room_of(typed: &str) -> Option<String> {
    let bare = typed.strip_prefix('#').unwrap_or(typed);
    chat_core::name::is_valid_room(bare).then(|| bare.to_ascii_lowercase())
}

/// Reads a chat line, message, action or whisper, back from either rendering.
fn said(line: &str, json: bool) -> Option<Said> {
    if json {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let id = v["id"].as_u64();
        return match v["type"].as_str()? {
            "message" => Some(("message", s("from"), String::new(), s("text"), id)),
            "action" => Some(("action", s("from"), String::new(), s("text"), id)),
            "whisper" => Some(("whisper", s("from"), s("to"), s("text"), None)),
            _ => None,
        };
    }
    if let Some(rest) = line.strip_prefix('[') {
        let (who, text) = rest.split_once("]: ")?;
        return Some(match who.split_once(" -> ") {
            Some((from, to)) => ("whisper", from.into(), to.into(), text.into(), None),
            None => ("message", who.into(), String::new(), text.into(), None),
        });
    }
    let rest = line.strip_prefix("* ")?;
    let (from, text) = rest.split_once(' ')?;
    text.starts_with('m')
        .then(|| ("action", from.into(), String::new(), text.into(), None))
}

/// A text frame from `id`, through its client; a refusal comes back as its output.
fn send(
    clients: &mut Clients,
    chat: &mut Chat,
    id: ConnId,
    frame: &str,
    now: Now,
) -> Option<Output> {
    let payload = clients.text(chat, id, frame, now)?;
    Some(Output::Send { to: id, payload })
}

fn run(ops: Vec<Op>, stored: bool) -> Result<(), TestCaseError> {
    let config = Config {
        rate: 0.0,
        history: 3,
        resume_limit: 4,
        announce_limit: 3,
        list_limit: 2,
        ..Config::default()
    };
    let cap = config.history;
    let resume_limit = config.resume_limit;
    let mut store = common::ModelStore::new(usize::MAX);
    let mut chat = if stored {
        let restored = Restored {
            next_id: 1,
            reserved: u64::MAX / 2,
        };
        // A budget of a few lines: quiet rooms keep letting their history go, and it must
        // come back from the store unchanged.
        let config = Config {
            history_memory: 400,
            ..config
        };
        Chat::with_store(config, restored)
    } else {
        Chat::new(config)
    };
    let mut feeds = Feeds::new();
    let mut clients = Clients::default();
    let start = common::origin();
    let mut now = start;
    let mut model = Model {
        users: BTreeMap::new(),
        next_auto: 0,
        history: BTreeMap::new(),
        cap,
        resume_limit,
        stored,
        next_id: 1,
    };
    let mut seq = 0u64;

    for op in ops {
        let stamp = Now::new(now, 0);
        // What the model expects each connection to receive of chat lines, in order.
        let mut expected: BTreeMap<ConnId, Vec<Said>> = BTreeMap::new();
        let mut may_close = false;
        let mut joined = None;
        // Refusals by a connection's own client, before anything the chat emits.
        let mut early: Vec<Output> = Vec::new();
        match op {
            Op::Join { name, room, json } => {
                let join = Join {
                    name: name.map(|n| NAMES[n]),
                    room: room.map(|r| ROOMS[r]),
                    rendering: Some(if json {
                        Rendering::Json
                    } else {
                        Rendering::Text
                    }),
                    ..Join::default()
                };
                let Ok(id) = clients.join(&mut chat, join, stamp) else {
                    return Err(TestCaseError::fail("join refused"));
                };
                let name = match join.name {
                    Some(n) if valid_name(n) && !model.taken(n, None) => n.to_string(),
                    _ => model.auto(),
                };
                let room = join.room.and_then(room_of).unwrap_or_else(|| "main".into());
                prop_assert_eq!(chat.name_of(id), Some(name.as_str()));
                prop_assert_eq!(chat.room_of(id), Some(room.as_str()));
                let replay = model.replay(&room, json);
                if !replay.is_empty() {
                    expected.insert(id, replay);
                }
                model.users.insert(id, ModelUser { name, room, json });
                joined = Some(id);
            }
            Op::Resume { room, json, back } => {
                let since = model.next_id.saturating_sub(1 + back);
                let typed = since.to_string();
                let join = Join {
                    room: room.map(|r| ROOMS[r]),
                    rendering: Some(if json {
                        Rendering::Json
                    } else {
                        Rendering::Text
                    }),
                    since: Some(&typed),
                    ..Join::default()
                };
                let Ok(id) = clients.join(&mut chat, join, stamp) else {
                    return Err(TestCaseError::fail("join refused"));
                };
                let name = model.auto();
                let room = join.room.and_then(room_of).unwrap_or_else(|| "main".into());
                let replay = model.resume(&room, since, json);
                if !replay.is_empty() {
                    expected.insert(id, replay);
                }
                model.users.insert(id, ModelUser { name, room, json });
                joined = Some(id);
            }
            Op::Leave(u) => {
                if let Some(id) = model.pick(u) {
                    clients.forget(id);
                    chat.handle_leave(id, LeaveReason::Closed);
                    model.remove(id);
                }
            }
            Op::Say(u, n) => {
                if let Some(id) = model.pick(u) {
                    let sender = model.users[&id].clone();
                    let texts: Vec<String> =
                        (0..n).map(|i| format!("m{}", seq + i as u64)).collect();
                    seq += n as u64;
                    for t in &texts {
                        let line = (
                            "message",
                            sender.name.clone(),
                            String::new(),
                            t.clone(),
                            None,
                        );
                        let id = model.remember(&sender.room, line.clone());
                        for r in model.in_room(&sender.room) {
                            let json = model.users[&r].json;
                            expected
                                .entry(r)
                                .or_default()
                                .push(with_id(&line, id, json));
                        }
                    }
                    early.extend(send(&mut clients, &mut chat, id, &texts.join("\n"), stamp));
                }
            }
            Op::Me(u) => {
                if let Some(id) = model.pick(u) {
                    let sender = model.users[&id].clone();
                    let t = format!("m{seq}");
                    seq += 1;
                    let line = (
                        "action",
                        sender.name.clone(),
                        String::new(),
                        t.clone(),
                        None,
                    );
                    let line_id = model.remember(&sender.room, line.clone());
                    for r in model.in_room(&sender.room) {
                        let json = model.users[&r].json;
                        expected
                            .entry(r)
                            .or_default()
                            .push(with_id(&line, line_id, json));
                    }
                    early.extend(send(
                        &mut clients,
                        &mut chat,
                        id,
                        &format!("/me {t}"),
                        stamp,
                    ));
                }
            }
            Op::Whisper(u, to) => {
                if let (Some(id), Some(target)) = (model.pick(u), model.pick(to)) {
                    let (from, to_name) = (
                        model.users[&id].name.clone(),
                        model.users[&target].name.clone(),
                    );
                    let t = format!("m{seq}");
                    seq += 1;
                    let line = ("whisper", from, to_name.clone(), t.clone(), None);
                    expected.entry(id).or_default().push(line.clone());
                    if target != id {
                        expected.entry(target).or_default().push(line);
                    }
                    early.extend(send(
                        &mut clients,
                        &mut chat,
                        id,
                        &format!("/w {} {t}", to_name.to_uppercase()),
                        stamp,
                    ));
                }
            }
            Op::Nick(u, n) => {
                if let Some(id) = model.pick(u) {
                    let new = NAMES[n];
                    early.extend(send(
                        &mut clients,
                        &mut chat,
                        id,
                        &format!("/nick {new}"),
                        stamp,
                    ));
                    let current = model.users[&id].name.clone();
                    if valid_name(new) && !model.taken(new, Some(id)) && current != new {
                        model.users.get_mut(&id).expect("picked").name = new.to_string();
                    }
                }
            }
            Op::Move(u, r) => {
                if let Some(id) = model.pick(u) {
                    early.extend(send(
                        &mut clients,
                        &mut chat,
                        id,
                        &format!("/join {}", ROOMS[r]),
                        stamp,
                    ));
                    let old = model.users[&id].room.clone();
                    if let Some(room) = room_of(ROOMS[r]).filter(|room| *room != old) {
                        model.users.get_mut(&id).expect("picked").room = room.clone();
                        model.vacate(&old);
                        let json = model.users[&id].json;
                        let replay = model.replay(&room, json);
                        if !replay.is_empty() {
                            expected.insert(id, replay);
                        }
                    }
                }
            }
            Op::Quit(u) => {
                if let Some(id) = model.pick(u) {
                    early.extend(send(&mut clients, &mut chat, id, "/quit", stamp));
                    model.remove(id);
                }
            }
            Op::Users(u) => {
                if let Some(id) = model.pick(u) {
                    early.extend(send(&mut clients, &mut chat, id, "/users", stamp));
                }
            }
            Op::Pong(u) => {
                if let Some(id) = model.pick(u) {
                    clients.heard.insert(id, now);
                }
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(ms);
                if chat.poll_timeout().is_some_and(|t| t <= now) {
                    chat.handle_timeout(now, |id| clients.heard.get(&id).copied());
                }
                may_close = true;
            }
        }

        // Drain, checking addressees and collecting the chat lines each connection got.
        let mut got: BTreeMap<ConnId, Vec<Said>> = BTreeMap::new();
        let mut closed = Vec::new();
        // Outputs, then the store's requests (answered at once), until neither has more.
        loop {
            let mut outs = std::mem::take(&mut early);
            while let Some(out) = chat.poll_output() {
                feeds.expand(out, |o| outs.push(o));
            }
            for out in outs {
                let to = out.to().expect("expanded");
                if let Output::Close { .. } = out {
                    clients.forget(to);
                }
                let known = model.users.contains_key(&to) || closed.contains(&to);
                // A quit or left user may be in the middle of being closed this very step.
                prop_assert!(
                    known || matches!(out, Output::Close { .. }) || Some(to) == joined,
                    "output to unknown connection {to}: {out:?}"
                );
                match out {
                    Output::Send { payload, .. } => {
                        prop_assert!(!closed.contains(&to), "{to} got a line after its close");
                        let json = model.users.get(&to).is_some_and(|u| u.json);
                        if let Some(s) = said(payload.as_str(), json) {
                            got.entry(to).or_default().push(s);
                        }
                    }
                    Output::Close { .. } => {
                        if model.users.contains_key(&to) {
                            prop_assert!(may_close, "unexpected close of {to}");
                            model.remove(to);
                        }
                        closed.push(to);
                    }
                    Output::Ping { .. } => prop_assert!(may_close, "ping outside a clock step"),
                    Output::Room { .. } | Output::Enter { .. } => unreachable!("expanded"),
                }
            }
            let mut answered = false;
            while let Some(request) = chat.poll_store() {
                prop_assert!(stored, "a chat without a store asked one: {request:?}");
                match request {
                    StoreRequest::Keep(kept) => store.lines.push(kept),
                    StoreRequest::NextId(next) => chat.handle_reserved(Some(next)),
                    StoreRequest::Fetch(f) => {
                        chat.handle_fetched(f.id, Some(store.fetch(&f)));
                        answered = true;
                    }
                }
            }
            if !answered {
                break;
            }
        }
        prop_assert_eq!(got, expected);

        // Invariants.
        prop_assert_eq!(chat.connections(), model.users.len());
        let mut keys: Vec<String> = Vec::new();
        for (id, u) in &model.users {
            prop_assert_eq!(chat.name_of(*id), Some(u.name.as_str()));
            prop_assert_eq!(chat.room_of(*id), Some(u.room.as_str()));
            // Every fetch is answered at once, so nobody is held: each reads its own room.
            prop_assert_eq!(
                feeds.room_of(*id),
                Some(u.room.as_str()),
                "{} reads its room",
                id
            );
            keys.push(u.name.to_ascii_lowercase());
        }
        let count = keys.len();
        keys.sort();
        keys.dedup();
        prop_assert_eq!(keys.len(), count, "names are unique case-insensitively");
        for room in ["main", "rust", "ada"] {
            prop_assert!(chat.history_len(room) <= cap);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_chat_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops, false)?;
    }

    /// The same with a store: emptied rooms keep their history, resumes reach past memory.
    #[test]
    fn the_chat_with_a_store_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops, true)?;
    }

    /// Arbitrary frames, including invalid UTF-8 and huge or multi-line ones, never panic and
    /// never address an unknown connection; every server frame stays one line.
    #[test]
    fn arbitrary_frames_are_handled(frames in proptest::collection::vec(
        (0..3usize, prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            "(/(nick|w|me|join|users|rooms|help|quit|x)? ?[a-zA-Z#_ -]{0,12}\n?){1,3}".prop_map(String::into_bytes),
        ]), 1..60)) {
        let mut chat = Chat::new(Config { burst: 5, ..Config::default() });
        let mut feeds = Feeds::new();
        let mut clients = Clients::default();
        let start = common::origin();
        let mut ids: Vec<ConnId> = (0..3)
            .map(|_| clients.join(&mut chat, Join::default(), Now::new(start, 0)).expect("room"))
            .collect();
        for (i, (who, frame)) in frames.iter().enumerate() {
            let now = Now::new(start + Duration::from_millis(i as u64 * 300), 0);
            let id = ids[*who];
            // As a runtime does: UTF-8 text reaches the chat, anything else is a violation.
            let mut outs = Vec::new();
            match std::str::from_utf8(frame) {
                Ok(text) => outs.extend(send(&mut clients, &mut chat, id, text, now)),
                Err(_) => chat.handle_violation(id, Violation::InvalidUtf8),
            }
            chat.handle_timeout(now.at, |id| clients.heard.get(&id).copied());
            while let Some(out) = chat.poll_output() {
                feeds.expand(out, |o| outs.push(o));
            }
            for out in outs {
                if let Output::Send { payload, .. } = &out {
                    prop_assert!(!payload.as_str().contains(['\n', '\r']));
                }
                prop_assert!(out.to().is_some_and(|to| ids.contains(&to)));
                if let Output::Close { to, .. } = out {
                    // A closed connection is replaced by a new one, so all three slots stay in use.
                    let slot = ids.iter().position(|x| *x == to).expect("checked above");
                    clients.forget(to);
                    ids[slot] = clients.join(&mut chat, Join::default(), now).expect("room");
                }
            }
        }
    }
}
