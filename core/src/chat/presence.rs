//! Entering and leaving rooms: membership, join/leave notices, welcome and history replay.

use super::Chat;
use crate::line::{Line, Problem, Rendering};
use crate::name;
use crate::order::Member as Somebody;
use crate::output::ConnId;
use crate::room::{Member, Room};
use crate::user::Pending;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

impl Chat {
    /// Whether a join notice by a connection from `addr` may go out now (paid from its
    /// address's notice bucket); without a token the user joins unannounced, and leaves
    /// unannounced too.
    pub(super) fn may_announce(&mut self, addr: Option<IpAddr>, now: Instant) -> bool {
        let address = addr.and_then(|a| self.addresses.get_mut(&a));
        address.is_none_or(|a| a.may_announce(&self.config, now))
    }

    /// Puts a user of this node into `room`'s members here, from where it receives the
    /// room's lines (the room is in memory: its entry in the order put it there).
    pub(super) fn enter_here(&mut self, id: ConnId, room: &Arc<str>) {
        let Some(user) = self.users.get_mut(&id) else {
            return;
        };
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        user.slot = r.add_member(Member {
            id,
            rendering: user.rendering,
        });
        user.room = room.clone();
        self.attach(id);
    }

    /// Takes a user of this node out of its room's members here: it receives nothing more
    /// of the room. Whoever else is in the room hears of it when the leave or move is
    /// applied.
    pub(super) fn leave_here(&mut self, id: ConnId) {
        let Some(user) = self.users.get(&id) else {
            return;
        };
        if user.pending.is_some() {
            return; // never entered
        }
        self.detach(id);
        let Some(user) = self.users.get(&id) else {
            return;
        };
        let slot = user.slot;
        let Some(r) = self.rooms.get_mut(&user.room) else {
            return;
        };
        if let Some(moved) = r.remove_member(slot) {
            if let Some(m) = self.users.get_mut(&moved) {
                m.slot = slot;
            }
        }
    }

    /// Someone, on this node or another, is now in `room` as `name`: the room comes into
    /// memory if it was not. Returns the room's new size.
    pub(super) fn register(
        &mut self,
        member: &Somebody,
        name: &Arc<str>,
        room: &Arc<str>,
    ) -> usize {
        let known_from = self.unknown_before();
        let key = name::key(name);
        self.names.insert(key.clone(), member.clone());
        let r = self
            .rooms
            .entry(room.clone())
            .or_insert_with(|| Room::new(known_from));
        r.add_name(key, name.clone());
        r.len()
    }

    /// Someone is no longer in `room` as `name`; the room leaves memory if nobody is in it
    /// and it is not `main`. Returns the room's size before.
    pub(super) fn unregister(&mut self, member: &Somebody, name: &str, room: &str) -> usize {
        let key = name::key(name);
        // A name is someone's only until someone else has it (after the broker lost its
        // state, two members may have had it in turn): then the room's entry is theirs.
        let theirs = match self.names.get(&key) {
            Some(holder) if holder == member => {
                self.names.remove(&key);
                false
            }
            Some(_) => true,
            None => false,
        };
        let Some(r) = self.rooms.get_mut(room) else {
            return 0;
        };
        let before = r.len();
        if !theirs {
            r.remove_name(&key);
        }
        if r.is_empty() && room != &*self.main {
            self.drop_room(room);
        }
        before
    }

    /// The order applied the join of a user of this node: it enters its room, gets its
    /// greeting (with the room's size), the refusals of what it asked for, the welcome
    /// and the replay.
    pub(super) fn finish_join(&mut self, id: ConnId, name: Arc<str>, room: &Arc<str>) {
        let Some(user) = self.users.get_mut(&id) else {
            return;
        };
        let Some(pending) = user.pending.take() else {
            return;
        };
        user.name = name.clone();
        let rendering = user.rendering;
        self.enter_here(id, room);
        let members = self.rooms.get(room).map_or(0, Room::len);
        if rendering == Rendering::Text {
            self.tell(id, &Line::Greeting { users: members });
        }
        let Pending {
            since,
            invalid_since,
            invalid_room,
            no_access,
            invalid_name,
            sign_in,
            wanted,
        } = *pending;
        let mut problems = Vec::new();
        problems.extend(invalid_since.as_deref().map(Problem::InvalidSince));
        problems.extend(invalid_room.as_deref().map(Problem::InvalidRoom));
        problems.extend(no_access.as_deref().map(Problem::NoAccess));
        problems.extend(invalid_name.as_deref().map(Problem::InvalidName));
        let taken = wanted
            .as_deref()
            .filter(|w| name::key(w) != name::key(&name));
        problems.extend(taken.map(Problem::NameTaken));
        problems.extend(sign_in.then_some(Problem::SignIn));
        for problem in problems {
            self.tell(id, &Line::Error(problem));
        }
        self.welcome(id, false, since);
    }

    /// `* NAME joined` (or `left`) to `room`'s members here but `except`, while the room is
    /// small (`size`: its size with the one who came or went) and the notice not withheld.
    pub(super) fn announce(&mut self, line: &Line<'_>, room: &str, size: usize, quiet: bool) {
        if size <= self.config.announce_limit && !quiet {
            self.broadcast(room, line, None);
        }
    }

    /// Tells a user where it is (`* you are …` or the JSON welcome), then replays the room's
    /// history or, with `since`, what it missed (see `replay`). `with_count` adds
    /// ` (N users)` to the text line, as after `/join`.
    pub(super) fn welcome(&mut self, id: ConnId, with_count: bool, since: Option<u64>) {
        self.introduce(id, with_count);
        self.replay(id, since);
    }

    /// The registration of a user again after the broker lost its state gave it another
    /// name: it is told where it is, as after `/join`.
    pub(super) fn welcome_again(&mut self, id: ConnId) {
        self.introduce(id, true);
    }

    /// `* you are NAME in #ROOM` (` (N users)` with `with_count`), or the JSON welcome.
    fn introduce(&mut self, id: ConnId, with_count: bool) {
        let Some(user) = self.users.get(&id) else {
            return;
        };
        let (you, room, rendering) = (user.name.clone(), user.room.clone(), user.rendering);
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        let line = match rendering {
            Rendering::Text => Line::YouAre {
                you: &you,
                room: &room,
                users: with_count.then_some(r.len()),
            },
            Rendering::Json => Line::Welcome {
                you: &you,
                room: &room,
                names: r.names(self.config.list_limit),
                total: r.len(),
            },
        };
        if let Some(payload) = line.render(rendering) {
            self.send(id, payload);
        }
    }
}
