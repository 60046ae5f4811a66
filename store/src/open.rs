//! Opening the store: the file's lock, its schema, and where the chat's ids start again.

use chat_core::store::RESERVE_AHEAD;
use chat_core::Restored;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::fs::{File, OpenOptions, TryLockError};
use std::time::Duration;

/// The `--db` value that keeps the history in memory, forgotten at exit.
pub const MEMORY: &str = ":memory:";

/// The schema this version writes (SQLite's `user_version`).
const SCHEMA: i64 = 1;

const CREATE: &str = "
    CREATE TABLE lines (
        id     INTEGER PRIMARY KEY,
        room   TEXT    NOT NULL,
        sender TEXT    NOT NULL,
        text   TEXT    NOT NULL,
        action INTEGER NOT NULL,
        ts     INTEGER NOT NULL
    );
    CREATE INDEX lines_by_room ON lines (room, id);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    PRAGMA user_version = 1;
";

/// Why a store could not be opened; its text names the file and the cause, on one line.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the store {path}: {cause}")]
pub struct OpenError {
    /// The `--db` path.
    pub path: String,
    /// What went wrong.
    pub cause: String,
}

/// An open store, not yet running: where the chat starts, and what the writer needs.
#[derive(Debug)]
pub struct Opened {
    pub(crate) db: Connection,
    /// Held (locked) for as long as the store is open: one server per file. Declared after
    /// `db`, so that it is released after the database is closed.
    pub(crate) _lock: Option<File>,
    pub(crate) lines: u64,
    pub(crate) retain: usize,
    restored: Restored,
}

impl Opened {
    /// Where the chat starts: above every id this store holds or reserved.
    pub fn restored(&self) -> Restored {
        self.restored
    }

    /// Lines the store holds.
    pub fn lines(&self) -> u64 {
        self.lines
    }
}

/// Opens (or creates) the store at `path`, or an empty one in memory for [`MEMORY`], keeping
/// at most `retain` lines. Refuses, changing nothing, a file that is not a store, one of a
/// newer schema, and one that another server has open.
pub fn open(path: &str, retain: usize) -> Result<Opened, OpenError> {
    let fail = |cause: String| OpenError {
        path: path.to_string(),
        cause,
    };
    let sqlite = |e: rusqlite::Error| fail(sqlite_cause(e));
    let (mut db, lock) = if path == MEMORY {
        (Connection::open_in_memory().map_err(sqlite)?, None)
    } else {
        // The lock comes first, on a descriptor kept open for the store's whole life (SQLite's
        // own locks are released when any descriptor of the file closes).
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| fail(e.to_string()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(fail("locked: another server is using it".into()))
            }
            Err(TryLockError::Error(e)) => return Err(fail(format!("cannot lock it: {e}"))),
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        (
            Connection::open_with_flags(path, flags).map_err(sqlite)?,
            Some(file),
        )
    };
    // Another program (the sqlite3 tool) writing: wait a little, then say it is locked.
    db.busy_timeout(Duration::from_secs(1)).map_err(sqlite)?;
    // Reading the journal mode is the first read of the file: a file that is not a store
    // fails here, before anything is written.
    let mode: String = db
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sqlite)?;
    if path != MEMORY && !mode.eq_ignore_ascii_case("wal") {
        return Err(fail(format!(
            "cannot use write-ahead logging (mode {mode})"
        )));
    }
    // FULL: every committed batch is on disk, so that a power loss loses at most the batch
    // being written (WAL makes that one fsync per batch).
    db.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite)?;
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sqlite)?;
    match version {
        0 => db.execute_batch(CREATE).map_err(sqlite)?,
        SCHEMA => {}
        newer => {
            return Err(fail(format!(
                "written by a newer version of the server (schema {newer}, this one knows {SCHEMA})"
            )))
        }
    }
    let restored = restore(&mut db).map_err(sqlite)?;
    let mut opened = Opened {
        db,
        _lock: lock,
        lines: 0,
        retain,
        restored,
    };
    opened.lines = crate::writer::trim(&opened.db, retain, None).map_err(sqlite)?;
    Ok(opened)
}

/// Reads where ids start again, and reserves the first block of them, durably, before the
/// chat hands out any.
fn restore(db: &mut Connection) -> rusqlite::Result<Restored> {
    let tx = db.transaction()?;
    let top: Option<i64> = tx.query_row("SELECT max(id) FROM lines", [], |r| r.get(0))?;
    let recorded: Option<i64> = tx
        .query_row("SELECT value FROM meta WHERE key = 'next_id'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let next_id = (top.unwrap_or(0) as u64 + 1).max(recorded.unwrap_or(1) as u64);
    let reserved = next_id + RESERVE_AHEAD;
    crate::writer::record_next_id(&tx, reserved)?;
    tx.commit()?;
    Ok(Restored { next_id, reserved })
}

/// SQLite's words for what went wrong, without rusqlite's wrapping.
pub(crate) fn sqlite_cause(e: rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(code, Some(message)) => {
            format!("{message} ({:?})", code.code)
        }
        other => other.to_string(),
    }
}
