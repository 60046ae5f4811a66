//! Shared changes, ordered: a single server orders them at once, a cluster node proposes
//! them and applies what the broker ordered. Either way the change takes effect in
//! [`Chat::apply`], once, in the one order.

use super::Chat;
use crate::line::{Line, Problem};
use crate::order::{Event, Proposal};
use crate::output::{CloseReason, ConnId};
use crate::room::{said, Spoken};
use crate::store::Kept;

impl Chat {
    /// An event the cluster's broker ordered (this node's own proposals come back this way
    /// too). Apply them in the broker's order.
    pub fn handle_event(&mut self, event: Event) {
        self.apply(event);
    }

    /// The broker could not order a proposal (it cannot be reached, or its queue is full):
    /// nothing changed, and the sender is told `! not sent: the chat is reconnecting`
    /// rather than the line reaching part of the room or arriving out of order.
    pub fn handle_not_ordered(&mut self, proposal: Proposal) {
        match proposal {
            Proposal::Say { from, .. } => self.tell(from, &Line::Error(Problem::NotSent)),
        }
    }

    /// In a cluster, the runtime lost the broker (`connected: false`) or has it back. Every
    /// user here is told once, `* the chat is reconnecting` or `* the chat is back` (JSON
    /// `{"type":"status","connected":…}`); meanwhile lines and commands but `/help` and
    /// `/quit` are refused with `! not sent: the chat is reconnecting`, and joins with
    /// [`JoinError::Reconnecting`](crate::JoinError::Reconnecting). Their connections stay,
    /// however long it lasts.
    pub fn handle_broker(&mut self, connected: bool) {
        if self.proposals.is_none() || self.reconnecting != connected {
            return; // a single server has no broker; no news is no change
        }
        self.reconnecting = !connected;
        let line = Line::Status { connected };
        let mut ids: Vec<ConnId> = self.users.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.tell(id, &line);
        }
    }

    /// In a cluster, this node's state is stale: the others gave it up while it was cut off,
    /// or it missed events. Every connection is closed with 1012 (service restart), silently
    /// (the other nodes have already seen these users leave), so that clients reconnect
    /// and resume; the node then takes new connections afresh.
    pub fn handle_given_up(&mut self) {
        if self.proposals.is_some() {
            self.close_everyone(CloseReason::Restart);
        }
    }

    /// Orders a change: at once on a single server, through the broker in a cluster.
    pub(super) fn order(&mut self, proposal: Proposal) {
        if let Some(proposals) = self.proposals.as_mut() {
            proposals.push_back(proposal);
            return;
        }
        let event = match proposal {
            Proposal::Say { .. } => {
                let id = self.take_line_id();
                proposal.ordered(id)
            }
        };
        self.apply(event);
    }

    /// An ordered change takes effect.
    fn apply(&mut self, event: Event) {
        match event {
            Event::Said(kept) => self.apply_said(kept),
        }
    }

    /// A chat line goes to the room's members here and into its history. A room nobody is
    /// in here gets nothing (its history is read back when someone joins it).
    fn apply_said(&mut self, kept: Kept) {
        // Ids are the order's: what this node has seen bounds what a replay may hold.
        self.next_line_id = self.next_line_id.max(kept.id + 1);
        let room = kept.room.clone();
        if !self.broadcast(&room, &said(&kept, false), None) {
            return;
        }
        self.keep(&kept);
        let spoken = Spoken { kept };
        let cap = self.config.history;
        self.change_history(&room, |r| r.remember(spoken, cap));
    }
}
