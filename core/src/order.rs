//! The one order of the chat's shared changes, with a single server or a cluster.
//!
//! A single server orders its changes itself. A node of a cluster hands each change to the
//! broker as a [`Proposal`] ([`Chat::poll_proposal`](crate::Chat::poll_proposal)) and
//! applies the [`Event`]s the broker ordered, its own and every other node's, in the order
//! given ([`Chat::handle_event`](crate::Chat::handle_event)). Both apply an event through
//! the same code, so the single server is not a second implementation.
//!
//! Lines are ordered so far: names, rooms and counts still belong to each node (issue 11
//! goes on).

use crate::output::ConnId;
use crate::store::Kept;
use std::sync::Arc;

/// A change this node asks the cluster to order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposal {
    /// A chat line (or `/me` action) by a local user, to be given its id by the order.
    Say {
        /// The sender's connection on this node.
        from: ConnId,
        /// The room it was said in.
        room: Arc<str>,
        /// The sender's name when it spoke.
        name: Arc<str>,
        /// The line, cleaned.
        text: Arc<str>,
        /// A `/me` action rather than a chat line.
        action: bool,
        /// When it was said, Unix milliseconds (this node's clock).
        ts: u64,
    },
}

/// A change the cluster has ordered: apply it in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A chat line, with its id, said on any node.
    Said(Kept),
}

impl Proposal {
    /// The event this proposal becomes once ordered with `id` (what a broker does).
    pub fn ordered(self, id: u64) -> Event {
        match self {
            Proposal::Say {
                room,
                name,
                text,
                action,
                ts,
                ..
            } => Event::Said(Kept {
                id,
                room,
                from: name,
                text,
                action,
                ts,
            }),
        }
    }
}
