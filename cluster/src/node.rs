//! One node's link to the cluster: a writer thread that runs the node's changes and keeps
//! its lease, and a reader thread that follows the stream of events, each with its own
//! connection, both reconnecting on their own.
//!
//! What comes back (answers, events, the link's status) arrives on one channel, in the
//! order the hub must handle it. The link is watched actively: the writer sends a heartbeat
//! through the stream every [`BEAT`], and a reader that has not seen its own node's beat
//! for [`STUCK_AFTER`] reconnects, since a connection that stays open and silently
//! delivers nothing is a known failure of such systems and the socket alone does not show
//! it.

use crate::broker::Broker;
use crate::event::{Event, Lease, Snapshot};
use crate::proposal::{Answer, Proposal};
use crate::Events;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How often the writer sends a heartbeat through the stream.
pub const BEAT: Duration = Duration::from_secs(1);
/// A reader that has not seen its node's heartbeat for this long reconnects.
pub const STUCK_AFTER: Duration = Duration::from_secs(3);
/// Every command's time limit, and the reader's wait per read: a lost Redis is noticed
/// within about twice this (the spec asks for 5 s).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Proposals waiting for the writer at most; beyond, they are answered [`Answer::NotSent`].
pub const QUEUE: usize = 65_536;
/// Proposals sent in one pipeline at most.
pub const BATCH: usize = 256;

/// Where and who this node is.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// Every key under this prefix.
    pub prefix: String,
    /// This node's id, unique in the cluster (the server draws it at random).
    pub node: String,
    /// A node whose lease has not been renewed for this long is given up by the others.
    pub node_timeout: Duration,
    /// Lines a room keeps in Redis.
    pub retain: u64,
}

/// The link's state, as the users are told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Redis answers. `fresh`: the state in Redis is new to this node (its first
    /// registration, or Redis lost what it had): register every user again.
    Connected { epoch: String, fresh: bool },
    /// Redis cannot be reached; the node keeps trying.
    Reconnecting,
    /// This node's state is stale: the other nodes gave it up while it was cut off, or the
    /// stream was trimmed past events it had not read. Close every connection (1012) and
    /// start afresh; the link registers again on its own.
    GivenUp,
}

/// Everything that comes back from the cluster, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Answer {
        tag: u64,
        answer: Answer,
    },
    /// The whole state at one point of the stream: replaces what the node knew of the
    /// other nodes; the events that follow are those after it. The reader takes one when
    /// it starts, when the state's epoch changes (Redis lost its data) and after the node
    /// was given up.
    Snapshot(Snapshot),
    Event {
        id: String,
        event: Event,
    },
    Status(Status),
}

/// The node's link; dropping it stops both threads (within [`COMMAND_TIMEOUT`]).
pub struct Node {
    /// `None` once closing: the writer sends what is queued, then ends.
    proposals: Option<SyncSender<(u64, Proposal)>>,
    deliveries: async_channel::Receiver<Delivery>,
    stop: Arc<AtomicBool>,
    /// Closed when the writer has ended.
    written: async_channel::Receiver<()>,
}

impl Node {
    /// Starts the link. It connects in the background: the first [`Delivery`] is its
    /// status.
    pub fn start(config: NodeConfig) -> Node {
        let (proposals, queue) = mpsc::sync_channel(QUEUE);
        let (out, deliveries) = async_channel::bounded(QUEUE);
        let (ended, written) = async_channel::bounded::<()>(1);
        let stop = Arc::new(AtomicBool::new(false));
        // The highest line id seen, from answers and events: the floor for new ids.
        let floor = Arc::new(AtomicU64::new(0));
        // Set by the writer once it has reported the node given up: read afresh.
        let afresh = Arc::new(AtomicBool::new(false));
        {
            let (config, out, stop, floor, afresh) = (
                config.clone(),
                out.clone(),
                stop.clone(),
                floor.clone(),
                afresh.clone(),
            );
            thread::Builder::new()
                .name("chat-cluster-writer".into())
                .spawn(move || {
                    let _ended = ended;
                    Writer {
                        config,
                        out,
                        stop,
                        floor,
                        afresh,
                        broker: None,
                        epoch: None,
                    }
                    .run(queue)
                })
                .expect("a thread for the cluster's writer");
        }
        {
            let stop = stop.clone();
            thread::Builder::new()
                .name("chat-cluster-reader".into())
                .spawn(move || read(config, out, stop, floor, afresh))
                .expect("a thread for the cluster's reader");
        }
        Node {
            proposals: Some(proposals),
            deliveries,
            stop,
            written,
        }
    }

    /// Hands a proposal to the writer; a full queue answers [`Answer::NotSent`] at once
    /// (returned here: the caller delivers it as it would any answer).
    pub fn propose(&self, tag: u64, proposal: Proposal) -> Option<Answer> {
        let sent = match &self.proposals {
            Some(p) => p.try_send((tag, proposal)).is_ok(),
            None => false, // closing
        };
        (!sent).then_some(Answer::NotSent)
    }

    /// Stops the link once what is queued has been sent (or found unsendable): a node that
    /// stops cleanly orders its users' leaves before it goes.
    pub async fn close(mut self) {
        self.proposals = None;
        let _ = self.written.recv().await;
    }

    /// Answers, events and status changes, in order.
    pub fn deliveries(&self) -> &async_channel::Receiver<Delivery> {
        &self.deliveries
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn stopped(stop: &AtomicBool) -> bool {
    stop.load(Ordering::Relaxed)
}

struct Writer {
    config: NodeConfig,
    out: async_channel::Sender<Delivery>,
    stop: Arc<AtomicBool>,
    floor: Arc<AtomicU64>,
    afresh: Arc<AtomicBool>,
    broker: Option<Broker>,
    /// The epoch of the state this node's users are registered in.
    epoch: Option<String>,
}

impl Writer {
    fn run(mut self, queue: mpsc::Receiver<(u64, Proposal)>) {
        let renew_every = (self.config.node_timeout / 3).min(BEAT);
        let mut next_renewal = Instant::now();
        let mut status: Option<Status> = None;
        while !stopped(&self.stop) {
            if Instant::now() >= next_renewal {
                let now = self.keep_lease();
                // A renewal of the same state is no news; a fresh one always is.
                let same = match (&status, &now) {
                    (
                        Some(Status::Connected { epoch: a, .. }),
                        Some(Status::Connected {
                            epoch: b,
                            fresh: false,
                        }),
                    ) => a == b,
                    (a, b) => a == b,
                };
                if !same {
                    if let Some(now) = now.clone() {
                        if self.out.send_blocking(Delivery::Status(now)).is_err() {
                            return;
                        }
                    }
                    if now == Some(Status::GivenUp) {
                        // Only now: the reader's new snapshot must come after the news.
                        self.afresh.store(true, Ordering::Relaxed);
                    }
                    status = now;
                }
                next_renewal = Instant::now() + renew_every;
            }
            let wait = next_renewal.saturating_duration_since(Instant::now());
            let first = match queue.recv_timeout(wait) {
                Ok(first) => first,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // Whatever else is queued goes in the same pipeline: one round trip for many.
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            for (tag, answer) in self.run_batch(batch) {
                if self
                    .out
                    .send_blocking(Delivery::Answer { tag, answer })
                    .is_err()
                {
                    return;
                }
            }
        }
    }

    /// Renews the lease (connecting first if need be), gives up dead nodes and beats; the
    /// status to report, `None` while nothing is known yet.
    fn keep_lease(&mut self) -> Option<Status> {
        let config = self.config.clone();
        let result = (|| {
            let broker = match &mut self.broker {
                Some(b) => b,
                None => self.broker.insert(Broker::connect(
                    &config.url,
                    &config.prefix,
                    COMMAND_TIMEOUT,
                )?),
            };
            let lease = broker.lease(&config.node, config.node_timeout, self.epoch.as_deref())?;
            broker.reap()?;
            broker.beat(&config.node)?;
            Ok::<_, crate::Error>(lease)
        })();
        match result {
            Ok(Lease::Held { epoch }) => Some(Status::Connected {
                epoch,
                fresh: false,
            }),
            Ok(Lease::New { epoch }) => {
                self.epoch = Some(epoch.clone());
                Some(Status::Connected { epoch, fresh: true })
            }
            Ok(Lease::Lost) => {
                // Registered afresh at the next renewal.
                self.epoch = None;
                Some(Status::GivenUp)
            }
            Err(_) => {
                self.broker = None;
                Some(Status::Reconnecting)
            }
        }
    }

    /// Runs proposals in one pipeline; on a failed connection every one is `NotSent`
    /// (whether some happened is unknown: the reader shows it if they did).
    fn run_batch(&mut self, batch: Vec<(u64, Proposal)>) -> Vec<(u64, Answer)> {
        let (tags, proposals): (Vec<u64>, Vec<Proposal>) = batch.into_iter().unzip();
        let floor = self.floor.load(Ordering::Relaxed);
        let answers = match &mut self.broker {
            Some(broker) => broker.run(&proposals, floor, self.config.retain),
            None => Ok(vec![Answer::NotSent; proposals.len()]),
        };
        let answers = answers.unwrap_or_else(|_| {
            self.broker = None;
            vec![Answer::NotSent; proposals.len()]
        });
        for answer in &answers {
            if let Answer::Said(Some((_, id))) = answer {
                self.floor.fetch_max(*id, Ordering::Relaxed);
            }
        }
        tags.into_iter().zip(answers).collect()
    }
}

/// Follows the stream until stopped: from a snapshot, then reconnecting from the last event
/// read, with a new snapshot whenever the state it read on from is no longer the one in
/// Redis.
fn read(
    config: NodeConfig,
    out: async_channel::Sender<Delivery>,
    stop: Arc<AtomicBool>,
    floor: Arc<AtomicU64>,
    afresh: Arc<AtomicBool>,
) {
    // Where to read on from, and the epoch and sequence number of the last event read,
    // across reconnections; `None`: take a snapshot first.
    let mut at: Option<(String, String, u64)> = None;
    while !stopped(&stop) {
        if afresh.swap(false, Ordering::Relaxed) {
            at = None;
        }
        let (after, epoch, mut seq) = match at.take() {
            Some(at) => at,
            None => {
                let snapshot = Broker::connect(&config.url, &config.prefix, COMMAND_TIMEOUT)
                    .and_then(|mut b| b.snapshot());
                let Ok(snapshot) = snapshot else {
                    thread::sleep(Duration::from_millis(200));
                    continue;
                };
                floor.fetch_max(snapshot.line, Ordering::Relaxed);
                let at = (snapshot.after.clone(), snapshot.epoch.clone(), snapshot.seq);
                if out.send_blocking(Delivery::Snapshot(snapshot)).is_err() {
                    return;
                }
                at
            }
        };
        let Ok(mut events) = Events::open(&config.url, &config.prefix, &after, COMMAND_TIMEOUT)
        else {
            at = Some((after, epoch, seq));
            thread::sleep(Duration::from_millis(200));
            continue;
        };
        let mut own_beat = Instant::now();
        // Whether this state is still the one read on from: `None` to go on from `at`.
        let mut stale = None;
        while !stopped(&stop) && stale.is_none() && !afresh.load(Ordering::Relaxed) {
            let Ok(batch) = events.next_batch() else {
                break;
            };
            for entry in batch {
                // Another epoch: Redis lost the state and it was built anew: read it whole.
                // Within one epoch every event follows the last by one; a jump means the
                // stream was trimmed past this node while it was away: its state is stale.
                if entry.epoch != epoch {
                    stale = Some(None);
                } else if entry.seq != seq + 1 {
                    stale = Some(Some(Status::GivenUp));
                }
                if stale.is_some() {
                    break;
                }
                seq = entry.seq;
                let Some(event) = entry.event else { continue };
                match &event {
                    Event::Beat { node } if *node == config.node => own_beat = Instant::now(),
                    Event::Say { id, .. } => {
                        floor.fetch_max(*id, Ordering::Relaxed);
                    }
                    _ => {}
                }
                if out
                    .send_blocking(Delivery::Event {
                        id: entry.id,
                        event,
                    })
                    .is_err()
                {
                    return;
                }
            }
            if stale.is_none() && own_beat.elapsed() > STUCK_AFTER {
                break; // the connection delivers nothing: open a new one
            }
        }
        match stale {
            None => at = Some((events.after().to_string(), epoch, seq)),
            Some(news) => {
                if let Some(news) = news {
                    if out.send_blocking(Delivery::Status(news)).is_err() {
                        return;
                    }
                }
            }
        }
    }
}
