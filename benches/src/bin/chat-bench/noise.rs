//! Noise: frames that concern their sender alone, sent as fast as the server reads them.
//! CONNECTIONS connections send FRAMES frames each, blank text frames and pongs in turn, many
//! to a write (so that what is measured is the server's work per frame, not a segment per
//! frame), then one line each; once every line is back, the server has read every frame.
//! Reports the
//! server's CPU per frame (with --pid) and, from a server that has them in `/metrics` (ours),
//! the inputs it ran against its shared chat and the time its lock was held for them.

use crate::run::{connect_all, Target};
use crate::tally::CpuMark;
use async_tungstenite::tungstenite::Message;
use futures_lite::io::AsyncWriteExt;
use futures_util::StreamExt;
use serde_json::json;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub async fn noise(
    target: &Target,
    connections: usize,
    frames: u32,
) -> Result<serde_json::Value, String> {
    let (conns, _) = connect_all(target, connections).await?;
    let before = hub_counters(target.addr);
    let cpu = CpuMark::now(&target.pid);
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            tokio::task::spawn_local(async move {
                // Written under tungstenite, which holds nothing yet (it writes each message
                // at once): whole frames only, so the stream stays well formed.
                let mut left = frames;
                while left > 0 {
                    let n = left.min(PER_WRITE);
                    let batch = raw_frames(n);
                    (ws.get_mut().write_all(&batch).await).map_err(|e| format!("send: {e}"))?;
                    left -= n;
                }
                let last = format!("noise done {i}");
                ws.send(Message::text(last.clone()))
                    .await
                    .map_err(|e| format!("send: {e}"))?;
                while let Some(msg) = ws.next().await {
                    match msg {
                        Ok(Message::Text(t)) if t.ends_with(&*last) => return Ok(ws),
                        Ok(_) => {}
                        Err(e) => return Err(format!("read: {e}")),
                    }
                }
                Err("closed before its last line came back".to_string())
            })
        })
        .collect();
    let mut open = Vec::with_capacity(tasks.len());
    for task in tasks {
        open.push(task.await.map_err(|e| e.to_string())??);
    }
    let took = started.elapsed().as_secs_f64();
    let total = connections as u64 * u64::from(frames);
    let (server, tool) = cpu.since(&target.pid, total);
    let after = hub_counters(target.addr);
    let hub = match (before, after) {
        (Some((i0, s0)), Some((i1, s1))) => {
            // The last lines are inputs too; the rest are the noise's.
            let inputs = (i1 - i0).saturating_sub(connections as u64);
            json!({
                "inputs": i1 - i0,
                "inputs_per_frame": inputs as f64 / total as f64,
                "lock_ns_per_frame": (s1 - s0) * 1e9 / total as f64,
            })
        }
        _ => json!(null),
    };
    drop(open);
    Ok(json!({
        "mode": "noise",
        "connections": connections,
        "frames": total,
        "seconds": took,
        "frames_per_s": total as f64 / took,
        "server": server,
        "tool": tool,
        "hub": hub,
    }))
}

/// Frames written to the socket at once.
const PER_WRITE: u32 = 500;

/// `n` client frames, a blank text frame (`"   "`) and an empty pong in turn, masked (as a
/// client's must be) with the key 0, which leaves the payload as it is.
fn raw_frames(n: u32) -> Vec<u8> {
    const BLANK: [u8; 9] = [0x81, 0x80 | 3, 0, 0, 0, 0, b' ', b' ', b' '];
    const PONG: [u8; 6] = [0x8A, 0x80, 0, 0, 0, 0];
    let mut out = Vec::with_capacity(n as usize * BLANK.len());
    for k in 0..n {
        out.extend_from_slice(if k % 2 == 0 { &BLANK } else { &PONG });
    }
    out
}

/// `chat_hub_inputs_total` and `chat_hub_lock_seconds_total` from the server's `/metrics`,
/// if it has them. (Blocking, once before and once after the measured part.)
fn hub_counters(addr: SocketAddr) -> Option<(u64, f64)> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    let value = |series: &str| {
        body.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .parse::<f64>()
                .ok()
        })
    };
    Some((
        value("chat_hub_inputs_total")? as u64,
        value("chat_hub_lock_seconds_total")?,
    ))
}
