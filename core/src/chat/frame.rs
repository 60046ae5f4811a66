//! Text frames from users, once their client has let them through: lines and commands.

use super::Chat;
use crate::client::Lines;
use crate::command::{self, Command, Request};
use crate::forgery;
use crate::line::{Line, Problem, RoomCount};
use crate::name;
use crate::order::{Proposal, Question};
use crate::output::{CloseReason, ConnId};
use crate::text;
use crate::time::Now;
use std::borrow::Cow;
use std::sync::Arc;

impl Chat {
    /// A text frame's lines, which its connection's [`Client`](crate::Client) has let
    /// through: within the limits and paid for.
    ///
    /// If the first line starts with a command, the frame is that command: further lines
    /// are more text for `/me` and `/whisper` and ignored by the others. Otherwise every
    /// line is said in the room.
    pub fn handle_text(&mut self, id: ConnId, lines: Lines<'_>, now: Now) {
        let Some(user) = self.users.get_mut(&id) else {
            return; // closed already, or never joined
        };
        user.seen(now.at);
        // What its address inherits when it goes.
        user.bucket = lines.bucket;
        self.stats.frames_in += 1;
        // A client lets no blank frame through, so there is a first line.
        let Some((first, rest)) = lines.lines.split_first() else {
            return;
        };
        let request = command::parse(first);
        // While a cluster's broker is away nothing can be ordered (see `ordered`).
        let always = matches!(request, Request::Command(Command::Help | Command::Quit));
        if self.reconnecting && !always {
            return self.tell(id, &Line::Error(Problem::NotSent));
        }
        match request {
            Request::Say(first) => {
                let all = std::iter::once(first).chain(rest.iter().map(|l| &**l));
                self.say(id, all, false, now);
            }
            Request::Command(c) => self.run(id, c, rest, now),
        }
    }

    fn run(&mut self, id: ConnId, command: Command<'_>, rest: &[Cow<'_, str>], now: Now) {
        let more = rest.iter().map(|l| &**l);
        match command {
            Command::Me(first) => {
                let lines: Vec<&str> = non_blank(first).chain(more).collect();
                if lines.is_empty() {
                    return self.tell(id, &Line::Error(Problem::Usage("/me TEXT")));
                }
                if let Some(forged) = lines.iter().find(|l| forgery::action_reads_like_notice(l)) {
                    return self.tell(id, &Line::Error(Problem::InvalidAction(forged)));
                }
                self.say(id, lines.into_iter(), true, now);
            }
            Command::Whisper(Some(to), first) => {
                let lines: Vec<&str> = non_blank(first).chain(more).collect();
                if lines.is_empty() {
                    return self.tell(id, &Line::Error(Problem::Usage("/whisper NAME TEXT")));
                }
                self.whisper(id, to, &lines, now);
            }
            Command::Whisper(None, _) => {
                self.tell(id, &Line::Error(Problem::Usage("/whisper NAME TEXT")))
            }
            Command::Nick(Some(new)) => self.rename(id, new),
            Command::Nick(None) => self.tell(id, &Line::Error(Problem::Usage("/nick NAME"))),
            Command::Join(Some(room)) => self.change_room(id, room, now),
            Command::Join(None) => self.tell(id, &Line::Error(Problem::Usage("/join ROOM"))),
            Command::Users => self.order(Proposal::Sync {
                from: id,
                question: Question::Users,
            }),
            Command::Rooms => self.order(Proposal::Sync {
                from: id,
                question: Question::Rooms,
            }),
            Command::Help => {
                let admin = (self.users.get(&id))
                    .is_some_and(|u| u.token.as_ref().is_some_and(|t| t.admin));
                self.tell(id, &Line::help(admin))
            }
            Command::Kick(None, _) => {
                self.tell(id, &Line::Error(Problem::Usage("/kick NAME [REASON]")))
            }
            Command::Kick(Some(name), reason) => self.kick(id, name, reason),
            Command::Quit => self.close(id, CloseReason::Quit),
            Command::Unknown(word) => self.tell(id, &Line::Error(Problem::UnknownCommand(word))),
        }
    }

    /// Broadcasts chat lines (or `/me` actions) to the sender's room and keeps them in history.
    fn say<'a>(
        &mut self,
        id: ConnId,
        lines: impl Iterator<Item = &'a str>,
        action: bool,
        now: Now,
    ) {
        let Some(user) = self.users.get(&id) else {
            return;
        };
        let (from, room) = (user.name.clone(), user.room.clone());
        for text in lines {
            self.order(Proposal::Say {
                from: id,
                room: room.clone(),
                name: from.clone(),
                text: Arc::from(text),
                action,
                ts: now.unix_ms,
            });
        }
    }

    fn whisper(&mut self, id: ConnId, to: &str, lines: &[&str], now: Now) {
        let to: Arc<str> = Arc::from(to);
        for text in lines {
            self.order(Proposal::Whisper {
                from: id,
                to: to.clone(),
                text: Arc::from(*text),
                ts: now.unix_ms,
            });
        }
    }

    /// `/nick NEW`: a valid name is proposed; the order says whether it is free. A signed
    /// name is for good; a guest cannot choose one.
    fn rename(&mut self, id: ConnId, new: &str) {
        let signed = self.users.get(&id).is_some_and(|u| u.token.is_some());
        if signed {
            return self.tell(id, &Line::Error(Problem::NotAllowed("/nick")));
        }
        if self.config.signed_names {
            return self.tell(id, &Line::Error(Problem::SignIn));
        }
        if !name::is_valid_name(new) {
            return self.tell(id, &Line::Error(Problem::InvalidName(new)));
        }
        self.order(Proposal::Rename {
            from: id,
            name: Arc::from(new),
        });
    }

    fn change_room(&mut self, id: ConnId, typed: &str, now: Now) {
        let Some(room) = name::room_name(typed) else {
            return self.tell(id, &Line::Error(Problem::InvalidRoom(typed)));
        };
        let Some(user) = self.users.get(&id) else {
            return;
        };
        if *user.room == *room {
            return self.tell(id, &Line::Error(Problem::AlreadyInRoom(&room)));
        }
        if !self.may_enter(user.token.as_deref(), &room) {
            return self.tell(id, &Line::Error(Problem::NoAccess(&room)));
        }
        let room = self.intern_room(&room);
        let addr = user.addr;
        let quiet = !self.may_announce(addr, now.at);
        self.order(Proposal::Move {
            from: id,
            room,
            quiet,
        });
    }

    /// `/kick NAME [REASON]`, for admins: the order finds NAME wherever it is.
    fn kick(&mut self, id: ConnId, name: &str, reason: &str) {
        let Some(user) = self.users.get(&id) else {
            return;
        };
        if !user.token.as_ref().is_some_and(|t| t.admin) {
            return self.tell(id, &Line::Error(Problem::NotAllowed("/kick")));
        }
        let by = user.name.clone();
        self.order(Proposal::Kick {
            from: id,
            name: Arc::from(name),
            by,
            reason: (!reason.is_empty()).then(|| Arc::from(reason)),
        });
    }

    /// The answer to `/users`, in its place in the order.
    pub(super) fn list_users(&mut self, id: ConnId) {
        let Some(user) = self.users.get(&id) else {
            return;
        };
        let Some(r) = self.rooms.get(&user.room) else {
            return;
        };
        let line = Line::Users {
            room: &user.room,
            names: r.names(self.config.list_limit),
            total: r.len(),
        };
        if let Some(payload) = line.render(user.rendering) {
            self.send(id, payload);
        }
    }

    /// The answer to `/rooms`, in its place in the order.
    pub(super) fn list_rooms(&mut self, id: ConnId) {
        let Some(user) = self.users.get(&id) else {
            return;
        };
        // Private rooms show only to those who may enter them.
        let token = user.token.as_deref();
        let visible = |name: &str| self.may_enter(token, name);
        let occupied = (self.rooms.iter()).filter(|(name, r)| !r.is_empty() && visible(name));
        let rooms: Vec<RoomCount<'_>> = occupied
            .clone()
            .take(self.config.list_limit)
            .map(|(name, r)| RoomCount {
                name,
                users: r.len(),
            })
            .collect();
        let total = if self.config.private_rooms.is_empty() {
            // Only `main` can be empty, so the total is cheap without walking all rooms.
            let main_empty = self.rooms.get(&self.main).is_none_or(|r| r.is_empty());
            self.rooms.len() - usize::from(main_empty)
        } else {
            occupied.count()
        };
        let line = Line::Rooms { rooms, total };
        if let Some(payload) = line.render(user.rendering) {
            self.send(id, payload);
        }
    }
}

/// The text on a command's own line, if there is any.
fn non_blank(text: &str) -> impl Iterator<Item = &str> {
    (!text::is_blank(text)).then_some(text).into_iter()
}
