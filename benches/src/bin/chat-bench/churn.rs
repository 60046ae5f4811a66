//! Churn: connections open at a steady RATE for SECONDS, each waits for its greeting, says
//! LINES lines and closes: the handshakes per second the server keeps up with and the time
//! to the greeting. Then MASS connections are opened, and all dropped at once: how much of
//! the memory they took the server gives back within SETTLE seconds.

use crate::net;
use crate::report;
use crate::run::{connect_all, Target};
use async_tungstenite::tungstenite::Message;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Connections in flight at most during the steady phase: a server that falls behind
/// shows as fewer handshakes per second, not as an unbounded pile of sockets here.
const IN_FLIGHT: usize = 2000;

pub async fn churn(
    target: &Target,
    rate: f64,
    seconds: f64,
    lines: u32,
    mass: usize,
    settle: f64,
) -> Result<serde_json::Value, String> {
    let greeting = Rc::new(RefCell::new(report::histogram()));
    let (done, failed) = (Rc::new(Cell::new(0u64)), Rc::new(Cell::new(0u64)));
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let every = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let total = (rate * seconds).round() as usize;
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        // A steady rate: each connection at its own moment, whatever happened to the last.
        tokio::time::sleep_until((started + every * i as u32).into()).await;
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            failed.set(failed.get() + 1); // too many still in flight: counted as not kept up
            continue;
        };
        let (greeting, done, failed) = (greeting.clone(), done.clone(), failed.clone());
        let (addr, path, from) = (
            target.addr_of(i),
            target.path.clone(),
            net::source(i, target.sources),
        );
        tasks.push(tokio::task::spawn_local(async move {
            let _slot = slot;
            match net::connect(addr, &path, from).await {
                Ok((mut ws, took)) => {
                    let _ = greeting.borrow_mut().record(took.as_micros().max(1) as u64);
                    for k in 0..lines {
                        let _ = ws.send(Message::text(format!("churn {i} {k}"))).await;
                    }
                    let _ = ws.close(None).await;
                    done.set(done.get() + 1);
                }
                Err(_) => failed.set(failed.get() + 1),
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Mass disconnect: what the server returns once 10,000 connections are gone.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = report::rss(&target.pid);
    let (conns, _) = connect_all(target, mass).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let peak = report::rss(&target.pid);
    drop(conns);
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    let after = report::rss(&target.pid);
    let returned = match (before, peak, after) {
        (Some(b), Some(p), Some(a)) if p > b => {
            json!((p.saturating_sub(a)) as f64 / (p - b) as f64)
        }
        _ => json!(null),
    };
    let greeting = greeting.borrow();
    Ok(json!({
        "mode": "churn",
        "offered_per_s": rate,
        "connections": done.get(),
        "failed": failed.get(),
        "handshakes_per_s": done.get() as f64 / elapsed,
        "greeting": report::percentiles(&greeting),
        "rss": {
            "before_bytes": before,
            "peak_bytes": peak,
            "after_bytes": after,
            "returned_fraction": returned,
        },
    }))
}
