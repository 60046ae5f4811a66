//! Entering and leaving rooms: membership, join/leave notices, welcome and history replay.

use super::Chat;
use crate::line::{Line, Rendering};
use crate::name;
use crate::output::ConnId;
use crate::room::{Member, Room};
use std::sync::Arc;
use std::time::Instant;

impl Chat {
    /// Puts a user (already in `users`, in no room) into `room`, creating the room if
    /// needed, and announces it while the room is small. Returns the room's new size.
    ///
    /// A join notice is also paid from the user's address's notice bucket; without a token
    /// the user joins unannounced, and leaves unannounced too.
    pub(super) fn enter_room(&mut self, id: ConnId, room: &Arc<str>, now: Instant) -> usize {
        let known_from = self.unknown_before();
        let Some(user) = self.users.get_mut(&id) else {
            return 0;
        };
        let r = self
            .rooms
            .entry(room.clone())
            .or_insert_with(|| Room::new(known_from));
        let member = Member {
            id,
            rendering: user.rendering,
        };
        user.slot = r.add(member, name::key(&user.name), user.name.clone());
        user.room = room.clone();
        let members = r.len();
        let address = user.addr.and_then(|a| self.addresses.get_mut(&a));
        user.muted = address.is_some_and(|a| !a.may_announce(&self.config, now));
        if members <= self.config.announce_limit && !user.muted {
            let user = user.name.clone();
            let line = Line::Joined { room, user: &user };
            self.broadcast(room, &line, Some(id));
        }
        members
    }

    /// Takes a user out of its room, announcing it while the room is small, and drops the
    /// room from memory if it is now empty and not `main` (with a store, its history is
    /// read back when someone joins it again; without one, it is gone).
    pub(super) fn leave_room(&mut self, id: ConnId) {
        let Some(user) = self.users.get(&id) else {
            return;
        };
        let (room, name, slot) = (user.room.clone(), user.name.clone(), user.slot);
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        if r.len() <= self.config.announce_limit && !user.muted {
            let line = Line::Left {
                room: &room,
                user: &name,
            };
            self.broadcast(&room, &line, Some(id));
        }
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        if let Some(moved) = r.remove(slot, &name::key(&name)) {
            if let Some(m) = self.users.get_mut(&moved) {
                m.slot = slot;
            }
        }
        if r.is_empty() && room != self.main {
            self.drop_room(&room);
        }
    }

    /// Tells a user where it is (`* you are …` or the JSON welcome), then replays the room's
    /// history or, with `since`, what it missed (see `replay`). `with_count` adds
    /// ` (N users)` to the text line, as after `/join`.
    pub(super) fn welcome(&mut self, id: ConnId, with_count: bool, since: Option<u64>) {
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
        self.replay(id, since);
    }
}
