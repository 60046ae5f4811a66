//! An ordered change taking effect: the one place where names, rosters, counts, a room's
//! lines and the answers that depend on them change, for a single server and a cluster
//! alike (see `ordered` for where the order comes from).

use super::Chat;
use crate::line::{Line, Problem};
use crate::name;
use crate::order::{Event, Member, Question, Refusal, Why};
use crate::output::{CloseReason, ConnId};
use crate::room::{said, Spoken};
use crate::store::Kept;
use std::sync::Arc;

impl Chat {
    /// An ordered change takes effect.
    pub(super) fn apply(&mut self, event: Event) {
        match event {
            Event::Said(kept) => self.apply_said(kept),
            Event::Joined {
                member,
                name,
                room,
                quiet,
                again,
                line,
                ..
            } => {
                self.next_line_id = self.next_line_id.max(line + 1);
                let room = self.intern_room(&room);
                let local = self.local(&member);
                if again {
                    return self.apply_registered_again(&member, local, name, &room);
                }
                let size = self.register(&member, &name, &room);
                let notice = Line::Joined {
                    room: &room,
                    user: &name,
                };
                self.announce(&notice, &room, size, quiet);
                if let Some(id) = local {
                    self.finish_join(id, name, &room);
                }
            }
            Event::Left {
                member,
                name,
                room,
                quiet,
                why,
            } => {
                // Taken over or kicked: its connection here closes before the room hears.
                if let Some(id) = self.local(&member) {
                    match &why {
                        Why::Left => {}
                        Why::Elsewhere => self.drop_here(id, CloseReason::Elsewhere),
                        Why::Kicked { reason, .. } => {
                            self.drop_here(id, CloseReason::Kicked(reason.clone()))
                        }
                    }
                }
                let size = self.unregister(&member, &name, &room);
                match &why {
                    Why::Left | Why::Elsewhere => {
                        let notice = Line::Left {
                            room: &room,
                            user: &name,
                        };
                        self.announce(&notice, &room, size, quiet);
                    }
                    // A kick is always told, whatever the room's size.
                    Why::Kicked { by, reason } => {
                        let notice = Line::Kicked {
                            room: &room,
                            user: &name,
                            by,
                            reason: reason.as_deref(),
                        };
                        self.broadcast(&room, &notice, None);
                    }
                }
            }
            Event::Moved {
                member,
                name,
                from,
                room,
                quiet_left,
                quiet,
                line,
            } => {
                self.next_line_id = self.next_line_id.max(line + 1);
                let local = self.local(&member);
                if let Some(id) = local {
                    self.leave_here(id);
                }
                let left = Line::Left {
                    room: &from,
                    user: &name,
                };
                let size = self.rooms.get(&from).map_or(0, |r| r.len());
                self.announce(&left, &from, size, quiet_left);
                self.unregister(&member, &name, &from);
                let room = self.intern_room(&room);
                let size = self.register(&member, &name, &room);
                let joined = Line::Joined {
                    room: &room,
                    user: &name,
                };
                self.announce(&joined, &room, size, quiet);
                if let Some(id) = local {
                    self.enter_here(id, &room);
                    if let Some(user) = self.users.get_mut(&id) {
                        user.muted = quiet;
                    }
                    self.welcome(id, true, None);
                }
            }
            Event::Renamed {
                member,
                old,
                name,
                room,
            } => {
                let old_key = name::key(&old);
                if self.names.get(&old_key) == Some(&member) {
                    self.names.remove(&old_key);
                }
                let key = name::key(&name);
                self.names.insert(key.clone(), member.clone());
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.rename(&old_key, key, name.clone());
                }
                if let Some(user) = self.local(&member).and_then(|id| self.users.get_mut(&id)) {
                    user.name = name.clone();
                }
                let line = Line::Rename {
                    from: &old,
                    to: &name,
                };
                self.broadcast(&room, &line, None);
            }
            Event::Whispered {
                from,
                from_name,
                to,
                to_name,
                text,
                ts,
            } => {
                let line = Line::Whisper {
                    from: &from_name,
                    to: &to_name,
                    text: &text,
                    ts,
                };
                let sender = self.local(&from);
                if let Some(id) = sender {
                    self.tell(id, &line);
                }
                if let Some(id) = self.local(&to).filter(|id| Some(*id) != sender) {
                    self.tell(id, &line);
                }
            }
            Event::Refused { member, refusal } => {
                if let Some(id) = self.local(&member) {
                    let problem = match &refusal {
                        Refusal::NameTaken(name) => Problem::NameTaken(name),
                        Refusal::NoSuchUser(name) => Problem::NoSuchUser(name),
                        Refusal::AlreadyInRoom(room) => Problem::AlreadyInRoom(room),
                    };
                    self.tell(id, &Line::Error(problem));
                }
            }
            Event::Synced { member, question } => {
                if let Some(id) = self.local(&member) {
                    match question {
                        Question::Users => self.list_users(id),
                        Question::Rooms => self.list_rooms(id),
                    }
                }
            }
        }
    }

    /// A member registered again after the broker lost its state: nobody is told, but a
    /// user of this node whose name went to someone else meanwhile hears its new one.
    fn apply_registered_again(
        &mut self,
        member: &Member,
        local: Option<ConnId>,
        name: Arc<str>,
        room: &Arc<str>,
    ) {
        let had = local
            .and_then(|id| self.users.get(&id))
            .map(|u| u.name.clone());
        if let Some(old) = &had {
            self.unregister(member, old, room);
        }
        self.register(member, &name, room);
        let (Some(id), Some(old)) = (local, had) else {
            return;
        };
        if old != name {
            if let Some(user) = self.users.get_mut(&id) {
                user.name = name.clone();
            }
            self.tell(id, &Line::Error(Problem::NameTaken(&old)));
            self.welcome_again(id);
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
