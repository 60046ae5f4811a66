//! The history store through the real server binaries, on every runtime: a restart keeps
//! the history and its ids, a resume gets exactly what was missed, SIGKILL in a flood loses
//! at most the last 100 ms and never reuses an id, SIGTERM loses nothing, `--retain` bounds
//! the store, and a store that cannot be opened stops the server with exit status 2.
//! Every store is in a temporary directory of its own.

mod common;
use common::*;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// A chat line as a JSON client saw it: id and text.
fn said(line: &str) -> Option<(u64, String)> {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    (v["type"] == "message").then(|| (v["id"].as_u64().unwrap(), v["text"].to_string()))
}

fn text(s: &str) -> String {
    Value::String(s.into()).to_string()
}

/// A JSON client joining with `query`, past its welcome.
fn joined(server: &Server, query: &str) -> Client {
    let mut c = server.connect_json(query);
    let welcome = c.line();
    assert!(welcome.contains("\"welcome\""), "{welcome}");
    c
}

/// Everything `c` is replayed: chat lines until `marker`, which it then says itself (its
/// own line comes after the replay).
fn replayed(c: &mut Client, marker: &str) -> Vec<(u64, String)> {
    c.send(marker);
    let mut lines = Vec::new();
    loop {
        let line = c.line();
        if let Some((id, t)) = said(&line) {
            if t == text(marker) {
                return lines;
            }
            lines.push((id, t));
        }
    }
}

fn a_restart_keeps_the_history_with_the_same_ids(rt: Rt) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let db = db.to_str().unwrap();
    let mut first = Server::start(rt, &["--db", db]);
    let mut a = joined(&first, "?name=a");
    a.send("one\ntwo");
    let before: Vec<_> = a.lines(2).iter().filter_map(|l| said(l)).collect();
    assert_eq!(before.len(), 2);
    assert!(first.terminate().success());

    let second = Server::start(rt, &["--db", db]);
    let mut b = second.connect_json("?name=b");
    let lines = b.lines(3);
    let after: Vec<_> = lines[1..].iter().filter_map(|l| said(l)).collect();
    assert_eq!(after, before, "the same lines with the same ids: {lines:?}");
    assert!(lines[1..].iter().all(|l| l.contains("\"replay\":true")));
    b.send("three");
    let (id, _) = said(&b.line()).unwrap();
    assert_eq!(id, before[1].0 + 1, "a clean stop skips no id");
}

fn a_resume_gets_exactly_the_missed_lines(rt: Rt) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let server = Server::start(rt, &["--db", db.to_str().unwrap(), "--rate", "0"]);
    let mut talker = server.connect_as("?name=t");
    talker.welcome();
    let mut reader = joined(&server, "?name=r");
    talker.send("before");
    talker.line();
    let (last, _) = said(&reader.line()).unwrap();
    drop(reader);
    server.wait_for_metric("chat_connections", 1);
    // More than the 20 lines memory keeps per room: the replay comes from the store.
    for frame in 0..3 {
        let lines: Vec<String> = (0..10).map(|i| format!("m{}", frame * 10 + i)).collect();
        talker.send(&lines.join("\n"));
    }
    talker.lines(30);
    let mut back = joined(&server, &format!("?name=r&since={last}"));
    let missed: Vec<String> = (0..30).map(|i| text(&format!("m{i}"))).collect();
    let got = replayed(&mut back, "back");
    assert_eq!(
        got.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>(),
        missed
    );
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0) && got[0].0 > last);
    talker.send("live");
    let next = said(&back.line()).unwrap();
    assert_eq!(
        next.1,
        text("live"),
        "the live line, once, after the replay"
    );
}

/// Floods the room with `f0`, `f1`, … in frames of 20 lines until `stop`, reading its own
/// echoes in step so that it is never dropped as slow.
fn flood(mut c: Client, stop: Arc<AtomicBool>) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let frame: Vec<String> = (n..n + 20).map(|i| format!("f{i}")).collect();
        c.ws.send(tungstenite::Message::text(frame.join("\n"))).ok();
        n += 20;
        for _ in 0..20 {
            if !matches!(c.next(), Seen::Line(_)) {
                return; // the server has gone
            }
        }
    }
}

/// Reads chat lines with the instant each arrived, until the connection ends.
fn record(mut c: Client) -> Vec<(u64, String, Instant)> {
    let mut seen = Vec::new();
    while let Seen::Line(l) = c.next() {
        if let Some((id, t)) = said(&l) {
            seen.push((id, t, Instant::now()));
        }
    }
    seen
}

/// Floods a server on `db` for a while, then stops it with `stop`; returns what a reader
/// received, and when it was stopped.
fn flood_then(
    rt: Rt,
    db: &str,
    stop: impl FnOnce(&mut Server),
) -> (Vec<(u64, String, Instant)>, Instant) {
    let mut server = Server::start(rt, &["--db", db, "--rate", "0"]);
    let reader = joined(&server, "?name=reader");
    let mut flooder = server.connect_as("?name=flood");
    flooder.welcome();
    let reading = thread::spawn(move || record(reader));
    let done = Arc::new(AtomicBool::new(false));
    let flooding = thread::spawn({
        let done = done.clone();
        move || flood(flooder, done)
    });
    thread::sleep(Duration::from_millis(400));
    let at = Instant::now();
    stop(&mut server);
    done.store(true, Ordering::Relaxed);
    flooding.join().unwrap();
    let seen = reading.join().unwrap();
    assert!(
        seen.len() > 100,
        "the flood got going: {} lines",
        seen.len()
    );
    (seen, at)
}

/// What the store holds after a restart on `db`, in order, and the id a new line gets.
fn stored(rt: Rt, db: &str) -> (Vec<(u64, String)>, u64) {
    // The whole store in one replay: more than one outbound queue's default megabyte.
    let flags = [
        "--resume-limit",
        "10000000",
        "--outbound-queue-bytes",
        "1000000000",
    ];
    let server = Server::start(rt, &[&["--db", db][..], &flags].concat());
    let mut c = joined(&server, "?name=after&since=0");
    let lines = replayed(&mut c, "next");
    c.send("next again");
    let (next, _) = said(&c.line()).unwrap();
    (lines, next)
}

fn sigkill_in_a_flood_loses_at_most_the_last_100_ms_and_reuses_no_id(rt: Rt) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let db = db.to_str().unwrap();
    let (seen, killed_at) = flood_then(rt, db, Server::kill);
    let (kept, next) = stored(rt, db);
    for (i, (_, t)) in kept.iter().enumerate() {
        assert_eq!(
            *t,
            text(&format!("f{i}")),
            "an in-order prefix of what was sent"
        );
    }
    let old_enough = seen
        .iter()
        .filter(|(_, _, at)| *at + Duration::from_millis(100) < killed_at)
        .count();
    assert!(
        kept.len() >= old_enough,
        "{} lines kept, but {old_enough} were delivered more than 100 ms before the kill",
        kept.len()
    );
    eprintln!(
        "{} delivered, {old_enough} of them 100 ms before the kill, {} kept",
        seen.len(),
        kept.len()
    );
    let top = seen.iter().map(|(id, _, _)| *id).max().unwrap();
    assert!(
        next > top,
        "next id {next} is above {top}, the last delivered"
    );
}

fn sigterm_in_a_flood_keeps_every_line(rt: Rt) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let db = db.to_str().unwrap();
    let (seen, _) = flood_then(rt, db, |s| assert!(s.terminate().success()));
    let (kept, _) = stored(rt, db);
    let kept_ids: Vec<u64> = kept.iter().map(|(id, _)| *id).collect();
    let seen_ids: Vec<u64> = seen.iter().map(|(id, _, _)| *id).collect();
    assert!(
        kept_ids.starts_with(&seen_ids),
        "every delivered line is kept: {} delivered, {} kept",
        seen_ids.len(),
        kept_ids.len()
    );
}

fn retain_bounds_the_store(rt: Rt) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let db = db.to_str().unwrap();
    let mut server = Server::start(rt, &["--db", db, "--rate", "0", "--retain", "50"]);
    let mut t = server.connect_as("?name=t");
    t.welcome();
    for frame in 0..10 {
        let lines: Vec<String> = (0..20).map(|i| format!("r{}", frame * 20 + i)).collect();
        t.send(&lines.join("\n"));
        t.lines(20);
    }
    server.wait_for_metric("chat_store_lines", 50);
    assert!(server.terminate().success());
    let (kept, _) = stored(rt, db);
    let expected: Vec<String> = (150..200).map(|i| text(&format!("r{i}"))).collect();
    assert_eq!(
        kept.into_iter().map(|(_, t)| t).collect::<Vec<_>>(),
        expected
    );
}

fn a_store_that_cannot_be_opened_stops_the_server_with_its_reason(rt: Rt) {
    let dir = tempfile::tempdir().unwrap();
    let expect_exit = |db: &str, cause: &str| {
        let (code, stderr) = run_to_exit(rt, &["--db", db]);
        assert_eq!(code, Some(2), "{stderr}");
        let line = format!("error: cannot open the store {db}: {cause}");
        assert!(stderr.trim_end().starts_with(&line), "{stderr:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    };
    let junk = dir.path().join("notes.txt");
    let notes = b"not a database at all\n".repeat(300);
    std::fs::write(&junk, &notes).unwrap();
    expect_exit(junk.to_str().unwrap(), "file is not a database");
    assert_eq!(std::fs::read(&junk).unwrap(), notes, "nothing overwritten");
    let missing = dir.path().join("no/such/dir/chat.db");
    expect_exit(missing.to_str().unwrap(), "No such file or directory");
    expect_exit(dir.path().to_str().unwrap(), "Is a directory");

    let db = dir.path().join("chat.db");
    let db = db.to_str().unwrap();
    let first = Server::start(rt, &["--db", db]);
    expect_exit(db, "locked: another server is using it");
    let mut c = first.connect();
    c.welcome(); // the first server is unharmed
}

for_every_runtime!(
    a_restart_keeps_the_history_with_the_same_ids,
    a_resume_gets_exactly_the_missed_lines,
    sigkill_in_a_flood_loses_at_most_the_last_100_ms_and_reuses_no_id,
    sigterm_in_a_flood_keeps_every_line,
    retain_bounds_the_store,
    a_store_that_cannot_be_opened_stops_the_server_with_its_reason,
);
