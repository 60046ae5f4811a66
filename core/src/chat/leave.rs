//! Leaving: a connection gone, closed for a violation or a missed ping, or everyone at
//! shutdown; each user is forgotten here and its leave ordered.

use super::Chat;
use crate::input::{LeaveReason, Violation};
use crate::order::Proposal;
use crate::output::{CloseReason, ConnId, Output};
use crate::room::{Room, MAIN};
use crate::user::User;
use std::time::Instant;

impl Chat {
    /// The runtime refused a frame for breaking the WebSocket rules: close with 1009, 1007
    /// or 1002.
    pub fn handle_violation(&mut self, id: ConnId, violation: Violation) {
        let reason = match violation {
            Violation::TooBig => CloseReason::MessageTooBig,
            Violation::InvalidUtf8 => CloseReason::InvalidUtf8,
            Violation::Protocol => CloseReason::ProtocolError,
        };
        self.close(id, reason);
    }

    /// The connection has gone. Its room hears `* NAME left`. Unknown ids are ignored, so
    /// calling this after an [`Output::Close`] is fine.
    pub fn handle_leave(&mut self, id: ConnId, reason: LeaveReason) {
        if self.users.contains_key(&id) {
            self.stats.count_leave(reason);
            self.forget(id);
        }
    }

    /// Time has reached (or passed) [`poll_timeout`](Self::poll_timeout): pings idle
    /// connections and closes those that did not answer one.
    ///
    /// `heard` says when the runtime last heard a frame of any kind from a connection (a
    /// pong, a binary frame, a text frame its [`Client`](crate::Client) refused): the chat
    /// is not told of each, only asked here, for the connections whose deadline has come.
    pub fn handle_timeout(&mut self, now: Instant, heard: impl Fn(ConnId) -> Option<Instant>) {
        let interval = self.config.ping_interval;
        let timeout = self.config.ping_timeout;
        while let Some(id) = self.heartbeat.pop_due(now) {
            let Some(user) = self.users.get_mut(&id) else {
                continue; // left since this deadline was set
            };
            if let Some(at) = heard(id) {
                user.seen(at);
            }
            let due = match user.pinged_at {
                Some(pinged) => pinged + timeout,
                None => user.last_seen + interval,
            };
            if due > now {
                self.heartbeat.schedule(due, id);
            } else if user.pinged_at.is_none() {
                user.pinged_at = Some(now);
                self.heartbeat.schedule(now + timeout, id);
                self.outputs.push_back(Output::Ping { to: id });
            } else {
                self.close(id, CloseReason::PingTimeout);
            }
        }
    }

    /// The server is stopping: every connection is closed with 1001 and joins are refused.
    /// Nobody hears anyone leave; `main` keeps its history in memory, other rooms go (and
    /// the store is told the next id, so that a restart continues from it).
    ///
    /// In a cluster, every user's leave is ordered first: the other nodes hear them leave
    /// now rather than when this node's lease runs out.
    pub fn handle_shutdown(&mut self) {
        self.stopping = true;
        self.store_shutdown();
        if self.proposals.is_some() {
            self.order_leaves();
        }
        self.close_everyone(CloseReason::Shutdown);
    }

    /// Closes every connection with `reason`, silently (nobody hears anyone leave), and
    /// forgets every user; `main` keeps its history in memory, other rooms go.
    pub(super) fn close_everyone(&mut self, reason: CloseReason) {
        self.held = 0;
        let mut ids: Vec<ConnId> = self.users.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let reason = reason.clone();
            self.outputs.push_back(Output::Close { to: id, reason });
        }
        self.users.clear();
        self.names.clear();
        self.unsent.clear();
        self.addresses.clear();
        self.rooms.retain(|name, _| **name == *MAIN);
        self.quiet.retain(|_, name| **name == *MAIN);
        self.history_bytes = self.rooms.values().map(Room::history_bytes).sum();
        if let Some(main) = self.rooms.get_mut(&self.main) {
            main.clear_members();
        }
        self.heartbeat.clear();
    }

    /// Closes a connection: tells the runtime, then forgets the user.
    pub(super) fn close(&mut self, id: ConnId, reason: CloseReason) {
        if self.users.contains_key(&id) {
            self.stats.count_close(&reason);
            self.outputs.push_back(Output::Close { to: id, reason });
            self.forget(id);
        }
    }

    /// Removes a user from this node (it receives nothing more from now on) and orders its
    /// leave: its room hears `* NAME left` and its name is free once that is applied.
    fn forget(&mut self, id: ConnId) {
        if let Some(user) = self.remove_here(id) {
            self.order(Proposal::Leave {
                from: id,
                name: user.name,
                room: user.room,
                quiet: user.muted,
            });
        }
    }

    /// Closes a connection whose leave the order has already applied (taken over, kicked).
    pub(super) fn drop_here(&mut self, id: ConnId, reason: CloseReason) {
        if self.users.contains_key(&id) {
            self.stats.count_close(&reason);
            self.outputs.push_back(Output::Close { to: id, reason });
            self.remove_here(id);
        }
    }

    /// Takes a user out of this node: its replay, its room's members here, the user table;
    /// its address keeps its line bucket.
    fn remove_here(&mut self, id: ConnId) -> Option<User> {
        self.unhold(id);
        self.leave_here(id);
        let user = self.users.swap_remove(&id)?;
        if let Some(address) = user.addr.and_then(|a| self.addresses.get_mut(&a)) {
            address.release(user.bucket.clone(), &self.config);
        }
        Some(user)
    }
}
