//! The model broker: the checks of `cluster/src/chat.lua` on an in-memory state.

use chat_core::{Event, Kept, Member, Present, Proposal, Refusal, Snapshot, Why};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the broker knows of one member.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) room: Arc<str>,
    pub(crate) name: Arc<str>,
    pub(crate) quiet: bool,
}

/// The broker as the nodes see it: the checks of `cluster/src/chat.lua` on an in-memory
/// state, and the one log of events every node applies in order.
#[derive(Default)]
pub(crate) struct Broker {
    pub(crate) log: Vec<Event>,
    pub(crate) names: BTreeMap<String, Member>,
    pub(crate) members: BTreeMap<Member, Entry>,
    pub(crate) auto: u64,
    pub(crate) ids: u64,
}

pub(crate) fn key(name: &str) -> String {
    name.to_lowercase()
}

impl Broker {
    pub(crate) fn event(&mut self, e: Event) {
        self.log.push(e);
    }

    pub(crate) fn auto_name(&mut self) -> Arc<str> {
        loop {
            let name = format!("user{}", self.auto);
            self.auto += 1;
            if !self.names.contains_key(&name) {
                return Arc::from(name);
            }
        }
    }

    /// Orders one proposal of `node`'s (whose highest line id seen is `floor`); `false` when
    /// it is refused (the refusal is an event too, so the member hears it in its place).
    pub(crate) fn order(&mut self, node: &Arc<str>, p: &Proposal, floor: u64) -> bool {
        let m = Member {
            node: node.clone(),
            conn: p.from(),
        };
        let entry = self.members.get(&m).cloned();
        match p.clone() {
            Proposal::Join {
                room,
                wanted,
                quiet,
                again,
                signed,
                ..
            } => {
                if entry.is_some() {
                    return true;
                }
                if let Some(w) = wanted.as_ref().filter(|_| signed) {
                    if let Some(holder) = self.names.get(&key(w)).cloned() {
                        self.leave(&holder, Why::Elsewhere);
                    }
                }
                let free = wanted.filter(|w| !self.names.contains_key(&key(w)));
                let name = free.clone().unwrap_or_else(|| self.auto_name());
                self.names.insert(key(&name), m.clone());
                let e = Entry {
                    room: room.clone(),
                    name: name.clone(),
                    quiet,
                };
                self.members.insert(m.clone(), e);
                let line = self.ids;
                self.event(Event::Joined {
                    member: m,
                    name,
                    room,
                    taken: free.is_none(),
                    quiet,
                    again,
                    line,
                });
            }
            Proposal::Leave { .. } => self.leave(&m, Why::Left),
            Proposal::Kick {
                name, by, reason, ..
            } => {
                if entry.is_none() {
                    return true;
                }
                let Some(target) = self.names.get(&key(&name)).cloned() else {
                    return self.refuse(m, Refusal::NoSuchUser(name));
                };
                self.leave(&target, Why::Kicked { by, reason });
            }
            Proposal::Move { room, quiet, .. } => {
                let Some(e) = entry else { return true };
                if e.room == room {
                    return self.refuse(m, Refusal::AlreadyInRoom(room));
                }
                let line = self.ids;
                self.members.insert(
                    m.clone(),
                    Entry {
                        room: room.clone(),
                        name: e.name.clone(),
                        quiet,
                    },
                );
                self.event(Event::Moved {
                    member: m,
                    name: e.name,
                    from: e.room,
                    room,
                    quiet_left: e.quiet,
                    quiet,
                    line,
                });
            }
            Proposal::Rename { name, .. } => {
                let Some(e) = entry else { return true };
                let holder = self.names.get(&key(&name));
                if holder.is_some_and(|h| *h != m) || e.name == name {
                    return self.refuse(m, Refusal::NameTaken(name));
                }
                self.names.remove(&key(&e.name));
                self.names.insert(key(&name), m.clone());
                let room = e.room.clone();
                let old = e.name.clone();
                self.members.insert(
                    m.clone(),
                    Entry {
                        name: name.clone(),
                        ..e
                    },
                );
                self.event(Event::Renamed {
                    member: m,
                    old,
                    name,
                    room,
                });
            }
            Proposal::Say {
                text, action, ts, ..
            } => {
                let Some(e) = entry else { return true };
                self.ids = self.ids.max(floor) + 1;
                self.event(Event::Said(Kept {
                    id: self.ids,
                    room: e.room,
                    from: e.name,
                    text,
                    action,
                    ts,
                }));
            }
            Proposal::Whisper { to, text, ts, .. } => {
                let Some(e) = entry else { return true };
                let Some(target) = self.names.get(&key(&to)).cloned() else {
                    return self.refuse(m, Refusal::NoSuchUser(to));
                };
                let to_name = self.members[&target].name.clone();
                self.event(Event::Whispered {
                    from: m,
                    from_name: e.name,
                    to: target,
                    to_name,
                    text,
                    ts,
                });
            }
            Proposal::Sync { question, .. } => {
                if entry.is_some() {
                    self.event(Event::Synced {
                        member: m,
                        question,
                    });
                }
            }
        }
        true
    }

    pub(crate) fn refuse(&mut self, member: Member, refusal: Refusal) -> bool {
        self.event(Event::Refused { member, refusal });
        false
    }

    pub(crate) fn leave(&mut self, m: &Member, why: Why) {
        let Some(e) = self.members.remove(m) else {
            return;
        };
        if self.names.get(&key(&e.name)) == Some(m) {
            self.names.remove(&key(&e.name));
        }
        self.event(Event::Left {
            member: m.clone(),
            name: e.name,
            room: e.room,
            quiet: e.quiet,
            why,
        });
    }

    /// A node's lease ran out: its members leave, each with its event.
    pub(crate) fn reap(&mut self, node: &Arc<str>) {
        let gone: Vec<Member> = (self.members.keys())
            .filter(|m| m.node == *node)
            .cloned()
            .collect();
        for m in gone {
            self.leave(&m, Why::Left);
        }
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            line: self.ids,
            members: (self.members.iter())
                .map(|(m, e)| Present {
                    member: m.clone(),
                    name: e.name.clone(),
                    room: e.room.clone(),
                    quiet: e.quiet,
                })
                .collect(),
        }
    }
}
