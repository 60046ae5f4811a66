//! Joining: who may come in (the server's state, the address's limits, private rooms), what
//! a connection asked for, and the user it becomes, whose join is then ordered.

use super::Chat;
use crate::address::{Address, Refusal};
use crate::auth::Signed;
use crate::client::Client;
use crate::input::{self, Join, JoinError};
use crate::line::Rendering;
use crate::name;
use crate::order::Proposal;
use crate::output::ConnId;
use crate::rate::TokenBucket;
use crate::text;
use crate::time::Now;
use crate::user::{Pending, User};
use std::net::IpAddr;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Instant;

impl Chat {
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

    /// Whether the holder of `token` (or a connection without one) may enter `room`.
    pub(super) fn may_enter(&self, token: Option<&Signed>, room: &str) -> bool {
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

    /// The next free automatic name.
    pub(super) fn auto_name(&mut self) -> Arc<str> {
        loop {
            let name = format!("user{}", self.next_auto);
            self.next_auto += 1;
            if !self.names.contains_key(&*name::key(&name)) {
                return Arc::from(name);
            }
        }
    }
}
