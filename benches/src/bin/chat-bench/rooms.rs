//! Memory under the worst pattern the defaults allow: every connection in a room of its own,
//! each filling its room's history with long lines. With `--pid`, the server's memory per
//! connection.

use crate::net;
use crate::report;
use crate::run::Target;
use async_tungstenite::tungstenite::Message;
use serde_json::json;
use std::time::Duration;

pub async fn rooms(
    target: &Target,
    n: usize,
    lines: u32,
    size: usize,
    settle: f64,
) -> Result<serde_json::Value, String> {
    let before = report::rss(&target.pid);
    let line = "x".repeat(size);
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let path = format!("{}?room=r{i}", target.path);
        let (mut ws, _) =
            net::connect(target.addr_of(i), &path, net::source(i, target.sources)).await?;
        for _ in 0..lines {
            ws.send(Message::text(line.as_str()))
                .await
                .map_err(|e| format!("send: {e}"))?;
        }
        conns.push(ws);
        if (i + 1) % 1000 == 0 {
            eprintln!("chat-bench: {}/{n} rooms filled", i + 1);
        }
    }
    // Keep reading (our own lines come back) so that nobody is dropped as slow.
    conns.into_iter().for_each(crate::run::drain);
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    let after = report::rss(&target.pid);
    let mut result = json!({
        "mode": "rooms",
        "connections": n,
        "lines_per_room": lines,
        "line_bytes": size,
    });
    crate::run::merge(&mut result, report::memory(before, after, n));
    Ok(result)
}
