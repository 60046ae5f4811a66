//! The chat's history store: SQLite in one file, written by one thread.
//!
//! The core never touches it: it hands out [`StoreRequest`](chat_core::StoreRequest)s,
//! which the server pushes into the writer's bounded [`Queue`] without waiting, and the
//! writer's answers go back to the core as inputs through the callback given to
//! [`Store::start`]. Chat latency therefore never depends on the disk: a full queue is an
//! error that is counted, not a stall.
//!
//! # Modules
//!
//! - `open`: [`open`] a file (or `:memory:`): its lock, its schema, where ids start again;
//! - `writer`: the writer thread: one transaction per batch, retention, fetches;
//! - `stats`: [`StoreStats`], what `/metrics` shows of the store.

mod open;
mod stats;
mod writer;

pub use open::{open, OpenError, Opened, MEMORY};
pub use stats::{StoreStats, BATCH_BUCKETS};
pub use writer::{Answer, Queue, Store};
