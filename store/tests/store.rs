//! The store on real SQLite files in a temporary directory: what it keeps and gives back,
//! retention, where ids start again, and the files it refuses to open.

use chat_core::store::RESERVE_AHEAD;
use chat_core::{Fetch, FetchId, Fetched, Kept, StoreRequest};
use chat_store::{open, Answer, Store};
use std::sync::mpsc;
use std::sync::Arc;

fn line(id: u64, room: &str) -> Kept {
    Kept {
        id,
        room: Arc::from(room),
        from: Arc::from("alice"),
        text: Arc::from(format!("line {id}")),
        action: id.is_multiple_of(2),
        ts: 1_700_000_000_000 + id,
    }
}

/// Runs `requests` through a store on `path` and returns its answers once it has closed.
fn run(path: &str, retain: usize, requests: Vec<StoreRequest>) -> Vec<Answer> {
    let opened = open(path, retain).expect("opens");
    let (tx, rx) = mpsc::channel();
    let store = Store::start(opened, 1024, move |a| tx.send(a).unwrap()).unwrap();
    let queue = store.queue();
    for r in requests {
        queue.push(r).expect("room in the queue");
    }
    drop(queue);
    futures_lite::future::block_on(store.closed());
    rx.try_iter().collect()
}

fn fetch(id: u64, room: &str, after: u64, upto: u64, limit: usize) -> StoreRequest {
    StoreRequest::Fetch(Fetch {
        id: fetch_id(id),
        room: Arc::from(room),
        after,
        upto,
        limit,
    })
}

fn fetch_id(n: u64) -> FetchId {
    FetchId(n)
}

fn fetched(answers: &[Answer]) -> Vec<&Fetched> {
    answers
        .iter()
        .filter_map(|a| match a {
            Answer::Fetched(_, f) => Some(f.as_ref().expect("fetched")),
            Answer::Reserved(_) => None,
        })
        .collect()
}

#[test]
fn keeps_lines_and_fetches_the_latest_of_a_range_with_the_older_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let path = path.to_str().unwrap();
    let mut requests: Vec<StoreRequest> = (1..=6)
        .map(|i| StoreRequest::Keep(line(i, if i == 3 { "side" } else { "main" })))
        .collect();
    requests.push(fetch(0, "main", 1, 6, 2)); // 2..=6 minus 3: 2 4 5 6
    requests.push(fetch(1, "main", 0, 4, 10));
    requests.push(fetch(2, "side", 0, 99, 10));
    let answers = run(path, 100, requests);
    let f = fetched(&answers);
    assert_eq!(f[0].lines, vec![line(5, "main"), line(6, "main")]);
    assert_eq!(f[0].older, 2);
    assert_eq!(
        f[1].lines,
        vec![line(1, "main"), line(2, "main"), line(4, "main")]
    );
    assert_eq!(f[1].older, 0);
    assert_eq!(f[2].lines, vec![line(3, "side")]);
    // And again after reopening: the lines are on disk.
    let answers = run(path, 100, vec![fetch(0, "main", 0, 99, 1)]);
    assert_eq!(fetched(&answers)[0].lines, vec![line(6, "main")]);
    assert_eq!(fetched(&answers)[0].older, 4);
}

#[test]
fn retain_keeps_only_the_latest_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let path = path.to_str().unwrap();
    let requests = (1..=50)
        .map(|i| StoreRequest::Keep(line(i, "main")))
        .collect();
    run(path, 10, requests);
    let opened = open(path, 10).unwrap();
    assert_eq!(opened.lines(), 10);
    drop(opened);
    let answers = run(path, 10, vec![fetch(0, "main", 0, 99, 100)]);
    let ids: Vec<u64> = fetched(&answers)[0].lines.iter().map(|k| k.id).collect();
    assert_eq!(ids, (41..=50).collect::<Vec<_>>());
    // Lowering --retain trims at the next start.
    assert_eq!(open(path, 3).unwrap().lines(), 3);
}

#[test]
fn ids_start_above_everything_kept_or_reserved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let path = path.to_str().unwrap();
    let first = open(path, 100).unwrap().restored();
    assert_eq!(first.next_id, 1);
    assert_eq!(first.reserved, 1 + RESERVE_AHEAD);
    // A crash: nothing but the reservation made at start is known.
    let after_crash = open(path, 100).unwrap().restored();
    assert_eq!(after_crash.next_id, 1 + RESERVE_AHEAD);
    // A clean stop records the exact next id; lines kept above it still win.
    run(path, 100, vec![StoreRequest::NextId(7)]);
    assert_eq!(open(path, 100).unwrap().restored().next_id, 7);
    run(
        path,
        100,
        vec![StoreRequest::Keep(line(9, "main")), StoreRequest::NextId(5)],
    );
    assert_eq!(open(path, 100).unwrap().restored().next_id, 10);
}

#[test]
fn a_second_server_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let path = path.to_str().unwrap();
    let _first = open(path, 100).unwrap();
    let e = open(path, 100).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("cannot open the store {path}: locked: another server is using it")
    );
}

#[test]
fn a_file_that_is_not_a_store_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    let junk = b"these are my notes, not a database\n".repeat(200);
    std::fs::write(&path, &junk).unwrap();
    let e = open(path.to_str().unwrap(), 100).unwrap_err();
    assert!(e.to_string().contains("file is not a database"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), junk, "nothing overwritten");
}

#[test]
fn a_path_that_cannot_be_opened_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/chat.db");
    let e = open(path.to_str().unwrap(), 100).unwrap_err();
    assert!(e.to_string().contains("No such file or directory"), "{e}");
}

#[test]
fn a_full_queue_refuses_and_counts() {
    let opened = open(chat_store::MEMORY, 100).unwrap();
    // The callback blocks the writer until the test lets it go: the queue fills.
    let (gate_tx, gate) = mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let store = Store::start(opened, 2, move |_| {
        let _ = gate.lock().unwrap().recv();
    })
    .unwrap();
    let queue = store.queue();
    let mut refused = 0;
    for i in 1..=20 {
        // Each NextId is answered, and each answer waits for the gate.
        if queue.push(StoreRequest::NextId(i)).is_err() {
            refused += 1;
        }
    }
    assert!(refused >= 10, "{refused}");
    assert_eq!(queue.stats().errors(), refused);
    drop(gate_tx);
    drop(queue);
    futures_lite::future::block_on(store.closed());
}

#[test]
fn every_fetch_answers_what_the_reference_answers() {
    // Lines over three rooms (the oldest dropped by retain), then fetches of every shape;
    // SQLite's answers must be those of `Fetch::answer_from` on the lines still kept.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let path = path.to_str().unwrap();
    let rooms = ["main", "side", "x"];
    let mut seed = 7u64;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let lines: Vec<Kept> = (1..=200)
        .map(|id| line(id, rooms[next(3) as usize]))
        .collect();
    let fetches: Vec<Fetch> = (0..100)
        .map(|i| Fetch {
            id: FetchId(i),
            room: Arc::from(rooms[next(3) as usize]),
            after: next(220),
            upto: next(220),
            limit: next(30) as usize,
        })
        .collect();
    // Retention trims at the end of a batch: fetch once it has.
    run(
        path,
        150,
        lines.iter().cloned().map(StoreRequest::Keep).collect(),
    );
    let answers = run(
        path,
        150,
        fetches.iter().cloned().map(StoreRequest::Fetch).collect(),
    );
    let kept = &lines[50..];
    let got = fetched(&answers);
    assert_eq!(got.len(), fetches.len());
    for (f, got) in fetches.iter().zip(got) {
        assert_eq!(*got, f.answer_from(kept), "{f:?}");
    }
}
