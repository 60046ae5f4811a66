//! [`Chat`]: the whole chat as one state machine.

mod apply;
mod fanout;
mod frame;
mod memory;
mod ordered;
mod presence;
mod replay;

use crate::address::{Address, Refusal};
use crate::auth::Signed;
use crate::client::{Client, Rules};
use crate::config::Config;
use crate::heartbeat::Heartbeat;
use crate::input::{self, Join, JoinError, LeaveReason, Violation};
use crate::line::Rendering;
use crate::name;
use crate::order::{Member, Proposal};
use crate::output::{CloseReason, ConnId, Output};
use crate::rate::TokenBucket;
use crate::room::{Room, MAIN};
use crate::stats::Stats;
use crate::store::Restored;
use crate::text;
use crate::time::Now;
use crate::user::{Pending, User};
use indexmap::IndexMap;
use replay::Storage;
use rustc_hash::FxBuildHasher;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::ops::Bound;
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
///   [`handle_text`](Self::handle_text) (what a connection's [`Client`] lets through),
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

    /// Whether a new connection would be refused with [`JoinError::Full`].
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

    // ----- inputs -----

    /// A WebSocket handshake completed: the connection joins the chat.
    ///
    /// Once its join is ordered (at once on a single server), emits the greeting, any
    /// refusal of the requested name or room, the welcome and the room's history to it,
    /// and `* NAME joined` to the room.
    ///
    /// The [`Client`] is the connection's own side, for the runtime to keep with it: every
    /// text frame goes through it first.
    pub fn handle_join(&mut self, join: Join<'_>, now: Now) -> Result<(ConnId, Client), JoinError> {
        if self.stopping {
            return Err(JoinError::ShuttingDown);
        }
        if self.is_full() {
            return Err(JoinError::Full(self.config.max_connections));
        }
        if self.reconnecting {
            return Err(JoinError::Reconnecting);
        }
        let bucket = self.admit(join.addr, now.at)?;
        let id = ConnId(self.next_id);
        self.next_id += 1;
        self.stats.joined += 1;
        let rendering = join.rendering.unwrap_or(Rendering::Text);

        // What was asked for is echoed in refusals, so it gets the same cleaning as chat text.
        let wanted_room = join.room.map(text::sanitize);
        let wanted_name = join.name.map(text::sanitize);
        let wanted_since = join.since.map(text::sanitize);
        let mut pending = Pending::default();
        if let Some(typed) = wanted_since.as_deref() {
            pending.since = input::since_id(typed);
            if pending.since.is_none() {
                pending.invalid_since = Some(typed.into());
            }
        }
        let token = join.signed.map(|s| Box::new(s.clone()));
        let room = match wanted_room.as_deref().map(|r| (r, name::room_name(r))) {
            None => self.main.clone(),
            Some((_, Some(room))) if !self.may_enter(token.as_deref(), &room) => {
                pending.no_access = Some(room);
                self.main.clone()
            }
            Some((_, Some(room))) => self.intern_room(&room),
            Some((typed, None)) => {
                pending.invalid_room = Some(typed.into());
                self.main.clone()
            }
        };
        match (&token, wanted_name.as_deref()) {
            // Exactly the token's name, whatever `?name=` says.
            (Some(token), _) => pending.wanted = Some(token.name.clone()),
            (None, Some(_)) if self.config.signed_names => pending.sign_in = true,
            (None, Some(wanted)) if !name::is_valid_name(wanted) => {
                pending.invalid_name = Some(wanted.into());
            }
            (None, Some(wanted)) => pending.wanted = Some(Arc::from(wanted)),
            (None, None) => {}
        }
        let signed = token.is_some();
        let wanted = pending.wanted.clone();
        let addr = join.addr.filter(|_| self.per_address());
        let quiet = !self.may_announce(addr, now.at);
        let client = Client::new(self.rules.clone(), bucket.clone(), rendering);
        let user = User {
            name: Arc::from(""),
            room: room.clone(),
            rendering,
            slot: 0,
            reading: false,
            bucket,
            last_seen: now.at,
            pinged_at: None,
            held: None,
            addr,
            muted: quiet,
            pending: Some(Box::new(pending)),
            token,
        };
        self.users.insert(id, user);
        if !self.config.ping_interval.is_zero() {
            self.heartbeat
                .schedule(now.at + self.config.ping_interval, id);
        }
        self.order(Proposal::Join {
            from: id,
            room,
            wanted,
            quiet,
            again: false,
            signed,
        });
        Ok((id, client))
    }

    /// The runtime refused a frame for breaking the WebSocket rules: close with 1009, 1007
    /// or 1002.
    pub fn handle_violation(&mut self, id: ConnId, violation: Violation) {
        let reason = match violation {
            Violation::TooBig => CloseReason::MessageTooBig,
            Violation::InvalidUtf8 => CloseReason::InvalidUtf8,
            Violation::Protocol => CloseReason::ProtocolError,
        };
        self.close(id, reason);
    }

    /// The connection has gone. Its room hears `* NAME left`. Unknown ids are ignored, so
    /// calling this after an [`Output::Close`] is fine.
    pub fn handle_leave(&mut self, id: ConnId, reason: LeaveReason) {
        if self.users.contains_key(&id) {
            self.stats.count_leave(reason);
            self.forget(id);
        }
    }

    /// Time has reached (or passed) [`poll_timeout`](Self::poll_timeout): pings idle
    /// connections and closes those that did not answer one.
    ///
    /// `heard` says when the runtime last heard a frame of any kind from a connection (a
    /// pong, a binary frame, a text frame its [`Client`] refused): the chat is not told of
    /// each, only asked here, for the connections whose deadline has come.
    pub fn handle_timeout(&mut self, now: Instant, heard: impl Fn(ConnId) -> Option<Instant>) {
        let interval = self.config.ping_interval;
        let timeout = self.config.ping_timeout;
        while let Some(id) = self.heartbeat.pop_due(now) {
            let Some(user) = self.users.get_mut(&id) else {
                continue; // left since this deadline was set
            };
            if let Some(at) = heard(id) {
                user.seen(at);
            }
            let due = match user.pinged_at {
                Some(pinged) => pinged + timeout,
                None => user.last_seen + interval,
            };
            if due > now {
                self.heartbeat.schedule(due, id);
            } else if user.pinged_at.is_none() {
                user.pinged_at = Some(now);
                self.heartbeat.schedule(now + timeout, id);
                self.outputs.push_back(Output::Ping { to: id });
            } else {
                self.close(id, CloseReason::PingTimeout);
            }
        }
    }

    /// The server is stopping: every connection is closed with 1001 and joins are refused.
    /// Nobody hears anyone leave; `main` keeps its history in memory, other rooms go (and
    /// the store is told the next id, so that a restart continues from it).
    ///
    /// In a cluster, every user's leave is ordered first: the other nodes hear them leave
    /// now rather than when this node's lease runs out.
    pub fn handle_shutdown(&mut self) {
        self.stopping = true;
        self.store_shutdown();
        if self.proposals.is_some() {
            self.order_leaves();
        }
        self.close_everyone(CloseReason::Shutdown);
    }

    /// Closes every connection with `reason`, silently (nobody hears anyone leave), and
    /// forgets every user; `main` keeps its history in memory, other rooms go.
    fn close_everyone(&mut self, reason: CloseReason) {
        self.held = 0;
        let mut ids: Vec<ConnId> = self.users.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let reason = reason.clone();
            self.outputs.push_back(Output::Close { to: id, reason });
        }
        self.users.clear();
        self.names.clear();
        self.unsent.clear();
        self.addresses.clear();
        self.rooms.retain(|name, _| **name == *MAIN);
        self.quiet.retain(|_, name| **name == *MAIN);
        self.history_bytes = self.rooms.values().map(Room::history_bytes).sum();
        if let Some(main) = self.rooms.get_mut(&self.main) {
            main.clear_members();
        }
        self.heartbeat.clear();
    }

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

    /// The next free automatic name.
    fn auto_name(&mut self) -> Arc<str> {
        loop {
            let name = format!("user{}", self.next_auto);
            self.next_auto += 1;
            if !self.names.contains_key(&*name::key(&name)) {
                return Arc::from(name);
            }
        }
    }

    /// Closes a connection: tells the runtime, then forgets the user.
    fn close(&mut self, id: ConnId, reason: CloseReason) {
        if self.users.contains_key(&id) {
            self.stats.count_close(&reason);
            self.outputs.push_back(Output::Close { to: id, reason });
            self.forget(id);
        }
    }

    /// Removes a user from this node (it receives nothing more from now on) and orders its
    /// leave: its room hears `* NAME left` and its name is free once that is applied.
    fn forget(&mut self, id: ConnId) {
        if let Some(user) = self.remove_here(id) {
            self.order(Proposal::Leave {
                from: id,
                name: user.name,
                room: user.room,
                quiet: user.muted,
            });
        }
    }

    /// Closes a connection whose leave the order has already applied (taken over, kicked).
    fn drop_here(&mut self, id: ConnId, reason: CloseReason) {
        if self.users.contains_key(&id) {
            self.stats.count_close(&reason);
            self.outputs.push_back(Output::Close { to: id, reason });
            self.remove_here(id);
        }
    }

    /// Takes a user out of this node: its replay, its room's members here, the user table;
    /// its address keeps its line bucket.
    fn remove_here(&mut self, id: ConnId) -> Option<User> {
        self.unhold(id);
        self.leave_here(id);
        let user = self.users.swap_remove(&id)?;
        if let Some(address) = user.addr.and_then(|a| self.addresses.get_mut(&a)) {
            address.release(user.bucket.clone(), &self.config);
        }
        Some(user)
    }

    /// Whether the holder of `token` (or a connection without one) may enter `room`.
    fn may_enter(&self, token: Option<&Signed>, room: &str) -> bool {
        !self.config.private_rooms.contains(room) || token.is_some_and(|t| t.rooms.allows(room))
    }

    /// Whether the per-address limits are on.
    fn per_address(&self) -> bool {
        self.config.max_connections_per_ip > 0 || self.config.connect_rate > 0.0
    }

    /// Lets a connection of `addr` in (or not), and gives it its line bucket.
    fn admit(&mut self, addr: Option<IpAddr>, now: Instant) -> Result<TokenBucket, JoinError> {
        let Some(addr) = addr.filter(|_| self.per_address()) else {
            return Ok(TokenBucket::new(self.config.burst, now));
        };
        self.sweep_addresses(now);
        let config = &self.config;
        let address = (self.addresses.entry(addr)).or_insert_with(|| Address::new(config, now));
        address.admit(config, now).map_err(|refusal| match refusal {
            Refusal::TooMany => JoinError::TooManyFromAddress(config.max_connections_per_ip),
            Refusal::TooFast(wait) => JoinError::TooFast(wait),
        })
    }

    /// Forgets up to two address records that say nothing a new one would not, going round
    /// the table a little at every join: records stay bounded without a timer.
    fn sweep_addresses(&mut self, now: Instant) {
        for _ in 0..2 {
            let after = self.swept_to.map_or(Bound::Unbounded, Bound::Excluded);
            let next = self.addresses.range((after, Bound::Unbounded)).next();
            let Some((&addr, _)) = next.or_else(|| self.addresses.iter().next()) else {
                return;
            };
            self.swept_to = Some(addr);
            let config = &self.config;
            if self
                .addresses
                .get_mut(&addr)
                .is_some_and(|a| a.is_idle(config, now))
            {
                self.addresses.remove(&addr);
            }
        }
    }
}
