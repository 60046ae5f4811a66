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
use crate::event::{Event, Lease};
use crate::proposal::{Answer, Proposal};
use crate::Events;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
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
    Answer { tag: u64, answer: Answer },
    Event { id: String, event: Event },
    Status(Status),
}

/// The node's link; dropping it stops both threads (within [`COMMAND_TIMEOUT`]).
pub struct Node {
    proposals: SyncSender<(u64, Proposal)>,
    deliveries: async_channel::Receiver<Delivery>,
    stop: Arc<AtomicBool>,
}

impl Node {
    /// Starts the link. It connects in the background: the first [`Delivery`] is its
    /// status.
    pub fn start(config: NodeConfig) -> Node {
        let (proposals, queue) = mpsc::sync_channel(QUEUE);
        let (out, deliveries) = async_channel::bounded(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        // The highest line id seen, from answers and events: the floor for new ids.
        let floor = Arc::new(AtomicU64::new(0));
        let after = "$".to_string();
        {
            let (config, out, stop, floor) =
                (config.clone(), out.clone(), stop.clone(), floor.clone());
            thread::Builder::new()
                .name("chat-cluster-writer".into())
                .spawn(move || {
                    Writer {
                        config,
                        out,
                        stop,
                        floor,
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
                .spawn(move || read(config, after, out, stop, floor))
                .expect("a thread for the cluster's reader");
        }
        Node {
            proposals,
            deliveries,
            stop,
        }
    }

    /// Hands a proposal to the writer; a full queue answers [`Answer::NotSent`] at once
    /// (returned here: the caller delivers it as it would any answer).
    pub fn propose(&self, tag: u64, proposal: Proposal) -> Option<Answer> {
        match self.proposals.try_send((tag, proposal)) {
            Ok(()) => None,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Some(Answer::NotSent),
        }
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

/// Follows the stream from `after` until stopped, reconnecting from the last event read.
fn read(
    config: NodeConfig,
    mut after: String,
    out: async_channel::Sender<Delivery>,
    stop: Arc<AtomicBool>,
    floor: Arc<AtomicU64>,
) {
    // The epoch and sequence number of the last event read, across reconnections.
    let mut last: Option<(String, u64)> = None;
    while !stopped(&stop) {
        let Ok(mut events) = Events::open(&config.url, &config.prefix, &after, COMMAND_TIMEOUT)
        else {
            thread::sleep(Duration::from_millis(200));
            continue;
        };
        let mut own_beat = Instant::now();
        while !stopped(&stop) {
            let Ok(batch) = events.next_batch() else {
                break;
            };
            for entry in batch {
                // Within one epoch every event follows the last by one; a jump means the
                // stream was trimmed past this node while it was away, and its state is
                // stale. (Another epoch is a new state: the writer's lease reports it.)
                let missed = matches!(&last, Some((epoch, seq)) if *epoch == entry.epoch && entry.seq != seq + 1);
                last = Some((entry.epoch.clone(), entry.seq));
                if missed
                    && out
                        .send_blocking(Delivery::Status(Status::GivenUp))
                        .is_err()
                {
                    return;
                }
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
            after = events.after().to_string();
            if own_beat.elapsed() > STUCK_AFTER {
                break; // the connection delivers nothing: open a new one
            }
        }
    }
}
