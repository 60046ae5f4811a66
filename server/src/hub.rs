//! The hub: the one `Chat` of a server, shared by all connection tasks, and the fan-out of
//! its outputs into the connections' outboxes.
//!
//! Every input takes the hub's lock, feeds the core, drains every output into outboxes (and
//! every store request into the store's queue, without waiting) and releases the lock
//! before waking any writer. Lines thus reach every outbox in the order the core emitted
//! them, which is what gives a room one order for everyone; the store's answers come back
//! as inputs like any other.

use crate::cluster::{ClusterStats, Link};
use crate::outbox::{Outbox, Pushed};
use chat_core::{
    Chat, ConnId, FetchId, Fetched, Join, JoinError, LeaveReason, Now, Output, Stats, StoreRequest,
    Violation,
};
use chat_store::{Queue, StoreStats};
use rustc_hash::FxHashMap;
use std::sync::atomic::Ordering;
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
}

#[derive(Debug)]
struct Inner {
    chat: Chat,
    outboxes: FxHashMap<ConnId, Arc<Outbox>>,
    /// The deadline the timer task sleeps until.
    timer_at: Option<Instant>,
    /// Where the core's store requests go; `None` once the store is closing.
    store: Option<Queue>,
    /// In a cluster, where proposals go and history is read (see `cluster`).
    cluster: Option<Link>,
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
}

impl Hub {
    /// A hub around `chat`; the receiver gets a message whenever the timer should look again,
    /// and is closed when the hub shuts down.
    pub(crate) fn new(chat: Chat, queue_limit: usize) -> (Arc<Hub>, async_channel::Receiver<()>) {
        let (timer, changed) = async_channel::bounded(1);
        let hub = Hub {
            inner: Mutex::new(Inner {
                chat,
                outboxes: FxHashMap::default(),
                timer_at: None,
                store: None,
                cluster: None,
            }),
            queue_limit,
            timer,
        };
        (Arc::new(hub), changed)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The core never panics on input (that is tested and fuzzed); if it ever did, the
        // state is still the best there is, and serving on beats taking every user down.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one input against the core and delivers its outputs.
    fn input<T>(&self, f: impl FnOnce(&mut Chat, &mut FxHashMap<ConnId, Arc<Outbox>>) -> T) -> T {
        self.input_inner(|inner| f(&mut inner.chat, &mut inner.outboxes))
    }

    /// [`input`](Self::input), for inputs that need more of the hub than the chat.
    fn input_inner<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut wake = Vec::new();
        let result;
        {
            let mut inner = self.lock();
            let inner = &mut *inner;
            result = f(inner);
            self.drain(inner, &mut wake);
            let next = inner.chat.poll_timeout();
            if next.is_some() && (inner.timer_at.is_none() || next < inner.timer_at) {
                inner.timer_at = next;
                // Full means the timer has a wake-up pending already.
                let _ = self.timer.try_send(());
            }
        }
        for waker in wake {
            waker.wake();
        }
        result
    }

    /// Moves every output of the core into outboxes; drops connections that overflow theirs.
    /// Store requests go to the store's queue; one it refuses is answered here as failed.
    fn drain(&self, inner: &mut Inner, wake: &mut Vec<Waker>) {
        loop {
            let mut slow = Vec::new();
            let refused = self.drain_store(inner) | Self::drain_proposals(inner);
            while let Some(output) = inner.chat.poll_output() {
                match output {
                    Output::Send { to, payload } => {
                        let Some(outbox) = inner.outboxes.get(&to) else {
                            continue;
                        };
                        match outbox.push(payload) {
                            Pushed::Wake(w) => wake.extend(w),
                            Pushed::Overflow(w) => {
                                wake.extend(w.into_iter().flatten());
                                slow.push(to);
                            }
                        }
                    }
                    Output::Ping { to } => {
                        if let Some(outbox) = inner.outboxes.get(&to) {
                            wake.extend(outbox.ping());
                        }
                    }
                    Output::Close { to, reason } => {
                        // The core has forgotten `to`; so does the hub.
                        if let Some(outbox) = inner.outboxes.remove(&to) {
                            wake.extend(outbox.close(reason).into_iter().flatten());
                        }
                    }
                }
            }
            if slow.is_empty() && !refused {
                return;
            }
            for id in slow {
                tracing::debug!(%id, "dropping a client that reads too slowly");
                inner.outboxes.remove(&id);
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

    /// A handshake is complete: the connection joins with its outbox.
    pub(crate) fn join(
        &self,
        join: Join<'_>,
        now: Now,
    ) -> Result<(ConnId, Arc<Outbox>), JoinError> {
        let outbox = Arc::new(Outbox::new(self.queue_limit));
        self.input(|chat, outboxes| {
            let id = chat.handle_join(join, now)?;
            outboxes.insert(id, outbox.clone());
            Ok((id, outbox))
        })
    }

    pub(crate) fn text(&self, id: ConnId, frame: &str, now: Now) {
        self.input(|chat, _| chat.handle_text(id, frame, now));
    }

    pub(crate) fn activity(&self, id: ConnId, now: Instant) {
        self.input(|chat, _| chat.handle_activity(id, now));
    }

    pub(crate) fn violation(&self, id: ConnId, violation: Violation) {
        self.input(|chat, _| chat.handle_violation(id, violation));
    }

    pub(crate) fn leave(&self, id: ConnId, reason: LeaveReason) {
        self.input(|chat, outboxes| {
            outboxes.remove(&id);
            chat.handle_leave(id, reason);
        });
    }

    /// Delivers due timeouts; returns the next deadline (what the timer sleeps until).
    pub(crate) fn timeout(&self, now: Instant) -> Option<Instant> {
        self.input(|chat, _| {
            if chat.poll_timeout().is_some_and(|t| t <= now) {
                chat.handle_timeout(now);
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
        Snapshot {
            connections: inner.chat.connections(),
            rooms: inner.chat.rooms(),
            sockets: 0,
            handshakes: 0,
            stats: inner.chat.stats().clone(),
            store: inner.store.as_ref().map(|q| q.stats().clone()),
            cluster: inner.cluster.as_ref().map(|l| l.stats.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{Batch, End};
    use chat_core::Config;
    use std::collections::VecDeque;
    use std::time::Duration;

    fn at(start: Instant, secs: u64) -> Now {
        Now::new(start + Duration::from_secs(secs), 1_700_000_000_000)
    }

    fn named(name: &str) -> Join<'_> {
        Join {
            name: Some(name),
            ..Join::default()
        }
    }

    /// Everything queued in an outbox, and what came with it.
    fn take_all(outbox: &Outbox) -> (Vec<String>, Batch) {
        let mut lines = VecDeque::new();
        let batch = outbox.take(&mut lines, usize::MAX, Waker::noop());
        (lines.iter().map(|p| p.to_string()).collect(), batch)
    }

    #[test]
    fn every_outbox_gets_its_lines_in_the_order_the_core_emitted_them() {
        let (hub, _timer) = Hub::new(Chat::new(Config::default()), 1 << 20);
        let start = Instant::now();
        let (a, a_out) = hub.join(named("a"), at(start, 0)).unwrap();
        let (_, b_out) = hub.join(named("b"), at(start, 0)).unwrap();
        hub.text(a, "one\ntwo", at(start, 1));
        hub.text(a, "/me waves", at(start, 1));
        let (a_lines, _) = take_all(&a_out);
        let (b_lines, _) = take_all(&b_out);
        assert_eq!(
            a_lines,
            [
                "You are connected! There are 1 users here.",
                "* you are a in #main",
                "* b joined",
                "[a]: one",
                "[a]: two",
                "* a waves"
            ]
        );
        assert_eq!(b_lines[2..], a_lines[3..]);
        assert_eq!(hub.snapshot().connections, 2);
    }

    #[test]
    fn a_reader_that_overflows_its_queue_is_dropped_and_the_room_hears_it_leave() {
        let config = Config {
            rate: 0.0,
            ..Config::default()
        };
        let (hub, _timer) = Hub::new(Chat::new(config), 200);
        let start = Instant::now();
        let (a, a_out) = hub.join(named("a"), at(start, 0)).unwrap();
        let (_, slow_out) = hub.join(named("slow"), at(start, 0)).unwrap();
        take_all(&a_out);
        // The slow reader's greeting and welcome (65 bytes) are still queued; with three
        // lines of 45 bytes that is 200, the limit; the fourth overflows it.
        // The sender reads as it goes.
        let line = "x".repeat(40);
        let mut a_lines = Vec::new();
        for _ in 0..5 {
            hub.text(a, &line, at(start, 1));
            a_lines.extend(take_all(&a_out).0);
        }
        let (lines, batch) = take_all(&slow_out);
        assert!(lines.is_empty(), "{lines:?}");
        assert_eq!(batch.end, Some(End::Slow));
        let said = format!("[a]: {line}");
        assert_eq!(a_lines, [&*said, &said, &said, &said, "* slow left", &said]);
        let snapshot = hub.snapshot();
        assert_eq!((snapshot.connections, snapshot.stats.dropped_slow), (1, 1));
        // The hub forgot its outbox: nothing more reaches it.
        hub.text(a, "after", at(start, 1));
        assert!(take_all(&slow_out).0.is_empty());
    }

    #[test]
    fn the_timer_hears_of_earlier_deadlines_only_and_timeouts_ping() {
        let (hub, timer) = Hub::new(Chat::new(Config::default()), 1 << 20);
        let start = Instant::now();
        let (_, a_out) = hub.join(named("a"), at(start, 0)).unwrap();
        assert!(
            timer.try_recv().is_ok(),
            "a first deadline: the timer must look"
        );
        let (_, b_out) = hub.join(named("b"), at(start, 1)).unwrap();
        assert!(
            timer.try_recv().is_err(),
            "a later deadline changes nothing"
        );
        take_all(&a_out);
        take_all(&b_out);

        // Not due yet: nothing happens, and the next deadline is a's ping.
        let ping_a = start + Duration::from_secs(15);
        assert_eq!(hub.timeout(ping_a - Duration::from_millis(1)), Some(ping_a));
        assert!(!take_all(&a_out).1.ping);
        // Due: a is pinged; next come b's ping and a's ping timeout.
        assert_eq!(hub.timeout(ping_a), Some(start + Duration::from_secs(16)));
        assert!(take_all(&a_out).1.ping);
        assert!(!take_all(&b_out).1.ping);

        hub.shutdown();
        assert!(timer.is_closed(), "shutdown ends the timer task");
        assert_eq!(
            take_all(&a_out).1.end,
            Some(End::Close(chat_core::CloseReason::Shutdown))
        );
    }
}
