//! The writer thread: takes the core's store requests from a bounded queue and carries
//! them out in order, one transaction per batch.

use crate::open::{sqlite_cause, Opened};
use crate::stats::StoreStats;
use chat_core::{Fetch, FetchId, Fetched, Kept, StoreRequest};
use rusqlite::{params, Connection, Transaction};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests one batch takes at most, so that a batch commits well within 100 ms.
const MAX_BATCH: usize = 4096;
/// How long the writer gathers requests before it commits them (unless the last batch was
/// full, or a fetch is waiting): one commit, one fsync and one wake-up of the writer per
/// window instead of per line. A crash loses at most this plus one commit's time.
const GROUP_COMMIT: Duration = Duration::from_millis(10);
/// Failures are logged at most this often (with how many there were), not per line.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// What the writer tells the core, through the callback given to [`Store::start`].
#[derive(Debug)]
pub enum Answer {
    /// For `Chat::handle_fetched`.
    Fetched(FetchId, Option<Fetched>),
    /// For `Chat::handle_reserved`.
    Reserved(Option<u64>),
}

/// The running store: its queue's receiving end is the writer thread.
#[derive(Debug)]
pub struct Store {
    queue: Queue,
    done: async_channel::Receiver<()>,
}

/// Where requests go: a bounded queue that never blocks the caller.
#[derive(Clone, Debug)]
pub struct Queue {
    tx: SyncSender<StoreRequest>,
    stats: Arc<StoreStats>,
}

impl Queue {
    /// Queues a request without waiting. A full queue (or a stopped writer) gives it back;
    /// that is counted as an error, and the caller answers the core itself.
    pub fn push(&self, request: StoreRequest) -> Result<(), StoreRequest> {
        self.tx.try_send(request).map_err(|e| {
            self.stats.count_error();
            match e {
                TrySendError::Full(r) | TrySendError::Disconnected(r) => r,
            }
        })
    }

    /// The store's counters.
    pub fn stats(&self) -> &Arc<StoreStats> {
        &self.stats
    }
}

impl Store {
    /// Starts the writer thread on `opened`, with room for `capacity` requests; answers go
    /// to `answer`, called on the writer thread.
    pub fn start(
        opened: Opened,
        capacity: usize,
        answer: impl Fn(Answer) + Send + 'static,
    ) -> std::io::Result<Store> {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let stats = Arc::new(StoreStats::default());
        stats.set_lines(opened.lines);
        let (done_tx, done) = async_channel::bounded(1);
        let writer = Writer {
            count: opened.lines,
            opened,
            stats: stats.clone(),
            answer: Box::new(answer),
            failures: 0,
            logged_at: None,
            errors_seen: 0,
        };
        std::thread::Builder::new()
            .name("chat-store".into())
            .spawn(move || {
                writer.run(rx);
                drop(done_tx); // closing `done` says: everything is written
            })?;
        Ok(Store {
            queue: Queue { tx, stats },
            done,
        })
    }

    /// The queue, for whoever drains the core's requests.
    pub fn queue(&self) -> Queue {
        self.queue.clone()
    }

    /// Writes what is queued and stops, once every [`Queue`] clone has been dropped.
    pub async fn closed(self) {
        drop(self.queue);
        let _ = self.done.recv().await;
    }
}

struct Writer {
    opened: Opened,
    count: u64,
    stats: Arc<StoreStats>,
    answer: Box<dyn Fn(Answer) + Send>,
    /// Failed batches not logged yet.
    failures: u64,
    logged_at: Option<Instant>,
    /// Errors (the hub's refused requests included) already reported in a log line.
    errors_seen: u64,
}

impl Writer {
    fn run(mut self, rx: Receiver<StoreRequest>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut behind = false;
        while let Ok(first) = rx.recv() {
            // A joiner waits for a fetch: answer at once. Otherwise let lines gather (while
            // the writer sleeps, pushing into the queue wakes nobody).
            if !behind && !matches!(first, StoreRequest::Fetch(_)) {
                std::thread::sleep(GROUP_COMMIT);
            }
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            behind = batch.len() == MAX_BATCH;
            let started = Instant::now();
            self.write(&mut batch);
            self.stats.count_batch(started.elapsed());
            self.log_failures();
        }
        tracing::debug!(lines = self.count, "store closed");
    }

    /// Carries out one batch in one transaction, then answers.
    fn write(&mut self, batch: &mut Vec<StoreRequest>) {
        let mut answers = Vec::new();
        let kept = batch
            .iter()
            .filter(|r| matches!(r, StoreRequest::Keep(_)))
            .count();
        let result = apply(
            &mut self.opened.db,
            batch.drain(..),
            self.opened.retain,
            &mut self.count,
            &mut answers,
        );
        let committed = match result {
            Ok(()) => true,
            Err(e) => {
                self.stats.count_error();
                self.failures += 1;
                tracing::warn!(
                    "store write failed, {kept} lines not kept: {}",
                    sqlite_cause(e)
                );
                // The transaction rolled back: recount rather than trust the running count.
                if let Ok(n) = count(&self.opened.db) {
                    self.count = n;
                }
                false
            }
        };
        self.stats.set_lines(self.count);
        for answer in answers {
            let answer = match answer {
                Answer::Reserved(next) => Answer::Reserved(next.filter(|_| committed)),
                fetched => fetched,
            };
            (self.answer)(answer);
        }
    }

    /// Logs failures and refused requests at most once a second.
    fn log_failures(&mut self) {
        let errors = self.stats.errors();
        if errors == self.errors_seen {
            return;
        }
        let now = Instant::now();
        if self.logged_at.is_some_and(|at| now - at < LOG_EVERY) {
            return;
        }
        let refused = errors - self.errors_seen - self.failures;
        if refused > 0 {
            tracing::warn!("{refused} store requests refused: the store's queue was full");
        }
        self.errors_seen = errors;
        self.failures = 0;
        self.logged_at = Some(now);
    }
}

/// One batch in one transaction; fetches see the lines kept before them in the batch.
fn apply(
    db: &mut Connection,
    batch: impl Iterator<Item = StoreRequest>,
    retain: usize,
    count: &mut u64,
    answers: &mut Vec<Answer>,
) -> rusqlite::Result<()> {
    let tx = db.transaction()?;
    let mut failed = None;
    for request in batch {
        if failed.is_some() {
            // The batch is lost; fetches still get an answer.
            if let StoreRequest::Fetch(f) = request {
                answers.push(Answer::Fetched(f.id, None));
            }
            continue;
        }
        let result = match request {
            StoreRequest::Keep(kept) => keep(&tx, &kept).map(|()| *count += 1),
            StoreRequest::Fetch(f) => {
                let fetched = fetch(&tx, &f);
                answers.push(Answer::Fetched(f.id, fetched.as_ref().ok().cloned()));
                fetched.map(|_| ())
            }
            StoreRequest::NextId(next) => {
                answers.push(Answer::Reserved(Some(next)));
                record_next_id(&tx, next)
            }
        };
        if let Err(e) = result {
            failed = Some(e);
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    *count = trim(&tx, retain, Some(*count))?;
    tx.commit()
}

fn keep(tx: &Transaction<'_>, k: &Kept) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO lines (id, room, sender, text, action, ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    insert.execute(params![
        k.id as i64,
        &*k.room,
        &*k.from,
        &*k.text,
        k.action,
        k.ts as i64
    ])?;
    Ok(())
}

/// The latest `limit` lines of the range, and how many older ones it holds.
fn fetch(tx: &Transaction<'_>, f: &Fetch) -> rusqlite::Result<Fetched> {
    let mut select = tx.prepare_cached(
        "SELECT id, sender, text, action, ts FROM lines
         WHERE room = ?1 AND id > ?2 AND id <= ?3 ORDER BY id DESC LIMIT ?4",
    )?;
    let limit = i64::try_from(f.limit).unwrap_or(i64::MAX);
    let rows = select.query_map(
        params![&*f.room, f.after as i64, f.upto as i64, limit],
        |r| {
            Ok(Kept {
                id: r.get::<_, i64>(0)? as u64,
                room: f.room.clone(),
                from: Arc::from(r.get_ref(1)?.as_str()?),
                text: Arc::from(r.get_ref(2)?.as_str()?),
                action: r.get(3)?,
                ts: r.get::<_, i64>(4)? as u64,
            })
        },
    )?;
    let mut lines = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    lines.reverse();
    let older = if lines.len() < f.limit {
        0
    } else {
        let below = lines.first().map_or(f.upto + 1, |k| k.id);
        let mut count = tx
            .prepare_cached("SELECT count(*) FROM lines WHERE room = ?1 AND id > ?2 AND id < ?3")?;
        count.query_row(params![&*f.room, f.after as i64, below as i64], |r| {
            r.get::<_, i64>(0)
        })? as usize
    };
    Ok(Fetched { lines, older })
}

/// Records where the next life of the chat starts its ids.
pub(crate) fn record_next_id(tx: &Connection, next: u64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('next_id', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [next as i64],
    )?;
    Ok(())
}

fn count(db: &Connection) -> rusqlite::Result<u64> {
    db.query_row("SELECT count(*) FROM lines", [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
}

/// Drops the oldest lines beyond `retain`; returns how many are left. `known` is the count
/// if the caller knows it.
pub(crate) fn trim(db: &Connection, retain: usize, known: Option<u64>) -> rusqlite::Result<u64> {
    let n = match known {
        Some(n) => n,
        None => count(db)?,
    };
    let excess = n.saturating_sub(retain as u64);
    if excess == 0 {
        return Ok(n);
    }
    let mut delete = db.prepare_cached(
        "DELETE FROM lines WHERE id IN (SELECT id FROM lines ORDER BY id LIMIT ?1)",
    )?;
    let gone = delete.execute([excess as i64])? as u64;
    Ok(n - gone)
}
