//! Heap memory the core holds per connection, counted by a global allocator.
//!
//! `cargo bench -p chat-benches --bench core_memory` prints bytes per connection for
//! 100,000 idle connections in one room and spread over 1,000 rooms.

use chat_benches::bench_config;
use chat_core::{Chat, Join, Now};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn per_connection(connections: usize, rooms: usize) -> f64 {
    let now = Now::new(Instant::now(), 0);
    let before = LIVE.load(Ordering::Relaxed);
    let mut chat = Chat::new(bench_config(connections));
    // Each connection's client is kept by its runtime: counted with the chat.
    let mut clients = Vec::with_capacity(connections);
    let names: Vec<String> = (0..rooms).map(|r| format!("room{r}")).collect();
    for i in 0..connections {
        let join = Join {
            room: (rooms > 1).then(|| names[i % rooms].as_str()),
            ..Join::default()
        };
        clients.push(chat.handle_join(join, now).expect("room for all").1);
        while chat.poll_output().is_some() {}
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    drop((chat, clients));
    held as f64 / connections as f64
}

fn main() {
    // `cargo test --benches` runs this with --bench absent; keep that run short.
    let n = if std::env::args().any(|a| a == "--bench") {
        100_000
    } else {
        1_000
    };
    println!(
        "core_memory: {n} idle connections in 1 room: {:.0} bytes each",
        per_connection(n, 1)
    );
    println!(
        "core_memory: {n} idle connections in 1,000 rooms: {:.0} bytes each",
        per_connection(n, 1000)
    );
}
