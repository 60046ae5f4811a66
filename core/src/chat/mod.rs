//! [`Chat`]: the whole chat as one state machine.

mod apply;
mod fanout;
mod frame;
mod join;
mod leave;
mod memory;
mod ordered;
mod presence;
mod replay;

use crate::address::Address;
use crate::client::Rules;
use crate::config::Config;
use crate::heartbeat::Heartbeat;
use crate::order::{Member, Proposal};
use crate::output::{ConnId, Output};
use crate::room::{Room, MAIN};
use crate::stats::Stats;
use crate::store::Restored;
use crate::user::User;
use indexmap::IndexMap;
use replay::Storage;
use rustc_hash::FxBuildHasher;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// The chat server's logic: users, names, rooms, commands, history, limits and heartbeats.
///
/// It does no I/O and reads no clock. Its methods come in four groups:
///
/// - **getters** (`&self`): [`config`](Self::config), [`connections`](Self::connections),
///   [`rooms`](Self::rooms), [`is_full`](Self::is_full), [`stats`](Self::stats),
///   [`name_of`](Self::name_of), [`room_of`](Self::room_of), [`roster`](Self::roster),
///   [`history_len`](Self::history_len);
/// - **inputs** from connections and the clock: [`handle_join`](Self::handle_join),
///   [`handle_text`](Self::handle_text) (what a connection's [`Client`](crate::Client) lets
///   through),
///   [`handle_violation`](Self::handle_violation), [`handle_leave`](Self::handle_leave),
///   [`handle_timeout`](Self::handle_timeout), [`handle_shutdown`](Self::handle_shutdown);
///   from a store: [`handle_fetched`](Self::handle_fetched),
///   [`handle_reserved`](Self::handle_reserved); and, for a node of a cluster, from its
///   broker: [`handle_event`](Self::handle_event),
///   [`handle_not_ordered`](Self::handle_not_ordered),
///   [`handle_broker`](Self::handle_broker), [`handle_given_up`](Self::handle_given_up);
/// - **outputs**: [`poll_output`](Self::poll_output) until it returns `None`, the same for
///   [`poll_store`](Self::poll_store) with a store and [`poll_proposal`](Self::poll_proposal)
///   in a cluster, then [`poll_timeout`](Self::poll_timeout) for when to call
///   `handle_timeout` next.
///
/// After every input, drain `poll_output` before waiting: outputs are addressed to
/// connections by [`ConnId`] and come in the order every recipient must see them.
#[derive(Debug)]
pub struct Chat {
    config: Config,
    /// What every connection's [`Client`] applies.
    rules: Arc<Rules>,
    /// Connected users by id. An `IndexMap` with a fixed hasher: a lookup per input costs a
    /// hash, not a tree walk, and its order depends on nothing but the inputs.
    users: IndexMap<ConnId, User, FxBuildHasher>,
    /// Every user's name by its case-insensitive key, on every node: uniqueness and
    /// `/whisper` lookup.
    names: BTreeMap<Box<str>, Member>,
    /// This node's id in its cluster (empty for a single server).
    node: Arc<str>,
    /// Rooms by name; `/rooms` walks them in name order.
    rooms: BTreeMap<Arc<str>, Room>,
    main: Arc<str>,
    next_id: u64,
    /// The id the next chat line or action gets; ids start at 1.
    next_line_id: u64,
    /// The counter behind automatic names `user0`, `user1`, …
    next_auto: u64,
    outputs: VecDeque<Output>,
    heartbeat: Heartbeat,
    stopping: bool,
    stats: Stats,
    /// The store's side of the chat; `None` keeps history in memory only.
    store: Option<Storage>,
    /// How many users wait for a replay from the store (see `replay`).
    held: usize,
    /// Held users to close for holding too much, once the outputs are out.
    overflowed: Vec<ConnId>,
    /// What each client address may still do (see `address`).
    addresses: BTreeMap<IpAddr, Address>,
    /// Where the sweep of idle address records goes on at the next join.
    swept_to: Option<IpAddr>,
    /// Bytes of history in memory over all rooms (see `memory`).
    history_bytes: usize,
    /// Rooms with history in memory, by when it last changed: the quietest first.
    quiet: BTreeMap<u64, Arc<str>>,
    /// Changes of history so far: the clock of `quiet`.
    touches: u64,
    /// In a cluster: the changes waiting to be handed to the broker (see `order`); `None`
    /// for a single server, which orders its changes itself.
    proposals: Option<VecDeque<Proposal>>,
    /// In a cluster, the broker cannot be reached: nothing can be ordered (see `ordered`).
    reconnecting: bool,
    /// Leaves the broker could not order: proposed again when it is back.
    unsent: Vec<Proposal>,
}

impl Chat {
    /// An empty chat with only the room `main`, keeping history in memory only: each room
    /// its latest `history` lines, forgotten when it empties (as v1 did).
    pub fn new(config: Config) -> Self {
        Self::start(config, None, 1)
    }

    /// A chat whose history lives in a store, which has said where to start. Lines to keep
    /// and reads leave through [`poll_store`](Self::poll_store); rooms that empty leave
    /// memory and are read back when someone joins them.
    pub fn with_store(config: Config, restored: Restored) -> Self {
        let next_id = restored.next_id.max(1);
        Self::start(config, Some(Storage::new(restored.reserved)), next_id)
    }

    /// A node of a cluster: its lines are ordered by the broker (see
    /// [`poll_proposal`](Self::poll_proposal) and [`handle_event`](Self::handle_event)),
    /// history is kept in memory as the events come.
    /// It starts reconnecting (joins are refused) until the runtime says the broker is
    /// there ([`handle_broker`](Self::handle_broker)). `node`: its id in the cluster.
    pub fn in_cluster(config: Config, node: &str) -> Self {
        Chat {
            proposals: Some(VecDeque::new()),
            reconnecting: true,
            node: Arc::from(node),
            // Ids come from the order; the broker keeps the history.
            ..Self::start(config, Some(Storage::new(u64::MAX)), 1)
        }
    }

    fn start(config: Config, store: Option<Storage>, next_line_id: u64) -> Self {
        let main: Arc<str> = Arc::from(MAIN);
        let mut rooms = BTreeMap::new();
        let known_from = if store.is_some() { next_line_id - 1 } else { 0 };
        rooms.insert(main.clone(), Room::new(known_from));
        Chat {
            rules: Arc::new(Rules::new(&config)),
            config,
            users: IndexMap::default(),
            names: BTreeMap::new(),
            node: Arc::from(""),
            rooms,
            main,
            next_id: 0,
            next_line_id,
            next_auto: 0,
            outputs: VecDeque::new(),
            heartbeat: Heartbeat::default(),
            stopping: false,
            stats: Stats::default(),
            store,
            held: 0,
            overflowed: Vec::new(),
            addresses: BTreeMap::new(),
            swept_to: None,
            history_bytes: 0,
            quiet: BTreeMap::new(),
            touches: 0,
            proposals: None,
            reconnecting: false,
            unsent: Vec::new(),
        }
    }

    // ----- getters -----

    /// The rules this chat runs by.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Connections currently joined.
    pub fn connections(&self) -> usize {
        self.users.len()
    }

    /// Rooms that currently have members on this node.
    pub fn rooms(&self) -> usize {
        self.rooms
            .values()
            .filter(|r| !r.members().is_empty())
            .count()
    }

    /// Whether a new connection would be refused with [`JoinError::Full`](crate::JoinError::Full).
    pub fn is_full(&self) -> bool {
        self.users.len() >= self.config.max_connections
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The name of a connected user.
    pub fn name_of(&self, id: ConnId) -> Option<&str> {
        self.users.get(&id).map(|u| &*u.name)
    }

    /// The room a connected user is in.
    pub fn room_of(&self, id: ConnId) -> Option<&str> {
        self.users.get(&id).map(|u| &*u.room)
    }

    /// Every room someone is in (on any node of a cluster), in name order, with all of its
    /// names sorted case-insensitively: what the order has made this node know.
    pub fn roster(&self) -> Vec<(&str, Vec<&str>)> {
        (self.rooms.iter())
            .filter(|(_, r)| !r.names(1).is_empty())
            .map(|(name, r)| (&**name, r.names(usize::MAX)))
            .collect()
    }

    /// Lines of a room's history held in memory (0 for a room not in memory).
    pub fn history_len(&self, room: &str) -> usize {
        self.rooms.get(room).map_or(0, Room::history_len)
    }

    // ----- inputs: in `join`, `leave`, `frame` (text), `replay` (the store) and
    // `ordered` (the broker) -----

    // ----- outputs -----

    /// The next thing for the runtime to do; call until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.outputs.is_empty() && !self.overflowed.is_empty() {
            self.close_overflowed();
        }
        self.outputs.pop_front()
    }

    /// In a cluster, the next change to hand to the broker; call until `None` after every
    /// input. Always `None` for a single server.
    pub fn poll_proposal(&mut self) -> Option<Proposal> {
        self.proposals.as_mut()?.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.heartbeat.next()
    }

    // ----- internals shared by the input handlers -----

    /// The room's name as the rooms table holds it, so that all members share one
    /// allocation (a new `Arc` for a room that does not exist yet).
    fn intern_room(&self, room: &str) -> Arc<str> {
        self.rooms
            .get_key_value(room)
            .map_or_else(|| Arc::from(room), |(k, _)| k.clone())
    }

    /// The connection of a member of this node that is still here.
    fn local(&self, member: &Member) -> Option<ConnId> {
        (member.node == self.node && self.users.contains_key(&member.conn)).then_some(member.conn)
    }

    /// The member that a connection of this node is in the order.
    fn member(&self, id: ConnId) -> Member {
        Member {
            node: self.node.clone(),
            conn: id,
        }
    }
}
