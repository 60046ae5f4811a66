//! The runtime-independent half of the chat servers.
//!
//! `chat-core` decides everything about the chat; this crate moves bytes between it and
//! WebSocket connections, written once against the futures-io traits. Each runtime crate
//! (`chat-tokio`, `chat-async-std`, `chat-smol`) only implements [`Runtime`].
//!
//! # Modules
//!
//! - [`server`]: the accept loop, and shutdown that waits for the connections to end;
//! - `timer`: the task that delivers the core's deadlines;
//! - `trim`: memory given back to the system after many connections have gone at once;
//! - [`signal`]: SIGINT and SIGTERM as a future;
//! - `handshakes`: the caps on connections in the HTTP phase, in all and per address;
//! - `route`: one TCP connection: its HTTP request, the routes, the WebSocket upgrade;
//! - `http`: reading a request head (httparse) and writing plain responses;
//! - `connection`: the driver task of one WebSocket: frames in (through the connection's
//!   own `chat_core::Client`, so that what concerns it alone never takes the hub's lock),
//!   bursts out;
//! - `heard`: what a driver hears from its client that the hub reads without its lock;
//! - `cluster`: the hub's link to a cluster (`--cluster`): proposals to `chat-cluster`'s
//!   node, what it orders back into the core, history read from Redis;
//! - `hub`: the shared `Chat`, the fan-out of its outputs into feeds and outboxes, and its
//!   store requests into the store's queue (`chat-store`, whose answers come back through it);
//! - `feed`: one room's lines, appended once under the hub's lock and read by each of its
//!   readers through its own cursor;
//! - `outbox`: one connection's bounded outbound queue (its cursor in its room's feed, its
//!   own lines in their places), on the primitives of `sync` (std's, or loom's models of
//!   them, which check the outbox's every interleaving);
//! - `metrics`: `/metrics` in the Prometheus text format;
//! - [`proxy`]: the client's address behind a trusted reverse proxy;
//! - [`settings`]: flags and environment variables;
//! - [`runtime`]: the seam each runtime implements, the clock included;
//! - `bench` (hidden): the hub without sockets, for the `hub` benchmark.
//!
//! The program around it (the `connect` subcommand, logging, exit codes) is `chat-cli`.

pub mod auth;
#[doc(hidden)]
pub mod bench;
mod cluster;
mod connection;
mod feed;
mod handshakes;
mod heard;
mod http;
mod hub;
mod metrics;
mod outbox;
mod page;
pub mod proxy;
mod route;
pub mod runtime;
pub mod server;
pub mod settings;
pub mod signal;
mod sync;
mod timer;
pub mod tls;
mod trim;

pub use runtime::Runtime;
pub use server::{serve, serve_on, Error};
pub use settings::{Args, Settings};
pub use signal::shutdown_signal;
