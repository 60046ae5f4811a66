//! The hub: the one `Chat` of a server, shared by all connection tasks, and the fan-out of
//! its outputs into the rooms' feeds and the connections' outboxes.
//!
//! Every input takes the hub's lock, feeds the core, drains every output (a room's line into
//! its [`Feed`], once whatever the room's size; a line for one connection into its outbox;
//! every store request into the store's queue, without waiting) and releases the lock
//! before waking any writer. A room's lines are in its feed in the order the core emitted
//! them, which gives a room one order for everyone, and a connection's own lines take their
//! place among them; the store's answers come back as inputs like any other.
//!
//! What concerns one connection alone never comes here: its driver answers a frame its
//! own [`Client`] refuses, and records every frame it hears in the outbox's `Heard`,
//! which the heartbeat reads only when a connection's deadline comes.

use crate::cluster::{ClusterStats, Link};
use crate::feed::Feed;
use crate::outbox::{Outbox, Pushed};
use chat_core::{
    Chat, Client, ConnId, FetchId, Fetched, Join, JoinError, LeaveReason, Lines, Now, Output,
    Stats, StoreRequest, Violation,
};
use chat_store::{Queue, StoreStats};
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Instant;

/// The shared chat and the connections it talks to.
#[derive(Debug)]
pub struct Hub {
    inner: Mutex<Inner>,
    queue_limit: usize,
    /// Tells the timer task that the next deadline moved earlier.
    timer: async_channel::Sender<()>,
    /// Inputs run and the time the lock was held for them: how much of the server cannot
    /// run in parallel (`/metrics`: `chat_hub_inputs_total`, `chat_hub_lock_seconds_total`).
    inputs: AtomicU64,
    locked_ns: AtomicU64,
    /// What the drivers' [`Heard`](crate::heard::Heard) times count from.
    epoch: Instant,
}

#[derive(Debug)]
struct Inner {
    chat: Chat,
    outboxes: FxHashMap<ConnId, Reader>,
    /// The feed of every room someone here reads; a feed nobody reads goes.
    feeds: FxHashMap<Arc<str>, Arc<Feed>>,
    /// The deadline the timer task sleeps until.
    timer_at: Option<Instant>,
    /// Where the core's store requests go; `None` once the store is closing.
    store: Option<Queue>,
    /// In a cluster, where proposals go and history is read (see `cluster`).
    cluster: Option<Link>,
    /// Text frames kept from the chat by the clients of connections that have gone.
    refused_gone: u64,
}

/// A point-in-time copy of what `/metrics` reports.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Connections joined now.
    pub connections: usize,
    /// Rooms with members now.
    pub rooms: usize,
    /// WebSocket connections whose task is still running: joined ones, and those the chat
    /// has closed that are still shutting down. Filled in by the server, not the hub.
    pub sockets: usize,
    /// Connections in the HTTP phase now. Filled in by the server.
    pub handshakes: usize,
    /// Counters since start.
    pub stats: Stats,
    /// The store's counters.
    pub store: Option<Arc<StoreStats>>,
    /// The cluster link's counters.
    pub cluster: Option<Arc<ClusterStats>>,
    /// Inputs the hub has run since start.
    pub inputs: u64,
    /// Nanoseconds its lock was held for them.
    pub locked_ns: u64,
}

impl Hub {
    /// A hub around `chat`; the receiver gets a message whenever the timer should look again,
    /// and is closed when the hub shuts down. `epoch`: the runtime's time now, which the
    /// drivers' times of frames heard are counted from (none is earlier).
    pub(crate) fn new(
        chat: Chat,
        queue_limit: usize,
        epoch: Instant,
    ) -> (Arc<Hub>, async_channel::Receiver<()>) {
        let (timer, changed) = async_channel::bounded(1);
        let hub = Hub {
            inner: Mutex::new(Inner {
                chat,
                outboxes: FxHashMap::default(),
                feeds: FxHashMap::default(),
                timer_at: None,
                store: None,
                cluster: None,
                refused_gone: 0,
            }),
            queue_limit,
            timer,
            inputs: AtomicU64::new(0),
            locked_ns: AtomicU64::new(0),
            epoch,
        };
        (Arc::new(hub), changed)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The core never panics on input (that is tested and fuzzed); if it ever did, the
        // state is still the best there is, and serving on beats taking every user down.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one input against the core and delivers its outputs.
    fn input<T>(&self, f: impl FnOnce(&mut Chat, &mut FxHashMap<ConnId, Reader>) -> T) -> T {
        self.input_inner(|inner| f(&mut inner.chat, &mut inner.outboxes))
    }

    /// [`input`](Self::input), for inputs that need more of the hub than the chat.
    fn input_inner<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut wake = Wake::default();
        let result;
        {
            let mut inner = self.lock();
            let locked = Instant::now();
            let inner = &mut *inner;
            result = f(inner);
            self.drain(inner, &mut wake);
            let next = inner.chat.poll_timeout();
            if next.is_some() && (inner.timer_at.is_none() || next < inner.timer_at) {
                inner.timer_at = next;
                // Full means the timer has a wake-up pending already.
                let _ = self.timer.try_send(());
            }
            let held = locked.elapsed().as_nanos() as u64;
            self.locked_ns.fetch_add(held, Ordering::Relaxed);
            self.inputs.fetch_add(1, Ordering::Relaxed);
        }
        wake.wake();
        result
    }

    /// Moves every output of the core into feeds and outboxes; drops connections that
    /// overflow theirs. Store requests go to the store's queue; one it refuses is answered
    /// here as failed.
    fn drain(&self, inner: &mut Inner, wake: &mut Wake) {
        loop {
            let mut slow = Vec::new();
            let refused = self.drain_store(inner) | Self::drain_proposals(inner);
            while let Some(output) = inner.chat.poll_output() {
                match output {
                    Output::Room {
                        room,
                        text,
                        json,
                        except,
                    } => {
                        let Some(feed) = inner.feeds.get(&room) else {
                            continue; // nobody here reads it
                        };
                        let appended = feed.append(text, json, except);
                        wake.batches.push(appended.wake);
                        if appended.look_for_slow {
                            // Rare (someone is too slow), and bounded (see `Appended`): each
                            // reader looks at its own place when woken.
                            let readers = inner.outboxes.values();
                            let here = readers.filter(|r| r.reads(&room));
                            wake.tasks.extend(here.map(|r| r.outbox.clone()));
                        }
                    }
                    Output::Send { to, payload } => {
                        let Some(reader) = inner.outboxes.get(&to) else {
                            continue;
                        };
                        match reader.outbox.push(payload) {
                            Pushed::Wake(w) => wake.one.extend(w),
                            Pushed::Overflow(w) => {
                                wake.one.extend(w.into_iter().flatten());
                                slow.push(to);
                            }
                        }
                    }
                    Output::Enter {
                        to,
                        room,
                        rendering,
                    } => {
                        let Some(reader) = inner.outboxes.get_mut(&to) else {
                            continue;
                        };
                        let at = reader.stop_reading(&mut inner.feeds);
                        let cursor = room.map(|room| {
                            let feed = (inner.feeds.entry(room.clone()))
                                .or_insert_with(|| Feed::new(room, self.queue_limit));
                            reader.feed = Some(feed.clone());
                            feed.attach(to, rendering)
                        });
                        wake.one.extend(reader.outbox.read(at, cursor));
                    }
                    Output::Ping { to } => {
                        if let Some(reader) = inner.outboxes.get(&to) {
                            wake.one.extend(reader.outbox.ping());
                        }
                    }
                    Output::Close { to, reason } => {
                        // The core has forgotten `to`; so does the hub, after the lines of
                        // its room before now.
                        if let Some(reader) = forget(inner, to) {
                            let wakers = reader.outbox.close(reason);
                            wake.one.extend(wakers.into_iter().flatten());
                        }
                    }
                }
            }
            if slow.is_empty() && !refused {
                return;
            }
            for id in slow {
                tracing::debug!(%id, "dropping a client that reads too slowly");
                forget(inner, id);
                inner.chat.handle_leave(id, LeaveReason::Slow);
            }
        }
    }

    /// Hands the core's proposals to the cluster's node; true if one was given back (and
    /// handed to the core as not ordered, which may have made outputs).
    fn drain_proposals(inner: &mut Inner) -> bool {
        let mut refused = false;
        while let Some(proposal) = inner.chat.poll_proposal() {
            let back = match inner.cluster.as_mut() {
                Some(link) => link.propose(proposal),
                None => Some(proposal),
            };
            if let Some(proposal) = back {
                inner.chat.handle_not_ordered(proposal);
                refused = true;
            }
        }
        refused
    }

    /// Hands the core's store requests to the store (in a cluster: history reads to
    /// Redis; the broker keeps lines and gives ids itself); true if one was refused (and
    /// answered as failed, which may have made outputs).
    fn drain_store(&self, inner: &mut Inner) -> bool {
        let mut refused = false;
        while let Some(request) = inner.chat.poll_store() {
            let pushed = match (&inner.store, &inner.cluster, request) {
                (Some(queue), _, request) => queue.push(request),
                (None, Some(link), StoreRequest::Fetch(f)) => {
                    link.fetch(f).map_err(StoreRequest::Fetch)
                }
                (None, Some(_), StoreRequest::Keep(_) | StoreRequest::NextId(_)) => Ok(()),
                (None, None, request) => Err(request),
            };
            match pushed {
                Ok(()) => {}
                // Counted by the queue; the line is not kept.
                Err(StoreRequest::Keep(_)) => {}
                Err(StoreRequest::Fetch(f)) => {
                    inner.chat.handle_fetched(f.id, None);
                    refused = true;
                }
                Err(StoreRequest::NextId(_)) => inner.chat.handle_reserved(None),
            }
        }
        refused
    }

    /// Gives the hub the store's queue.
    pub(crate) fn attach_store(&self, queue: Queue) {
        self.lock().store = Some(queue);
    }

    /// Lets go of the store's queue, so that the store can write what it holds and stop.
    pub(crate) fn detach_store(&self) {
        self.lock().store = None;
    }

    /// Gives the hub its link to the cluster.
    pub(crate) fn attach_cluster(&self, link: Link) {
        self.lock().cluster = Some(link);
    }

    /// What came back from the cluster, applied in order under one take of the lock.
    pub(crate) fn delivered(&self, deliveries: Vec<chat_cluster::Delivery>) {
        self.input_inner(|inner| {
            if let Some(link) = inner.cluster.as_mut() {
                for delivery in deliveries {
                    link.deliver(&mut inner.chat, delivery);
                }
            }
        });
    }

    /// Lets go of the cluster's link once the leaves of this node's users (ordered at
    /// shutdown) are sent, or after a few seconds: the other nodes hear them leave now
    /// rather than after `--node-timeout`.
    pub(crate) async fn detach_cluster(&self) {
        let link = self.lock().cluster.take();
        if let Some(link) = link {
            link.close().await;
        }
    }

    /// In a cluster, whether Redis cannot be reached now: `/healthz` says `degraded`.
    pub fn degraded(&self) -> bool {
        let inner = self.lock();
        (inner.cluster.as_ref()).is_some_and(|l| !l.stats.connected.load(Ordering::Relaxed))
    }

    /// The store has answered a fetch.
    pub(crate) fn fetched(&self, id: FetchId, fetched: Option<Fetched>) {
        self.input(|chat, _| chat.handle_fetched(id, fetched));
    }

    /// The store has recorded (or failed to record) the next id.
    pub(crate) fn reserved(&self, next: Option<u64>) {
        self.input(|chat, _| chat.handle_reserved(next));
    }

    /// A handshake is complete: the connection joins with its outbox, and its driver keeps
    /// its client.
    pub(crate) fn join(&self, join: Join<'_>, now: Now) -> Result<Joined, JoinError> {
        let outbox = Arc::new(Outbox::new(self.queue_limit));
        self.input(|chat, outboxes| {
            let (id, client) = chat.handle_join(join, now)?;
            let reader = Reader {
                outbox: outbox.clone(),
                feed: None,
            };
            outboxes.insert(id, reader);
            Ok(Joined { id, outbox, client })
        })
    }

    /// Lines its client let through.
    pub(crate) fn text(&self, id: ConnId, lines: Lines<'_>, now: Now) {
        self.input(|chat, _| chat.handle_text(id, lines, now));
    }

    /// A frame of any kind came from the client at `at`: no lock, the heartbeat asks when
    /// its deadline comes.
    pub(crate) fn heard(&self, outbox: &Outbox, at: Instant) {
        outbox.heard.frame(self.epoch, at);
    }

    pub(crate) fn violation(&self, id: ConnId, violation: Violation) {
        self.input(|chat, _| chat.handle_violation(id, violation));
    }

    pub(crate) fn leave(&self, id: ConnId, reason: LeaveReason) {
        self.input_inner(|inner| {
            forget(inner, id);
            inner.chat.handle_leave(id, reason);
        });
    }

    /// Delivers due timeouts; returns the next deadline (what the timer sleeps until).
    pub(crate) fn timeout(&self, now: Instant) -> Option<Instant> {
        let epoch = self.epoch;
        self.input(|chat, outboxes| {
            if chat.poll_timeout().is_some_and(|t| t <= now) {
                let heard = |id| outboxes.get(&id)?.outbox.heard.last(epoch);
                chat.handle_timeout(now, heard);
            }
        });
        let mut inner = self.lock();
        inner.timer_at = inner.chat.poll_timeout();
        inner.timer_at
    }

    /// Starts the shutdown: every connection gets its close frame, joins are refused, and
    /// the timer task is told to stop.
    pub(crate) fn shutdown(&self) {
        self.input(|chat, _| chat.handle_shutdown());
        self.timer.close();
    }

    /// What `/metrics` reports.
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.lock();
        let mut stats = inner.chat.stats().clone();
        // Frames the chat never saw, kept back by each connection's own client.
        let live = inner.outboxes.values();
        let refused: u64 = live.map(|r| r.outbox.heard.refused_count()).sum();
        stats.frames_in += inner.refused_gone + refused;
        Snapshot {
            connections: inner.chat.connections(),
            rooms: inner.chat.rooms(),
            sockets: 0,
            handshakes: 0,
            stats,
            store: inner.store.as_ref().map(|q| q.stats().clone()),
            cluster: inner.cluster.as_ref().map(|l| l.stats.clone()),
            inputs: self.inputs.load(Ordering::Relaxed),
            locked_ns: self.locked_ns.load(Ordering::Relaxed),
        }
    }
}

/// A connection the chat has let in.
pub(crate) struct Joined {
    pub id: ConnId,
    pub outbox: Arc<Outbox>,
    /// Its own side of the chat, for its driver.
    pub client: Client,
}

/// What the hub holds of one connection: its outbox, and the room whose feed it reads.
#[derive(Debug)]
struct Reader {
    outbox: Arc<Outbox>,
    feed: Option<Arc<Feed>>,
}

impl Reader {
    fn reads(&self, room: &str) -> bool {
        self.feed.as_ref().is_some_and(|f| *f.room == *room)
    }

    /// Stops reading its room's feed (the feed goes if nobody else reads it); returns the
    /// room's end, up to which it still reads.
    fn stop_reading(&mut self, feeds: &mut FxHashMap<Arc<str>, Arc<Feed>>) -> u64 {
        let Some(feed) = self.feed.take() else {
            return 0;
        };
        let at = feed.detach();
        if feed.readers() == 0 && feeds.get(&feed.room).is_some_and(|f| Arc::ptr_eq(f, &feed)) {
            feeds.remove(&feed.room);
        }
        at
    }
}

/// The hub forgets a connection: nothing more is addressed to it, and its room's feed no
/// longer waits for it beyond now.
fn forget(inner: &mut Inner, id: ConnId) -> Option<Reader> {
    let mut reader = inner.outboxes.remove(&id)?;
    inner.refused_gone += reader.outbox.heard.refused_count();
    if reader.feed.is_some() {
        let at = reader.stop_reading(&mut inner.feeds);
        // Woken by the close (or gone) anyway.
        drop(reader.outbox.read(at, None));
    }
    Some(reader)
}

/// Whom to wake once the hub's lock is released. A room's waiting readers come as one
/// batch: collecting them costs the same whatever the room's size.
#[derive(Default)]
struct Wake {
    one: Vec<Waker>,
    batches: Vec<Vec<Waker>>,
    /// Tasks to wake to look at their own place (see `Appended::look_for_slow`).
    tasks: Vec<Arc<Outbox>>,
}

impl Wake {
    fn wake(self) {
        let batches = self.batches.into_iter().flatten();
        for waker in self.one.into_iter().chain(batches) {
            waker.wake();
        }
        for outbox in self.tasks {
            outbox.wake_task();
        }
    }
}

#[cfg(all(test, not(chat_loom)))]
mod tests;
