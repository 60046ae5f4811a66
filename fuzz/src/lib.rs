//! The fuzz target: one byte string decoded into a chat configuration and a sequence of
//! inputs (joins, frames, leaves, clock steps, shutdown), with the invariants checked after
//! every input.
//!
//! [`run`] has the shape of a libFuzzer target, so it can be driven by `cargo fuzz` on a
//! nightly toolchain; `src/main.rs` drives it on stable with seeded random inputs.

use arbitrary::{Result, Unstructured};
use chat_core::{
    Chat, Client, Config, ConnId, Feeds, Fetch, Grant, Join, Kept, LeaveReason, Now, Output,
    Rendering, Restored, Said, Signed, StoreRequest, Violation,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Pieces of text that reach deep into the command parser more often than random bytes do.
const WORDS: &[&str] = &[
    "/nick ",
    "/name ",
    "/w ",
    "/whisper ",
    "/msg ",
    "/me ",
    "/join ",
    "/kick ",
    "ann",
    "boss",
    "ops",
    "#",
    "/users",
    "/who",
    "/rooms",
    "/quit",
    "/help",
    "//",
    "/",
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "user0",
    "user1",
    "main",
    "Rust",
    "\u{1b}[2J",
    "\u{85}",
    "é",
    "漢",
    "a",
    "-",
    "_",
    "x",
];

/// Runs one decoded input sequence, panicking on any broken invariant.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    // Running out of input just ends the sequence early.
    let _ = drive(&mut u);
}

fn drive(u: &mut Unstructured<'_>) -> Result<()> {
    let config = Config {
        history: u.int_in_range(0..=4)?,
        max_message_bytes: u.int_in_range(0..=80)?,
        max_frame_bytes: u.int_in_range(0..=120)?,
        max_lines: u.int_in_range(0..=4)?,
        rate: f64::from(u.int_in_range(0u8..=10)?),
        burst: u.int_in_range(0..=5)?,
        announce_limit: u.int_in_range(0..=4)?,
        ping_interval: Duration::from_millis(u.int_in_range(0..=2000)?),
        ping_timeout: Duration::from_millis(u.int_in_range(0..=2000)?),
        max_connections: u.int_in_range(0..=6)?,
        list_limit: u.int_in_range(0..=3)?,
        resume_limit: u.int_in_range(0..=3)?,
        replay_bytes: u.int_in_range(0..=200)?,
        max_connections_per_ip: u.int_in_range(0..=3)?,
        connect_rate: f64::from(u.int_in_range(0u8..=3)?),
        connect_burst: u.int_in_range(0..=4)?,
        history_memory: u.int_in_range(0..=2000)?,
        signed_names: u.arbitrary()?,
        private_rooms: ["ops".into()].into_iter().collect(),
    };
    // Tokens as the runtime would have verified them: a user, an admin, a grant to `ops`.
    let signed: Vec<Signed> = ["ann", "Ann", "boss"]
        .iter()
        .enumerate()
        .map(|(i, name)| Signed {
            name: (*name).into(),
            admin: i == 2,
            rooms: if i == 1 { Grant::All } else { Grant::None },
        })
        .collect();
    // Half the inputs run with a store that answers when the input says, in any order, or
    // fails: what a slow or broken disk does.
    let mut store = if u.arbitrary()? {
        Some(Store {
            lines: Vec::new(),
            retain: u.int_in_range(0..=6)?,
            fetches: Vec::new(),
        })
    } else {
        None
    };
    let mut chat = match store {
        Some(_) => {
            let next_id = u.int_in_range(1..=5)?;
            let reserved = next_id + u.int_in_range(0..=3)?;
            Chat::with_store(config, Restored { next_id, reserved })
        }
        None => Chat::new(config),
    };
    let mut feeds = Feeds::new();
    let start = Instant::now();
    let mut now = start;
    // Live connections and how they render; outputs may only go to these.
    let mut live: BTreeMap<ConnId, Rendering> = BTreeMap::new();
    // The runtime's half of each connection: its client, and when a frame last came.
    let mut clients: BTreeMap<ConnId, Client> = BTreeMap::new();
    let mut heard: BTreeMap<ConnId, Instant> = BTreeMap::new();

    while !u.is_empty() {
        let stamp = Now::new(now, 1_700_000_000_000);
        let pick = |u: &mut Unstructured<'_>,
                    live: &BTreeMap<ConnId, Rendering>|
         -> Result<Option<ConnId>> {
            if live.is_empty() {
                return Ok(None);
            }
            let i = u.choose_index(live.len())?;
            Ok(live.keys().nth(i).copied())
        };
        match u.int_in_range(0..=10u8)? {
            0 | 1 => {
                let name = text(u)?;
                let room = text(u)?;
                // Mostly small ids (they land inside the history), sometimes any text.
                let since = match u.int_in_range(0..=3u8)? {
                    0 => None,
                    1 => Some(text(u)?),
                    _ => Some(u.int_in_range(0..=40u64)?.to_string()),
                };
                let rendering = if u.arbitrary()? {
                    Rendering::Json
                } else {
                    Rendering::Text
                };
                let join = Join {
                    name: u.arbitrary::<bool>()?.then_some(name.as_str()),
                    room: u.arbitrary::<bool>()?.then_some(room.as_str()),
                    since: since.as_deref(),
                    signed: match u.int_in_range(0..=4usize)? {
                        n if n < signed.len() => Some(&signed[n]),
                        _ => None,
                    },
                    rendering: Some(rendering),
                    // A few addresses, or none: the per-address limits are fuzzed too.
                    addr: match u.int_in_range(0..=3u8)? {
                        0 => None,
                        n => Some(std::net::IpAddr::from([10, 0, 0, n])),
                    },
                };
                if let Ok((id, client)) = chat.handle_join(join, stamp) {
                    assert!(live.insert(id, rendering).is_none(), "ids are never reused");
                    clients.insert(id, client);
                }
            }
            2..=4 => {
                if let Some(id) = pick(u, &live)? {
                    let frame = text(u)?;
                    heard.insert(id, now);
                    receive(&mut chat, &mut clients, id, frame.as_bytes(), stamp, &live);
                }
            }
            5 => {
                if let Some(id) = pick(u, &live)? {
                    let raw: Vec<u8> = u.arbitrary()?;
                    heard.insert(id, now);
                    receive(&mut chat, &mut clients, id, &raw, stamp, &live);
                }
            }
            6 => {
                if let Some(id) = pick(u, &live)? {
                    match u.int_in_range(0..=4u8)? {
                        0 => drop(heard.insert(id, now)),
                        1 => chat.handle_violation(id, Violation::TooBig),
                        2 => chat.handle_violation(id, Violation::InvalidUtf8),
                        _ => {
                            chat.handle_leave(id, LeaveReason::Closed);
                            live.remove(&id);
                        }
                    }
                }
            }
            7 | 8 => {
                now += Duration::from_millis(u.int_in_range(0..=3000)?);
                if chat.poll_timeout().is_some_and(|t| t <= now) {
                    chat.handle_timeout(now, |id| heard.get(&id).copied());
                }
            }
            9 => {
                if u.ratio(1, 8)? {
                    chat.handle_shutdown();
                }
            }
            _ => {
                if let Some(store) = store.as_mut().filter(|s| !s.fetches.is_empty()) {
                    let f = store.fetches.remove(u.choose_index(store.fetches.len())?);
                    let answer = u.arbitrary::<bool>()?.then(|| f.answer_from(&store.lines));
                    chat.handle_fetched(f.id, answer);
                }
            }
        }
        loop {
            check_outputs(&mut chat, &mut feeds, &mut live);
            let Some(request) = chat.poll_store() else {
                break;
            };
            let Some(store) = store.as_mut() else {
                panic!("a chat without a store asked one: {request:?}");
            };
            match request {
                StoreRequest::Keep(kept) => {
                    store.lines.push(kept);
                    let over = store.lines.len().saturating_sub(store.retain);
                    store.lines.drain(..over);
                }
                StoreRequest::Fetch(f) => store.fetches.push(f),
                StoreRequest::NextId(next) => {
                    chat.handle_reserved(u.arbitrary::<bool>()?.then_some(next))
                }
            }
        }
        assert_eq!(chat.connections(), live.len());
        assert!(chat.history_len(chat_core::MAIN) <= chat.config().history);
    }
    Ok(())
}

/// The store's model: kept lines (at most `retain`) and fetches not answered yet.
struct Store {
    lines: Vec<Kept>,
    retain: usize,
    fetches: Vec<Fetch>,
}

/// A frame as the server's WebSocket layer hands it on: too big or not UTF-8 is a
/// violation, anything else is text for the chat.
/// A frame from `id` as a runtime reads it: through its client, and on to the chat if it
/// passes; a refusal is checked like any line the chat sends.
fn receive(
    chat: &mut Chat,
    clients: &mut BTreeMap<ConnId, Client>,
    id: ConnId,
    frame: &[u8],
    now: Now,
    live: &BTreeMap<ConnId, Rendering>,
) {
    if frame.len() > chat.config().max_frame_bytes {
        return chat.handle_violation(id, Violation::TooBig);
    }
    let Ok(text) = std::str::from_utf8(frame) else {
        return chat.handle_violation(id, Violation::InvalidUtf8);
    };
    let client = clients
        .get_mut(&id)
        .expect("a live connection has its client");
    match client.handle_text(text, now.at) {
        Said::Lines(lines) => chat.handle_text(id, lines, now),
        Said::Refused(line) => check_line(line.as_str(), live[&id]),
        Said::Nothing => {}
    }
}

/// One line, without control characters; valid JSON for a JSON user.
fn check_line(line: &str, rendering: Rendering) {
    assert!(!line.is_empty() && !line.contains(['\n', '\r']), "{line:?}");
    assert!(
        !line.chars().any(|c| c.is_control() && c != '\t'),
        "{line:?}"
    );
    if rendering == Rendering::Json {
        serde_json::from_str::<serde_json::Value>(line).expect("JSON user gets JSON");
    }
}

/// Drains the outputs, checking that each goes to a live connection and is one line (valid
/// JSON for JSON users).
fn check_outputs(chat: &mut Chat, feeds: &mut Feeds, live: &mut BTreeMap<ConnId, Rendering>) {
    let mut outs = Vec::new();
    while let Some(out) = chat.poll_output() {
        feeds.expand(out, |o| outs.push(o));
    }
    for out in outs {
        let Some(to) = out.to() else {
            panic!("a room's line left unexpanded");
        };
        let Some(&rendering) = live.get(&to) else {
            panic!("output to a connection that is not live: {out:?}");
        };
        match out {
            Output::Send { payload, .. } => check_line(payload.as_str(), rendering),
            Output::Close { .. } => {
                live.remove(&to);
            }
            Output::Ping { .. } => {}
            Output::Room { .. } | Output::Enter { .. } => panic!("expanded: {out:?}"),
        }
    }
}

/// A short text made of dictionary words and arbitrary characters.
fn text(u: &mut Unstructured<'_>) -> Result<String> {
    let mut s = String::new();
    for _ in 0..u.int_in_range(0..=8)? {
        if u.arbitrary()? {
            s.push_str(u.choose(WORDS)?);
        } else {
            s.push(u.arbitrary()?);
        }
    }
    Ok(s)
}

/// The token parser with junk: raw bytes, and a genuine token with bytes changed, added or
/// removed. It must refuse (or accept a token whose name is valid and not automatic), and
/// never panic.
pub fn tokens(data: &[u8]) {
    use chat_server::auth::{Mint, Secret};
    use std::sync::OnceLock;
    static GENUINE: OnceLock<(Secret, String)> = OnceLock::new();
    let (secret, genuine) = GENUINE.get_or_init(|| {
        let secret = Secret::new("fuzz");
        let mint = Mint {
            name: "alice",
            ttl: Duration::from_secs(3600),
            admin: true,
            rooms: &["ops".to_string(), "*".to_string()],
        };
        let token = secret.sign(&mint).expect("a token");
        (secret, token)
    });
    let candidate = match data.split_first() {
        Some((mode, rest)) if mode % 2 == 0 => String::from_utf8_lossy(rest).into_owned(),
        Some((_, edits)) => {
            let mut token = genuine.clone().into_bytes();
            for edit in edits.chunks(3) {
                let at = usize::from(*edit.first().unwrap_or(&0)) % (token.len() + 1);
                let byte = *edit.get(1).unwrap_or(&b'A');
                match edit.get(2).map(|k| k % 3) {
                    Some(0) if at < token.len() => token[at] = byte,
                    Some(1) => token.insert(at, byte),
                    _ if at < token.len() => {
                        token.remove(at);
                    }
                    _ => {}
                }
            }
            String::from_utf8_lossy(&token).into_owned()
        }
        None => String::new(),
    };
    if let Ok(signed) = secret.verify(&candidate) {
        assert!(chat_core::name::is_valid_name(&signed.name), "{candidate}");
        assert!(!chat_core::auth::is_automatic(&signed.name), "{candidate}");
    }
}
