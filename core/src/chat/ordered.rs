//! Shared changes, ordered: a single server orders them at once (making the broker's
//! checks itself, in [`Chat::order`]), a cluster node proposes them and applies what the
//! broker ordered, and hears from the runtime how its broker is. Either way the change
//! takes effect in `apply` (`chat/apply.rs`), once, in the one order.

use super::Chat;
use crate::line::{Line, Problem};
use crate::name;
use crate::order::{Event, Member, Proposal, Refusal, Snapshot, Why};
use crate::output::{CloseReason, ConnId};
use std::sync::Arc;

impl Chat {
    /// An event the cluster's broker ordered (this node's own proposals come back this way
    /// too). Apply them in the broker's order.
    pub fn handle_event(&mut self, event: Event) {
        self.apply(event);
    }

    /// Who is in the chat at one point of the order, from the broker (when this node
    /// starts, starts again, or the broker lost its state): it replaces what this node knew
    /// of everyone; events after that point follow. A join of this node's that the snapshot
    /// already holds is finished here.
    pub fn handle_snapshot(&mut self, snapshot: Snapshot) {
        if self.proposals.is_none() {
            return;
        }
        self.next_line_id = self.next_line_id.max(snapshot.line + 1);
        self.names.clear();
        for r in self.rooms.values_mut() {
            r.clear_names();
        }
        let main = self.main.clone();
        let empty: Vec<Arc<str>> = (self.rooms.iter())
            .filter(|(name, r)| r.is_empty() && **name != main)
            .map(|(name, _)| name.clone())
            .collect();
        for room in empty {
            self.drop_room(&room);
        }
        for present in snapshot.members {
            let room = self.intern_room(&present.room);
            self.register(&present.member, &present.name, &room);
            if let Some(id) = self.local(&present.member) {
                self.finish_join(id, present.name.clone(), &room);
                if let Some(user) = self.users.get_mut(&id) {
                    user.name = present.name;
                }
            }
        }
    }

    /// The broker could not order a proposal (it cannot be reached, or its queue is full):
    /// nothing changed, and the sender is told `! not sent: the chat is reconnecting`
    /// rather than the line reaching part of the room or arriving out of order. A join is
    /// closed with 1013 (try again later); a leave is proposed again when the broker is
    /// back, so that the name does not stay taken.
    pub fn handle_not_ordered(&mut self, proposal: Proposal) {
        match proposal {
            Proposal::Join { from, .. } => self.close(from, CloseReason::TryAgain),
            Proposal::Leave { .. } => self.unsent.push(proposal),
            _ => self.tell(proposal.from(), &Line::Error(Problem::NotSent)),
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
        if connected {
            for leave in std::mem::take(&mut self.unsent) {
                self.order(leave);
            }
        }
        let line = Line::Status { connected };
        for id in self.user_ids() {
            self.tell(id, &line);
        }
    }

    /// In a cluster, the broker's state is new to this node (Redis lost what it held):
    /// every user here is registered again, with its name and room, and nobody is told
    /// (unless the name went to someone else meanwhile: then the user hears its new one).
    pub fn handle_fresh(&mut self) {
        if self.proposals.is_none() {
            return;
        }
        for id in self.user_ids() {
            let Some(user) = self.users.get(&id).filter(|u| u.pending.is_none()) else {
                continue;
            };
            let join = Proposal::Join {
                from: id,
                room: user.room.clone(),
                wanted: Some(user.name.clone()),
                quiet: user.muted,
                again: true,
                signed: user.token.is_some(),
            };
            self.order(join);
        }
    }

    /// In a cluster, this node's state is stale: the others gave it up while it was cut off,
    /// or it missed events. Every connection is closed with 1012 (service restart),
    /// silently, so that clients reconnect and resume; the node takes new connections once
    /// the broker has given it a new snapshot and lease.
    ///
    /// Their leaves are ordered all the same: where the others gave this node up they
    /// change nothing, and where it only missed events they free the names it held.
    pub fn handle_given_up(&mut self) {
        if self.proposals.is_some() {
            self.order_leaves();
            self.close_everyone(CloseReason::Restart);
            self.reconnecting = true;
        }
    }

    /// Orders the leave of every user of this node (which is stopping or starting afresh).
    pub(super) fn order_leaves(&mut self) {
        for id in self.user_ids() {
            if let Some(user) = self.users.get(&id) {
                let leave = Proposal::Leave {
                    from: id,
                    name: user.name.clone(),
                    room: user.room.clone(),
                    quiet: user.muted,
                };
                self.order(leave);
            }
        }
    }

    /// This node's connections, in id order.
    pub(super) fn user_ids(&self) -> Vec<ConnId> {
        let mut ids: Vec<ConnId> = self.users.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Orders a change: through the broker in a cluster; at once on a single server, which
    /// makes the checks the broker makes (`cluster/src/chat.lua`) against its own state.
    pub(super) fn order(&mut self, proposal: Proposal) {
        if let Some(proposals) = self.proposals.as_mut() {
            proposals.push_back(proposal);
            return;
        }
        let member = self.member(proposal.from());
        let line = self.next_line_id - 1;
        let user = self.users.get(&proposal.from());
        let event = match proposal {
            Proposal::Say { .. } => {
                let id = self.take_line_id();
                proposal.said(id)
            }
            Proposal::Join {
                room,
                wanted,
                quiet,
                again,
                signed,
                ..
            } => {
                if signed {
                    // A signed name is its holder's: an older connection with it goes.
                    self.take_over(&member, wanted.as_deref());
                }
                let free = wanted.filter(|w| !self.names.contains_key(&*name::key(w)));
                let name = free.clone().unwrap_or_else(|| self.auto_name());
                Some(Event::Joined {
                    member,
                    name,
                    room,
                    taken: free.is_none(),
                    quiet,
                    again,
                    line,
                })
            }
            Proposal::Leave {
                name, room, quiet, ..
            } => Some(Event::Left {
                member,
                name,
                room,
                quiet,
                why: Why::Left,
            }),
            Proposal::Move {
                ref room, quiet, ..
            } => match user {
                Some(user) if user.room != *room => Some(Event::Moved {
                    member,
                    name: user.name.clone(),
                    from: user.room.clone(),
                    room: room.clone(),
                    quiet_left: user.muted,
                    quiet,
                    line,
                }),
                _ => refused(member, Refusal::AlreadyInRoom(room.clone())),
            },
            Proposal::Rename { ref name, .. } => {
                let holder = self.names.get(&*name::key(name));
                match user {
                    Some(user) if holder.is_none_or(|h| *h == member) && user.name != *name => {
                        Some(Event::Renamed {
                            member,
                            old: user.name.clone(),
                            name: name.clone(),
                            room: user.room.clone(),
                        })
                    }
                    _ => refused(member, Refusal::NameTaken(name.clone())),
                }
            }
            Proposal::Whisper {
                to: ref to_typed,
                ref text,
                ts,
                ..
            } => {
                let to = self.names.get(&*name::key(to_typed)).cloned();
                let to_name = to.as_ref().and_then(|to| self.users.get(&to.conn));
                match (user, to, to_name) {
                    (Some(user), Some(to), Some(addressee)) => Some(Event::Whispered {
                        from: member,
                        from_name: user.name.clone(),
                        to_name: addressee.name.clone(),
                        to,
                        text: text.clone(),
                        ts,
                    }),
                    _ => refused(member, Refusal::NoSuchUser(to_typed.clone())),
                }
            }
            Proposal::Sync { question, .. } => Some(Event::Synced { member, question }),
            Proposal::Kick {
                ref name,
                ref by,
                ref reason,
                ..
            } => {
                let target = self.names.get(&*name::key(name)).cloned();
                let user = target.as_ref().and_then(|t| self.users.get(&t.conn));
                match (target, user) {
                    (Some(target), Some(user)) => Some(Event::Left {
                        member: target,
                        name: user.name.clone(),
                        room: user.room.clone(),
                        quiet: user.muted,
                        why: Why::Kicked {
                            by: by.clone(),
                            reason: reason.clone(),
                        },
                    }),
                    _ => refused(member, Refusal::NoSuchUser(name.clone())),
                }
            }
        };
        if let Some(event) = event {
            self.apply(event);
        }
    }

    /// A single server's take-over of a signed name: whoever else has `name` leaves, its
    /// connection closed with 1008 `signed in elsewhere` (the broker does the same).
    fn take_over(&mut self, member: &Member, name: Option<&str>) {
        let holder = name.and_then(|n| self.names.get(&*name::key(n))).cloned();
        let Some(holder) = holder.filter(|h| h != member) else {
            return;
        };
        if let Some(user) = self.users.get(&holder.conn) {
            let left = Event::Left {
                member: holder,
                name: user.name.clone(),
                room: user.room.clone(),
                quiet: user.muted,
                why: Why::Elsewhere,
            };
            self.apply(left);
        }
    }
}

/// A refusal, as an event of the order.
fn refused(member: Member, refusal: Refusal) -> Option<Event> {
    Some(Event::Refused { member, refusal })
}
