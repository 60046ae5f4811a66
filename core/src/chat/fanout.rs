//! Fan-out: a line is rendered once per rendering and handed to the runtime once for its
//! whole room ([`Output::Room`]); the runtime keeps it where each reader takes it. Lines for
//! one user go out addressed to it ([`Output::Send`]), in their place among the room's.

use super::Chat;
use crate::line::{Line, Rendering};
use crate::output::{ConnId, Output};
use crate::payload::Payload;

impl Chat {
    /// Renders `line` for one user and queues it.
    pub(super) fn tell(&mut self, id: ConnId, line: &Line<'_>) {
        if let Some(rendering) = self.users.get(&id).map(|u| u.rendering) {
            if let Some(payload) = line.render(rendering) {
                self.send(id, payload);
            }
        }
    }

    /// Queues `payload` for `to`, unless `to` waits for a replay: then it is held.
    pub(super) fn send(&mut self, to: ConnId, payload: Payload) {
        let payload = if self.held > 0 {
            match self.hold(to, payload) {
                Some(payload) => payload,
                None => return,
            }
        } else {
            payload
        };
        self.emit(to, payload);
    }

    /// Queues `payload` for `to`, held or not.
    pub(super) fn emit(&mut self, to: ConnId, payload: Payload) {
        self.stats.frames_out += 1;
        self.outputs.push_back(Output::Send { to, payload });
    }

    /// `id` reads its room's lines from now on, if it is in a room here and not held.
    pub(super) fn attach(&mut self, id: ConnId) {
        let Some(user) = self.users.get_mut(&id) else {
            return;
        };
        if user.reading || user.held.is_some() || user.pending.is_some() {
            return;
        }
        let Some(room) = self.rooms.get_mut(&user.room) else {
            return;
        };
        user.reading = true;
        room.unread -= 1;
        self.outputs.push_back(Output::Enter {
            to: id,
            room: Some(user.room.clone()),
            rendering: user.rendering,
        });
    }

    /// `id` reads no room's lines from now on: it is leaving its room, or its room's lines
    /// are to queue behind its replay (they are then addressed to it one by one).
    pub(super) fn detach(&mut self, id: ConnId) {
        let Some(user) = self.users.get_mut(&id) else {
            return;
        };
        if !user.reading {
            return;
        }
        user.reading = false;
        if let Some(room) = self.rooms.get_mut(&user.room) {
            room.unread += 1;
        }
        self.outputs.push_back(Output::Enter {
            to: id,
            room: None,
            rendering: user.rendering,
        });
    }

    /// Queues `line` for every member of `room` but `except`, rendered once per rendering.
    /// Returns whether the line went out (the room is in memory and the line has a text form).
    ///
    /// This is the hot path: one output whatever the room's size. Only members that do not
    /// read the room's lines (held for a replay, rare and brief) cost one each.
    pub(super) fn broadcast(
        &mut self,
        room: &str,
        line: &Line<'_>,
        except: Option<ConnId>,
    ) -> bool {
        let Some((name, r)) = self.rooms.get_key_value(room) else {
            return false;
        };
        let Some(text) = line.render(Rendering::Text) else {
            return false;
        };
        let json = (r.has_json_members())
            .then(|| line.render(Rendering::Json))
            .flatten();
        let name = name.clone();
        let members = r.members().len();
        let unread = r.unread;
        if unread > 0 {
            let sends: Vec<(ConnId, Payload)> = (r.members().iter())
                .filter(|m| Some(m.id) != except)
                .filter(|m| self.users.get(&m.id).is_some_and(|u| !u.reading))
                .filter_map(|m| match m.rendering {
                    Rendering::Text => Some((m.id, text.clone())),
                    Rendering::Json => json.clone().map(|j| (m.id, j)),
                })
                .collect();
            for (to, payload) in sends {
                self.send(to, payload);
            }
        }
        let except_reads = except
            .and_then(|id| self.users.get(&id))
            .is_some_and(|u| u.reading && *u.room == *name);
        let readers = members - unread - usize::from(except_reads);
        if readers > 0 {
            // Counted as the frames it becomes; JSON readers of a line without a JSON
            // form are counted too (there are none: every line with text has JSON).
            self.stats.frames_out += readers as u64;
            self.outputs.push_back(Output::Room {
                room: name,
                text,
                json,
                except,
            });
        }
        true
    }
}
