//! A room: its members in delivery order, its sorted roster, and its history.

use crate::line::{Line, Rendering, Said};
use crate::output::ConnId;
use crate::payload::Payload;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// The room everyone starts in; it exists even when empty.
pub const MAIN: &str = "main";

/// A chat room. Membership changes are O(log n); a broadcast walks one flat `Vec`.
#[derive(Debug)]
pub(crate) struct Room {
    /// Who receives the room's lines, in a deterministic order. Removal swaps the last
    /// member into the hole, so each user remembers its `slot` here.
    members: Vec<Member>,
    /// Members' names by their case-insensitive key: `/users` and welcome objects list the
    /// first names in order without sorting the room.
    roster: BTreeMap<Box<str>, Arc<str>>,
    /// How many members want JSON; when none do, nothing is rendered as JSON.
    json_members: usize,
    /// The most recent chat lines and actions, oldest first.
    history: VecDeque<Spoken>,
}

/// One recipient of a room's lines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Member {
    pub id: ConnId,
    pub rendering: Rendering,
}

/// A chat line or action kept for replay: its text exactly as broadcast, and what is needed
/// to render it again as a JSON replay.
#[derive(Debug)]
pub(crate) struct Spoken {
    /// The line's id, as every recipient saw it.
    pub id: u64,
    pub text: Payload,
    pub action: bool,
    pub from: Arc<str>,
    pub said: Box<str>,
    pub ts: u64,
}

impl Spoken {
    /// The line again, marked as a replay, for a JSON replay.
    pub(crate) fn replay<'a>(&'a self, room: &'a str) -> Line<'a> {
        let said = Said {
            id: self.id,
            room,
            from: &self.from,
            text: &self.said,
            ts: self.ts,
            replay: true,
        };
        if self.action {
            Line::Action(said)
        } else {
            Line::Message(said)
        }
    }
}

impl Room {
    pub(crate) fn new() -> Self {
        Room {
            members: Vec::new(),
            roster: BTreeMap::new(),
            json_members: 0,
            history: VecDeque::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub(crate) fn members(&self) -> &[Member] {
        &self.members
    }

    pub(crate) fn has_json_members(&self) -> bool {
        self.json_members > 0
    }

    /// Adds a member; returns its slot.
    pub(crate) fn add(&mut self, member: Member, key: Box<str>, name: Arc<str>) -> usize {
        self.members.push(member);
        self.roster.insert(key, name);
        if member.rendering == Rendering::Json {
            self.json_members += 1;
        }
        self.members.len() - 1
    }

    /// Removes the member at `slot`. Returns the member moved into `slot`, whose slot the
    /// caller must update.
    pub(crate) fn remove(&mut self, slot: usize, key: &str) -> Option<ConnId> {
        let gone = self.members.swap_remove(slot);
        self.roster.remove(key);
        if gone.rendering == Rendering::Json {
            self.json_members -= 1;
        }
        self.members.get(slot).map(|m| m.id)
    }

    /// Everyone has gone at once (the server is stopping); the history stays.
    pub(crate) fn clear_members(&mut self) {
        self.members.clear();
        self.roster.clear();
        self.json_members = 0;
    }

    pub(crate) fn rename(&mut self, old_key: &str, new_key: Box<str>, name: Arc<str>) {
        self.roster.remove(old_key);
        self.roster.insert(new_key, name);
    }

    /// The first `limit` names, sorted case-insensitively.
    pub(crate) fn names(&self, limit: usize) -> Vec<&str> {
        self.roster.values().take(limit).map(|n| &**n).collect()
    }

    pub(crate) fn remember(&mut self, spoken: Spoken, cap: usize) {
        if cap == 0 {
            return;
        }
        while self.history.len() >= cap {
            self.history.pop_front();
        }
        self.history.push_back(spoken);
    }

    pub(crate) fn history(&self) -> impl Iterator<Item = &Spoken> {
        self.history.iter()
    }

    pub(crate) fn history_len(&self) -> usize {
        self.history.len()
    }
}
