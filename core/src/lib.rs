//! The chat, as a sans-IO state machine.
//!
//! This crate holds every rule of the chat protocol (`docs/PROTOCOL.md`): names, rooms,
//! commands, history, rate limits, heartbeats and the rendering of text and JSON lines.
//! It does no I/O, reads no clock and starts no threads: a runtime feeds it events with the
//! current time and carries out what it asks. That keeps all runtimes identical and makes
//! every rule testable by feeding inputs and reading outputs.
//!
//! # Modules
//!
//! - [`chat`]: [`Chat`], the state machine, with its inputs (`handle_*`) and outputs
//!   (`poll_*`); inside it, `frame` (text frames and commands), `presence` (rooms entered
//!   and left) and `fanout` (a room's line rendered once and emitted once for all its
//!   readers);
//! - [`client`]: [`Client`], one connection's own side, kept by the runtime with it: the
//!   line limits and rate of its text frames, decided without the shared chat;
//! - [`feeds`]: [`Feeds`], the runtime's half of the fan-out as a reference: which room each
//!   connection reads, so that a room's line becomes what each of them receives;
//! - [`config`]: [`Config`], the tunable rules;
//! - [`input`]: what the runtime reports besides frames: [`Join`], [`LeaveReason`],
//!   [`Violation`];
//! - [`output`]: [`Output`], what the runtime must do, and the ids and reasons in it;
//! - [`auth`]: [`Signed`], what a verified token says, and the private rooms it grants;
//! - [`order`]: [`Proposal`] and [`Event`], the shared changes a node of a cluster hands
//!   to the broker and applies once ordered (a single server orders them itself);
//! - [`payload`]: [`Payload`], one rendered line shared by all its recipients;
//! - [`line`](mod@line): every line the server sends, described once, rendered as text or JSON;
//! - [`read_back`]: a JSON line read back as its text line, for clients that need ids but
//!   show text;
//! - [`name`], [`text`]: what is a valid name or room, and how text is cleaned;
//! - `forgery`: the names and actions refused because they would read like a server line;
//! - `address`: what one client address may do (connections, their rate, what a
//!   reconnect inherits);
//! - `command`, `room`, `user`, `rate`, `heartbeat`: the parts of the state.
//!
//! # The drive loop
//!
//! Keep the [`Client`] a join gives with its connection and pass every text frame through
//! it; feed the chat an input, then drain the outputs until `poll_output` returns `None`
//! (with [`Feeds`] for what each connection receives); sleep until `poll_timeout` (or the
//! next input) and feed `handle_timeout` when it is due.
//!
//! ```
//! use chat_core::{Chat, Config, Join, Now, Output, Said};
//! use std::time::{Duration, Instant};
//!
//! let mut chat = Chat::new(Config::default());
//! let start = Instant::now();
//! let now = |secs: u64| Now::new(start + Duration::from_secs(secs), 1_700_000_000_000 + secs * 1000);
//!
//! let (alice, mut client) = chat.handle_join(Join::default(), now(0)).unwrap();
//! // Her own limits are her client's: a blank frame never reaches the chat.
//! assert!(matches!(client.handle_text("  ", now(1).at), Said::Nothing));
//! let Said::Lines(lines) = client.handle_text("Hello, I was first!", now(1).at) else {
//!     unreachable!("within the limits");
//! };
//! chat.handle_text(alice, lines, now(1));
//!
//! // A line to a room is one output for all its readers.
//! let mut room_lines = Vec::new();
//! while let Some(output) = chat.poll_output() {
//!     match output {
//!         Output::Room { room, text, .. } => room_lines.push((room, text.to_string())),
//!         Output::Send { .. } | Output::Enter { .. } => {} // the greeting; alice reads #main
//!         Output::Ping { .. } | Output::Close { .. } => unreachable!("nobody is idle yet"),
//!     }
//! }
//! assert_eq!(&*room_lines[0].0, "main");
//! assert_eq!(room_lines[0].1, "[user0]: Hello, I was first!");
//!
//! // Nothing arrives for 15 s after the last frame: the heartbeat asks for a ping. The
//! // runtime says when it last heard from a connection (here: never since that line).
//! // (`poll_timeout` may name an earlier instant; waking then just finds nothing to do.)
//! let later = start + Duration::from_secs(16);
//! assert!(chat.poll_timeout().unwrap() <= later);
//! chat.handle_timeout(later, |_| None);
//! assert_eq!(chat.poll_output(), Some(Output::Ping { to: alice }));
//! assert_eq!(chat.poll_output(), None);
//! ```

// The sans-IO promise, checked by the compiler: no unsafe code here, and `clippy.toml` bans
// reading clocks, starting threads and iterating in hash order.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod address;
pub mod auth;
pub mod chat;
pub mod client;
mod command;
pub mod config;
pub mod feeds;
mod forgery;
mod heartbeat;
pub mod input;
pub mod line;
pub mod name;
pub mod order;
pub mod output;
pub mod payload;
mod rate;
pub mod read_back;
mod room;
pub mod stats;
pub mod store;
pub mod text;
pub mod time;
mod user;

pub use auth::{Grant, Signed};
pub use chat::Chat;
pub use client::{Client, Lines, Said};
pub use config::Config;
pub use feeds::Feeds;
pub use input::{Join, JoinError, LeaveReason, Violation};
pub use line::Rendering;
pub use order::{Event, Member, Present, Proposal, Question, Refusal, Snapshot, Why};
pub use output::{CloseReason, ConnId, Output};
pub use payload::Payload;
pub use room::MAIN;
pub use stats::Stats;
pub use store::{Fetch, FetchId, Fetched, Kept, Restored, StoreRequest};
pub use time::Now;
