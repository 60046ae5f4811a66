//! A room: its members in delivery order, its sorted roster, and its history.

use crate::line::{Line, Rendering, Said};
use crate::output::ConnId;
use crate::payload::Payload;
use crate::store::{Fetched, Kept};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// The room everyone starts in; it exists even when empty.
pub const MAIN: &str = "main";

/// A chat room. Membership changes are O(log n); a broadcast walks one flat `Vec`.
///
/// In a cluster the roster and the count are the whole chat's, the member list this node's.
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
    /// How many members do not read the room's lines now (they wait for a replay): each
    /// is sent them one by one. Usually 0, and then a line costs the same for any size.
    pub unread: usize,
    /// The most recent chat lines and actions, oldest first.
    history: VecDeque<Spoken>,
    /// Every line of this room with an id above this one is in `history`: what memory can
    /// answer without the store. 0 when memory has everything there is.
    known_from: u64,
    /// Bytes `history` takes, for the history memory budget.
    bytes: usize,
    /// When the history last changed, in the chat's order of changes (see `chat/memory.rs`).
    pub touched: Option<u64>,
}

/// One recipient of a room's lines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Member {
    pub id: ConnId,
    pub rendering: Rendering,
}

/// A chat line or action kept for replay. It is kept once, as the line: a replay renders it
/// again (the text rendering gives the very bytes that were broadcast, as it depends on
/// nothing else), which costs a join a little time instead of every line its bytes twice.
#[derive(Debug)]
pub(crate) struct Spoken {
    pub kept: Kept,
}

impl Spoken {
    pub(crate) fn id(&self) -> u64 {
        self.kept.id
    }

    /// What the line costs memory: its text and the bookkeeping around it.
    pub(crate) fn size(&self) -> usize {
        self.kept.text.len() + std::mem::size_of::<Spoken>() + 32
    }

    /// The line again, as a replay, in `rendering`.
    pub(crate) fn replay(&self, rendering: Rendering) -> Option<Payload> {
        said(&self.kept, rendering == Rendering::Json).render(rendering)
    }
}

/// A kept line as the line it was (or as its replay).
pub(crate) fn said(kept: &Kept, replay: bool) -> Line<'_> {
    let said = Said {
        id: kept.id,
        room: &kept.room,
        from: &kept.from,
        text: &kept.text,
        ts: kept.ts,
        replay,
    };
    if kept.action {
        Line::Action(said)
    } else {
        Line::Message(said)
    }
}

impl Room {
    /// An empty room. `known_from` is the latest id that memory may lack lines up to: 0
    /// without a store, the latest id given so far with one (the store may hold older lines).
    pub(crate) fn new(known_from: u64) -> Self {
        Room {
            members: Vec::new(),
            roster: BTreeMap::new(),
            json_members: 0,
            unread: 0,
            history: VecDeque::new(),
            known_from,
            bytes: 0,
            touched: None,
        }
    }

    /// Members in the whole chat (on every node of a cluster).
    pub(crate) fn len(&self) -> usize {
        self.roster.len()
    }

    /// Nobody is in it, here or anywhere.
    pub(crate) fn is_empty(&self) -> bool {
        self.roster.is_empty() && self.members.is_empty()
    }

    /// The members on this node, who receive its lines from here.
    pub(crate) fn members(&self) -> &[Member] {
        &self.members
    }

    pub(crate) fn has_json_members(&self) -> bool {
        self.json_members > 0
    }

    /// Adds a member on this node, not reading the room's lines yet; returns its slot.
    pub(crate) fn add_member(&mut self, member: Member) -> usize {
        self.members.push(member);
        self.unread += 1;
        if member.rendering == Rendering::Json {
            self.json_members += 1;
        }
        self.members.len() - 1
    }

    /// Removes the member at `slot`, which no longer reads the room's lines. Returns the
    /// member moved into `slot`, whose slot the caller must update.
    pub(crate) fn remove_member(&mut self, slot: usize) -> Option<ConnId> {
        let gone = self.members.swap_remove(slot);
        self.unread -= 1;
        if gone.rendering == Rendering::Json {
            self.json_members -= 1;
        }
        self.members.get(slot).map(|m| m.id)
    }

    /// Someone, here or on another node, is in the room as `name`.
    pub(crate) fn add_name(&mut self, key: Box<str>, name: Arc<str>) {
        self.roster.insert(key, name);
    }

    pub(crate) fn remove_name(&mut self, key: &str) {
        self.roster.remove(key);
    }

    /// Forgets who is in the room (a snapshot of the order says it again); the members
    /// here still receive its lines.
    pub(crate) fn clear_names(&mut self) {
        self.roster.clear();
    }

    /// Everyone has gone at once (the server is stopping); the history stays.
    pub(crate) fn clear_members(&mut self) {
        self.members.clear();
        self.roster.clear();
        self.json_members = 0;
        self.unread = 0;
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
        self.bytes += spoken.size();
        self.history.push_back(spoken);
        self.trim(cap);
    }

    /// Bytes the history in memory takes.
    pub(crate) fn history_bytes(&self) -> usize {
        self.bytes
    }

    /// Lets go of the history in memory (the store has it): memory knows nothing up to the
    /// newest line, so the next joiner reads it back.
    pub(crate) fn forget_history(&mut self) {
        if let Some(newest) = self.history.back() {
            self.known_from = self.known_from.max(newest.id());
        }
        self.history.clear();
        self.bytes = 0;
    }

    /// Drops the oldest lines beyond `cap`; memory no longer knows them.
    fn trim(&mut self, cap: usize) {
        while self.history.len() > cap {
            if let Some(gone) = self.history.pop_front() {
                self.known_from = gone.id();
                self.bytes -= gone.size();
            }
        }
    }

    /// The kept lines with `after < id <= upto`, oldest first, if memory holds all of them
    /// (or, without a store, all that is left of them). `limit` is how many the caller
    /// replays at most: a window of the latest `limit` lines will do when the caller need
    /// not know how many are older (`need_count` false).
    pub(crate) fn lines_between(
        &self,
        (after, upto): (u64, u64),
        limit: usize,
        need_count: bool,
        stored: bool,
    ) -> Option<impl Iterator<Item = &Spoken>> {
        let in_range = move |s: &&Spoken| s.id() > after && s.id() <= upto;
        let complete = !stored
            || self.known_from <= after
            || (!need_count && self.history.iter().filter(in_range).count() >= limit);
        complete.then(|| self.history.iter().filter(in_range))
    }

    /// The kept lines with `after < id <= upto`, as far as memory has them.
    pub(crate) fn known_between(&self, after: u64, upto: u64) -> impl Iterator<Item = &Spoken> {
        self.history
            .iter()
            .filter(move |s| s.id() > after && s.id() <= upto)
    }

    /// Takes in what a fetch of `after < id <= upto` found, where it joins on to what
    /// memory knows, so that later joins need not ask the store again.
    pub(crate) fn absorb(&mut self, fetched: &Fetched, after: u64, upto: u64, cap: usize) {
        if upto < self.known_from {
            return; // lines between the two are in neither
        }
        let low = match (fetched.older, fetched.lines.first()) {
            (0, _) => after,
            (_, Some(first)) => first.id - 1,
            (_, None) => return,
        };
        if low >= self.known_from {
            return; // nothing memory lacks
        }
        let older = fetched
            .lines
            .iter()
            .rev()
            .filter(|k| k.id > low && k.id <= self.known_from);
        for kept in older {
            let spoken = Spoken { kept: kept.clone() };
            self.bytes += spoken.size();
            self.history.push_front(spoken);
        }
        self.known_from = low;
        self.trim(cap);
    }

    pub(crate) fn history_len(&self) -> usize {
        self.history.len()
    }
}
