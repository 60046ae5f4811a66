//! The reconnect flood, as an attacker runs it, and the readers who must not suffer from it.
//!
//! `flood`: LOOPS tasks connect, send a frame of 20 lines, close and start again, for
//! SECONDS, from one source address. `watch`: one reader that says a numbered line every
//! half second and checks that each comes back, counts what the flood gets into the room,
//! and reports whether it was dropped. Run the watchers in their own processes (from other
//! source addresses) beside one flood: `benches/scripts/flood.py` does.

use crate::net;
use crate::run::Target;
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use serde_json::json;
use std::cell::Cell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub async fn flood(
    target: &Target,
    from: Ipv4Addr,
    loops: usize,
    seconds: f64,
) -> Result<serde_json::Value, String> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let (connected, refused) = (Rc::new(Cell::new(0u64)), Rc::new(Cell::new(0u64)));
    let frame = "flood\n".repeat(20);
    let tasks: Vec<_> = (0..loops)
        .map(|_| {
            let (connected, refused, frame) = (connected.clone(), refused.clone(), frame.clone());
            let (addr, path) = (target.addr, target.path.clone());
            tokio::task::spawn_local(async move {
                while Instant::now() < deadline {
                    match net::connect(addr, &path, Some(from)).await {
                        Ok((mut ws, _)) => {
                            connected.set(connected.get() + 1);
                            let _ = ws.send(Message::text(frame.as_str())).await;
                            let _ = ws.close(None).await;
                        }
                        // Refused (429) or failed: try again at once, as an attacker would.
                        Err(_) => {
                            refused.set(refused.get() + 1);
                            tokio::task::yield_now().await;
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    Ok(json!({
        "mode": "flood",
        "seconds": seconds,
        "connections": connected.get(),
        "refused": refused.get(),
        "connections_per_s": connected.get() as f64 / seconds,
    }))
}

pub async fn watch(
    target: &Target,
    from: Ipv4Addr,
    seconds: f64,
) -> Result<serde_json::Value, String> {
    let (mut ws, _) = net::connect(target.addr, &target.path, Some(from)).await?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let me = format!("watch-{}", std::process::id());
    let (mut said, mut heard, mut flood, mut joins) = (0u64, 0u64, 0u64, 0u64);
    let mut next_say = started;
    let mut dropped = None;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while Instant::now() < deadline {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if t.contains("]: flood") {
                        // Ours splits the frame into 20 lines; a peer sends it as one message.
                        flood += t.lines().filter(|l| *l == "flood" || l.ends_with("]: flood")).count() as u64;
                    } else if t.ends_with(" joined") {
                        joins += 1;
                    } else if let Some(n) = t.split_once(&format!("]: {me} ")).map(|(_, n)| n) {
                        // Every one of ours, in order.
                        if n.parse::<u64>().ok() == Some(heard) {
                            heard += 1;
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    dropped = Some(started.elapsed().as_secs_f64());
                    break;
                }
            },
            _ = tick.tick() => {
                if Instant::now() >= next_say {
                    let _ = ws.send(Message::text(format!("{me} {said}"))).await;
                    said += 1;
                    next_say += Duration::from_millis(500);
                }
            }
        }
    }
    // The last line may still be on its way.
    let settle = Instant::now() + Duration::from_secs(2);
    while heard < said && dropped.is_none() && Instant::now() < settle {
        match tokio::time::timeout(Duration::from_millis(100), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if t.split_once(&format!("]: {me} ")).map(|(_, n)| n) == Some(&heard.to_string()) {
                    heard += 1;
                }
            }
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(_) => dropped = Some(started.elapsed().as_secs_f64()),
        }
    }
    Ok(json!({
        "mode": "watch",
        "seconds": seconds,
        "said": said,
        "heard_in_order": heard,
        "lost": said - heard,
        "dropped_after_s": dropped,
        "flood_lines": flood,
        "flood_lines_per_s": flood as f64 / seconds,
        "join_notices": joins,
    }))
}
