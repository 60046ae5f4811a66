//! Fan-out: a line is rendered once per rendering and its payload shared, by reference
//! count, among all of its recipients.

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

    /// Queues `line` for every member of `room` but `except`, rendered once per rendering.
    /// Returns whether the line went out (the room is in memory and the line has a text form).
    ///
    /// This is the hot path: per recipient it costs one reference-count increment and one
    /// queue slot, nothing else.
    pub(super) fn broadcast(
        &mut self,
        room: &str,
        line: &Line<'_>,
        except: Option<ConnId>,
    ) -> bool {
        let Some(room) = self.rooms.get(room) else {
            return false;
        };
        let Some(text) = line.render(Rendering::Text) else {
            return false;
        };
        if self.held > 0 {
            // Someone waits for a replay: each line goes through `send`, which holds it.
            let json = room
                .has_json_members()
                .then(|| line.render(Rendering::Json))
                .flatten();
            let sends: Vec<(ConnId, Payload)> = (room.members().iter())
                .filter(|m| Some(m.id) != except)
                .filter_map(|m| match m.rendering {
                    Rendering::Text => Some((m.id, text.clone())),
                    Rendering::Json => json.clone().map(|j| (m.id, j)),
                })
                .collect();
            for (to, payload) in sends {
                self.send(to, payload);
            }
            return true;
        }
        let members = room.members();
        let before = self.outputs.len();
        self.outputs.reserve(members.len());
        match (room.has_json_members(), except) {
            // Chat lines to an all-text room: the common case, without per-member branches.
            (false, None) => self.outputs.extend(members.iter().map(|m| Output::Send {
                to: m.id,
                payload: text.clone(),
            })),
            (has_json, _) => {
                let json = if has_json {
                    line.render(Rendering::Json)
                } else {
                    None
                };
                for member in members.iter().filter(|m| Some(m.id) != except) {
                    let payload = match member.rendering {
                        Rendering::Text => Some(&text),
                        Rendering::Json => json.as_ref(),
                    };
                    if let Some(payload) = payload {
                        self.outputs.push_back(Output::Send {
                            to: member.id,
                            payload: payload.clone(),
                        });
                    }
                }
            }
        }
        self.stats.frames_out += (self.outputs.len() - before) as u64;
        true
    }
}
