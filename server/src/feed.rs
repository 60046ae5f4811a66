//! A room's lines, kept once for all of its readers on this server.
//!
//! The hub appends each of the room's lines under its lock, at a cost that does not grow
//! with the room (one entry, a reference count per rendering); every connection's driver
//! takes what it has not read yet through its own cursor, under this feed's read lock only
//! (tokio's broadcast channel works the same way). A line stays until every reader that was
//! there when it came has passed it, or until the feed holds more than a reader may fall
//! behind (`--outbound-queue-bytes`): then the oldest go, and a reader still before them is
//! too slow and is dropped.

use crate::sync::{AtomicU32, AtomicU64, Mutex, RwLock};
use chat_core::{ConnId, Payload, Rendering};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Waker;

/// One room's lines, from the oldest some reader still needs.
#[derive(Debug)]
pub(crate) struct Feed {
    /// The room's name.
    pub room: Arc<str>,
    ring: RwLock<Ring>,
    /// Readers that have read everything, to wake at the next line.
    waiting: Mutex<Vec<Waker>>,
    /// The index of the oldest line kept: a reader before it is too slow. Written under the
    /// write lock, read without it.
    start: AtomicU64,
    /// The index the next line gets; read without the lock.
    end: AtomicU64,
    /// Bytes of lines a reader may be behind.
    limit: usize,
}

#[derive(Debug)]
struct Ring {
    /// The index of `lines[0]`.
    start: u64,
    lines: VecDeque<Entry>,
    /// Text bytes of `lines`.
    bytes: usize,
    /// Readers attached now: each line counts them as its readers.
    readers: u32,
    /// Bytes let go so far while a reader still needed them.
    lost: usize,
}

#[derive(Debug)]
struct Entry {
    text: Payload,
    json: Option<Payload>,
    except: Option<ConnId>,
    /// Readers that have not passed it yet.
    unread: AtomicU32,
}

/// Where one reader is in a feed.
#[derive(Debug)]
pub(crate) struct Cursor {
    pub feed: Arc<Feed>,
    /// The index of the next line to read.
    pub next: u64,
    pub rendering: Rendering,
    /// The reader (a line's `except` may name it).
    pub me: ConnId,
    /// The feed's end when this reader last asked to be woken (its waker is in the list
    /// until the next line takes it); `u64::MAX` before it ever asked.
    waiting_at: u64,
}

/// How far a read got.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// Up to where it was asked to read.
    Done,
    /// It stopped at the byte budget.
    Full,
    /// Lines it had not read are gone: the reader is too slow.
    Lagged,
}

/// What an append asks of the hub.
#[derive(Debug, Default)]
pub(crate) struct Appended {
    /// Readers to wake once the hub's lock is released.
    pub wake: Vec<Waker>,
    /// Lines were let go unread: look for the slow readers (at the first loss, then once per
    /// a quarter of the limit lost, so that a slow reader does not make every line cost the
    /// room's size until it is dropped).
    pub look_for_slow: bool,
}

impl Feed {
    pub(crate) fn new(room: Arc<str>, limit: usize) -> Arc<Feed> {
        Arc::new(Feed {
            room,
            ring: RwLock::new(Ring {
                start: 0,
                lines: VecDeque::new(),
                bytes: 0,
                readers: 0,
                lost: 0,
            }),
            waiting: Mutex::new(Vec::new()),
            start: AtomicU64::new(0),
            end: AtomicU64::new(0),
            limit,
        })
    }

    fn write(&self) -> crate::sync::RwLockWriteGuard<'_, Ring> {
        // Plain data: after a panic elsewhere it is still the best there is.
        self.ring.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read_ring(&self) -> crate::sync::RwLockReadGuard<'_, Ring> {
        self.ring.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The index the next line gets: where a private line queued now takes its place.
    pub(crate) fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// Whether a reader at `cursor` that reads up to `upto` has lost lines (is too slow).
    pub(crate) fn lagged(cursor: &Cursor, upto: u64) -> bool {
        cursor.next < upto && cursor.next < cursor.feed.start.load(Ordering::Acquire)
    }

    /// A reader joins: it reads from the next line on.
    pub(crate) fn attach(self: &Arc<Self>, me: ConnId, rendering: Rendering) -> Box<Cursor> {
        let mut ring = self.write();
        ring.readers += 1;
        Box::new(Cursor {
            feed: self.clone(),
            next: ring.start + ring.lines.len() as u64,
            rendering,
            me,
            waiting_at: u64::MAX,
        })
    }

    /// A reader leaves; returns where it stops (it still reads the lines before).
    pub(crate) fn detach(&self) -> u64 {
        let mut ring = self.write();
        ring.readers = ring.readers.saturating_sub(1);
        ring.start + ring.lines.len() as u64
    }

    /// Readers attached now.
    pub(crate) fn readers(&self) -> u32 {
        self.read_ring().readers
    }

    /// Lines kept now (for tests: what everyone has read is not).
    #[cfg(all(test, not(chat_loom)))]
    pub(crate) fn kept(&self) -> usize {
        self.read_ring().lines.len()
    }

    /// Adds a line for every reader attached now.
    pub(crate) fn append(
        &self,
        text: Payload,
        json: Option<Payload>,
        except: Option<ConnId>,
    ) -> Appended {
        let mut ring = self.write();
        if ring.readers == 0 {
            return Appended::default();
        }
        ring.bytes += text.len();
        let readers = ring.readers;
        ring.lines.push_back(Entry {
            text,
            json,
            except,
            unread: AtomicU32::new(readers),
        });
        ring.trim_read();
        let lost_before = ring.lost;
        while ring.bytes > self.limit && ring.lines.len() > 1 {
            if let Some(gone) = ring.lines.pop_front() {
                ring.start += 1;
                ring.bytes -= gone.text.len();
                ring.lost += gone.text.len();
            }
        }
        let quarter = (self.limit / 4).max(1);
        let look_for_slow = ring.lost != lost_before
            && (lost_before == 0 || lost_before / quarter != ring.lost / quarter);
        // The waiting readers are taken before the new end is published and under the write
        // lock: a reader that registered at the old end (under the read lock) is among
        // them, and one that registers at the new end waits for the next line.
        let wake = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|e| e.into_inner()));
        self.start.store(ring.start, Ordering::Release);
        self.end
            .store(ring.start + ring.lines.len() as u64, Ordering::Release);
        drop(ring);
        Appended {
            wake,
            look_for_slow,
        }
    }

    /// Hands the lines from `cursor.next` up to `upto` (or the end) to `into`, as its
    /// reader reads them, until `*taken` would pass `max_bytes` (one line at least). `into`
    /// borrows each line: a driver copies it straight into its socket's buffer.
    pub(crate) fn read(
        cursor: &mut Cursor,
        upto: u64,
        into: &mut impl FnMut(&Payload),
        taken: &mut usize,
        max_bytes: usize,
    ) -> Read {
        // Nothing new (the common case once a reader has caught up): no lock at all. A line
        // appended meanwhile is seen by `wait`, which looks again under the lock.
        // (Nor can it have lost any: it is at its `upto` or at the end, past the start.)
        if cursor.next >= upto.min(cursor.feed.end()) {
            return Read::Done;
        }
        let feed = cursor.feed.clone();
        let ring = feed.read_ring();
        if cursor.next < ring.start && cursor.next < upto {
            return Read::Lagged;
        }
        let end = upto.min(ring.start + ring.lines.len() as u64);
        let mut read = Read::Done;
        let mut freed_front = false;
        while cursor.next < end {
            let entry = &ring.lines[(cursor.next - ring.start) as usize];
            let payload = match (entry.except == Some(cursor.me), cursor.rendering) {
                (true, _) => None,
                (false, Rendering::Text) => Some(&entry.text),
                (false, Rendering::Json) => entry.json.as_ref(),
            };
            if let Some(payload) = payload {
                if *taken > 0 && *taken + payload.len() > max_bytes {
                    read = Read::Full;
                    break;
                }
                *taken += payload.len();
                into(payload);
            }
            let last = entry.unread.fetch_sub(1, Ordering::AcqRel) == 1;
            freed_front |= last && cursor.next == ring.start;
            cursor.next += 1;
        }
        drop(ring);
        if freed_front {
            feed.let_go_read();
        }
        read
    }

    /// Lets go of what everyone has read, unless the hub is appending (it does it then).
    fn let_go_read(&self) {
        if let Ok(mut ring) = self.ring.try_write() {
            ring.trim_read();
            self.start.store(ring.start, Ordering::Release);
        }
    }

    /// Asks for `waker` to be woken at the next line, unless there is one already (then
    /// false: read again). Registers once per line, however often the reader asks.
    pub(crate) fn wait(cursor: &mut Cursor, waker: &Waker) -> bool {
        let feed = &cursor.feed;
        if cursor.waiting_at == feed.end() {
            // Registered at this very end, and no line since (a line takes the wakers
            // before it publishes its end): still in the list.
            return true;
        }
        let ring = feed.read_ring();
        let end = ring.start + ring.lines.len() as u64;
        if cursor.next < end {
            return false;
        }
        if cursor.waiting_at != end {
            // Under the read lock: an append (which needs the write lock) comes after this
            // and takes the waker with the others.
            (feed.waiting.lock().unwrap_or_else(|e| e.into_inner())).push(waker.clone());
            cursor.waiting_at = end;
        }
        true
    }

    /// A reader gone before reading up to `upto`: the lines it skips no longer wait for it.
    pub(crate) fn skip(cursor: &Cursor, upto: u64) {
        let ring = cursor.feed.read_ring();
        let from = cursor.next.max(ring.start);
        let end = upto.min(ring.start + ring.lines.len() as u64);
        for i in from..end {
            ring.lines[(i - ring.start) as usize]
                .unread
                .fetch_sub(1, Ordering::AcqRel);
        }
        drop(ring);
        if from < end {
            cursor.feed.let_go_read();
        }
    }
}

impl Ring {
    /// Lets go of the oldest lines every reader has passed.
    fn trim_read(&mut self) {
        while let Some(front) = self.lines.front() {
            if front.unread.load(Ordering::Acquire) != 0 {
                return;
            }
            if let Some(gone) = self.lines.pop_front() {
                self.start += 1;
                self.bytes -= gone.text.len();
            }
        }
    }
}
