//! Shared set-up for the chat benchmarks.

use chat_core::{Chat, Client, Config, ConnId, Join, Now};
use std::time::{Duration, Instant};

/// A config for measuring the core alone: no rate limit, no heartbeat, room for everyone.
pub fn bench_config(members: usize) -> Config {
    Config {
        rate: 0.0,
        ping_interval: Duration::ZERO,
        max_connections: members + 16,
        ..Config::default()
    }
}

/// A chat whose `main` room holds `members` text users (with the clients their runtime
/// keeps), greetings drained.
pub fn room_of(members: usize) -> (Chat, Vec<(ConnId, Client)>, Now) {
    let mut chat = Chat::new(bench_config(members));
    let now = Now::new(Instant::now(), 1_700_000_000_000);
    let ids = (0..members)
        .map(|_| {
            let joined = chat
                .handle_join(Join::default(), now)
                .expect("room for all");
            while chat.poll_output().is_some() {}
            joined
        })
        .collect();
    (chat, ids, now)
}
