//! Several chat servers as one chat: the Redis side.
//!
//! The shared state of the chat (names, who is in which room, the counts, the ids and order
//! of lines, history) lives in Redis and changes only through the functions of `chat.lua`,
//! one per kind of change. Each checks, changes and appends its event to one stream, all
//! atomically, so every node that applies the stream in order sees the same chat.
//!
//! # Modules
//!
//! - [`broker`]: [`Broker`], one blocking connection that runs the changes (a thread of
//!   its own serves every runtime), and [`Events`], the blocking read of the stream on a
//!   connection of its own;
//! - [`proposal`]: [`Proposal`], a change a node asks for, each one call of `chat.lua`
//!   (alone or in a pipeline), and its [`Answer`];
//! - [`event`]: [`Event`], one entry of the stream, [`Snapshot`], the whole state at one
//!   point of it, and the parts of answers;
//! - [`node`]: [`Node`], one node's link: a writer thread (its changes, its lease, the
//!   heartbeat) and a reader thread (a snapshot, then the stream), reconnecting on their own, with
//!   everything that comes back on one channel;
//! - `chat.lua`: the functions, loaded at every (re)connection;
//! - [`testing`]: a real `redis-server` on a free port, for tests and benchmarks.
//!
//! The server's `cluster` module ties a [`Node`] to the hub: the core's proposals go in,
//! what the node delivers is applied by the core in order.

pub mod broker;
pub mod event;
pub mod node;
pub mod proposal;
pub mod testing;

pub use broker::{Broker, Error, Events, Member};
pub use event::{Entry, Event, Joined, Lease, Moved, Present, Snapshot};
pub use node::{Delivery, Node, NodeConfig, Status};
pub use proposal::{Answer, Proposal, Renamed, Whispered};
