//! The hub's link to a cluster (`--cluster`): the core's proposals go to this node's
//! [`Node`] (chat-cluster), and what comes back (answers, ordered events, snapshots, the
//! link's status) is fed to the core in the order it arrives, by one task that works on
//! every runtime. Room history in a cluster is read from Redis by a thread of its own.
//!
//! `convert` translates between the core's types and the broker's: what either
//! means is decided in `chat-core` (`order`) and `cluster/src/chat.lua`.

mod convert;

use crate::hub::Hub;
use crate::runtime::Runtime;
use chat_cluster::{Answer, Broker, Delivery, Node, NodeConfig, Status};
use chat_core::order::{Present, Proposal, Snapshot};
use chat_core::{Fetch, Fetched, Kept};
use convert::{member, to_broker, to_core};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Deliveries applied under one take of the hub's lock at most.
const DELIVERY_BATCH: usize = 256;

/// Where the cluster is, from `--cluster`, `--cluster-prefix` and `--node-timeout`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSettings {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// Every key under this prefix.
    pub prefix: String,
    /// How long the others wait for a silent node before its users leave.
    pub node_timeout: Duration,
}

/// What `/metrics` says of the link.
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// Redis answers (`chat_cluster_connected`).
    pub connected: AtomicBool,
    /// Events of the ordered stream applied.
    pub events_in: AtomicU64,
    /// Proposals handed to the broker.
    pub proposals_out: AtomicU64,
    /// Milliseconds from an event's creation in Redis to its application here, for the
    /// last one applied.
    pub lag_ms: AtomicU64,
}

/// The hub's side of the link.
pub(crate) struct Link {
    node: Node,
    id: Arc<str>,
    /// Proposals handed to the node and not answered yet, by tag: an answer `NotSent`
    /// gives the proposal back to the core.
    waiting: BTreeMap<u64, Proposal>,
    next_tag: u64,
    fetches: mpsc::Sender<Fetch>,
    pub(crate) stats: Arc<ClusterStats>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").field("id", &self.id).finish()
    }
}

/// This node's id: drawn at start, so that a restarted server is a new node.
pub(crate) fn node_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("{:x}-{}", nanos, std::process::id())
}

/// Starts the link for `hub` (a chat made `in_cluster` with `id`): the node's threads,
/// the history reader, and the task that feeds what comes back to the hub.
pub(crate) fn start<R: Runtime>(
    rt: &R,
    hub: &Arc<Hub>,
    settings: &ClusterSettings,
    id: &str,
    retain: u64,
) {
    let node = Node::start(NodeConfig {
        url: settings.url.clone(),
        prefix: settings.prefix.clone(),
        node: id.to_string(),
        node_timeout: settings.node_timeout,
        retain,
    });
    let deliveries = node.deliveries().clone();
    let (fetches, asked) = mpsc::channel();
    let weak = Arc::downgrade(hub);
    let (url, prefix) = (settings.url.clone(), settings.prefix.clone());
    std::thread::Builder::new()
        .name("chat-cluster-history".into())
        .spawn(move || read_history(url, prefix, asked, weak))
        .expect("a thread for the cluster's history");
    let stats = Arc::new(ClusterStats::default());
    hub.attach_cluster(Link {
        node,
        id: Arc::from(id),
        waiting: BTreeMap::new(),
        next_tag: 0,
        fetches,
        stats,
    });
    let hub = Arc::downgrade(hub);
    rt.spawn(async move {
        while let Ok(first) = deliveries.recv().await {
            let mut batch = vec![first];
            while batch.len() < DELIVERY_BATCH {
                match deliveries.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let Some(hub) = hub.upgrade() else { return };
            hub.delivered(batch);
        }
    });
}

impl Link {
    /// Hands a proposal to the node; `Some` gives it back at once (the node's queue is
    /// full): the core hears it was not ordered.
    pub(crate) fn propose(&mut self, proposal: Proposal) -> Option<Proposal> {
        let tag = self.next_tag;
        self.next_tag += 1;
        let broker = to_broker(&proposal, &self.id);
        if self.node.propose(tag, broker).is_some() {
            return Some(proposal);
        }
        self.stats.proposals_out.fetch_add(1, Ordering::Relaxed);
        self.waiting.insert(tag, proposal);
        None
    }

    /// Stops the node once what it was handed is sent.
    pub(crate) async fn close(self) {
        self.node.close().await;
    }

    /// A room's history is read from Redis; the answer comes back through the hub.
    pub(crate) fn fetch(&self, fetch: Fetch) -> Result<(), Fetch> {
        self.fetches.send(fetch).map_err(|e| e.0)
    }

    /// Applies what came back from the cluster, in order.
    pub(crate) fn deliver(&mut self, chat: &mut chat_core::Chat, delivery: Delivery) {
        match delivery {
            Delivery::Answer { tag, answer } => {
                let proposal = self.waiting.remove(&tag);
                if let (Some(proposal), Answer::NotSent) = (proposal, answer) {
                    chat.handle_not_ordered(proposal);
                }
            }
            Delivery::Event { id, event } => {
                self.stats.events_in.fetch_add(1, Ordering::Relaxed);
                if let Some(lag) = lag_ms(&id) {
                    self.stats.lag_ms.store(lag, Ordering::Relaxed);
                }
                if let Some(event) = to_core(event) {
                    tracing::trace!(?event, "ordered");
                    chat.handle_event(event);
                }
            }
            Delivery::Snapshot(snapshot) => {
                tracing::info!(
                    "cluster: {} users on every node, reading on from {}",
                    snapshot.members.len(),
                    snapshot.after
                );
                chat.handle_snapshot(Snapshot {
                    line: snapshot.line,
                    members: (snapshot.members.into_iter())
                        .map(|p| Present {
                            member: member(p.member),
                            name: p.name.into(),
                            room: p.room.into(),
                            quiet: p.quiet,
                        })
                        .collect(),
                });
            }
            Delivery::Status(status) => {
                let connected = matches!(status, Status::Connected { .. });
                self.stats.connected.store(connected, Ordering::Relaxed);
                match status {
                    Status::Connected { epoch, fresh } => {
                        tracing::info!("cluster: connected (state {epoch})");
                        chat.handle_broker(true);
                        if fresh {
                            chat.handle_fresh();
                        }
                    }
                    Status::Reconnecting => {
                        tracing::warn!("cluster: Redis cannot be reached; reconnecting");
                        chat.handle_broker(false);
                    }
                    Status::GivenUp => {
                        tracing::warn!(
                            "cluster: this node was given up by the others; closing every \
                             connection (1012) and joining afresh"
                        );
                        chat.handle_given_up();
                    }
                }
            }
        }
    }
}

/// Milliseconds since Redis created the event whose stream id is `id` (`MS-SEQ`).
fn lag_ms(id: &str) -> Option<u64> {
    let created: u64 = id.split('-').next()?.parse().ok()?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    Some(now.saturating_sub(created))
}

/// Answers the core's history reads from Redis, one at a time, on a connection of its
/// own; an unreachable Redis answers `None` (the replay gives what memory has).
fn read_history(url: String, prefix: String, asked: mpsc::Receiver<Fetch>, hub: Weak<Hub>) {
    let mut broker: Option<Broker> = None;
    while let Ok(fetch) = asked.recv() {
        let mut answer = None;
        for _ in 0..2 {
            if broker.is_none() {
                broker = Broker::connect(&url, &prefix, chat_cluster::node::COMMAND_TIMEOUT).ok();
            }
            let Some(b) = broker.as_mut() else { break };
            match b.fetch(&fetch.room, (fetch.after, fetch.upto), fetch.limit) {
                Ok((lines, older)) => {
                    answer = Some(Fetched {
                        lines: (lines.into_iter())
                            .map(|k| Kept {
                                id: k.id,
                                room: fetch.room.clone(),
                                from: k.name.into(),
                                text: k.text.into(),
                                action: k.action,
                                ts: k.ts,
                            })
                            .collect(),
                        older: older as usize,
                    });
                    break;
                }
                Err(e) => {
                    tracing::debug!("cluster: reading history failed: {e}");
                    broker = None;
                }
            }
        }
        let Some(hub) = hub.upgrade() else { return };
        hub.fetched(fetch.id, answer);
    }
}
