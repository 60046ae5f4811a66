//! The scenarios: connect, drive, measure.

use crate::line::{self, Stamp};
use crate::net::{self, Ws};
use crate::report;
use crate::tally::{self, CpuMark, Tally};
use async_tungstenite::tungstenite::Message;
use clap::Subcommand;
use futures_util::{FutureExt, StreamExt};
use serde_json::json;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

/// What to measure.
#[derive(Subcommand, Debug, Clone)]
pub enum Mode {
    /// Hold idle connections; with --pid, report the server's memory per connection.
    Idle {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Seconds to wait after the last connect before reading the server's memory.
        #[arg(long, default_value_t = 3.0)]
        settle: f64,
    },
    /// Throughput: SENDERS of the CONNECTIONS send LINES lines each, with at most WINDOW
    /// unacknowledged (a sender's own line coming back acknowledges it).
    Broadcast {
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        senders: usize,
        #[arg(long, default_value_t = 200)]
        lines: u32,
        #[arg(long, default_value_t = 16)]
        window: usize,
        /// Bytes of text per line.
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
    /// Latency at a fixed offered rate: each sender sends RATE lines a second for SECONDS.
    Latency {
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        senders: usize,
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
    /// The reconnect storm: CONNECTIONS wait for the server to be restarted (the tool says
    /// when, on stderr), then all resume at once with `since` and get the MISSED lines said
    /// meanwhile. Needs a server that keeps its history across restarts.
    Storm {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        #[arg(long, default_value_t = 20)]
        missed: u32,
        /// Seconds to wait for the server to come back.
        #[arg(long, default_value_t = 60.0)]
        patience: f64,
    },
    /// The reconnect flood: LOOPS tasks connect from FROM, send 20 lines, close, again, for
    /// SECONDS.
    Flood {
        #[arg(long, default_value = "127.0.0.1")]
        from: std::net::Ipv4Addr,
        #[arg(long, default_value_t = 8)]
        loops: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// A reader beside a flood: says a numbered line every 0.5 s for SECONDS and checks that
    /// each comes back; counts the flood's lines; reports whether it was dropped.
    Watch {
        #[arg(long, default_value = "127.0.0.2")]
        from: std::net::Ipv4Addr,
        #[arg(long, default_value_t = 12.0)]
        seconds: f64,
    },
    /// Every connection in a room of its own, filling its history with LINES lines of SIZE
    /// bytes; with --pid, the server's memory per connection after SETTLE seconds.
    Rooms {
        #[arg(long, default_value_t = 5000)]
        connections: usize,
        #[arg(long, default_value_t = 20)]
        lines: u32,
        #[arg(long, default_value_t = 4000)]
        size: usize,
        #[arg(long, default_value_t = 3.0)]
        settle: f64,
    },
    /// Connections opening at RATE a second for SECONDS, each greeted, saying LINES lines and
    /// closing; then MASS connections dropped at once: how much memory the server returns
    /// within SETTLE seconds (with --pid).
    Churn {
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 3)]
        lines: u32,
        #[arg(long, default_value_t = 10_000)]
        mass: usize,
        #[arg(long, default_value_t = 5.0)]
        settle: f64,
    },
    /// Frames that concern their sender alone (blank text frames and pongs, in turn), FRAMES
    /// from each of CONNECTIONS, as fast as the server reads them: what each costs it.
    Noise {
        #[arg(long, default_value_t = 10)]
        connections: usize,
        #[arg(long, default_value_t = 100_000)]
        frames: u32,
    },
    /// One line a second to every connection, for SECONDS: how long until all have it.
    Fanout {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
}

/// Where and how to connect.
pub struct Target {
    pub addr: SocketAddr,
    /// Further nodes of the same chat: connection `i` goes to the `i`-th of all, in turn.
    pub also: Vec<SocketAddr>,
    pub path: String,
    pub sources: u8,
    /// The server's processes (every node and the Redis of a cluster).
    pub pid: Vec<u32>,
    pub batch: usize,
    pub fd_limit: u64,
}

impl Target {
    /// Where connection `i` goes: the nodes in turn.
    pub fn addr_of(&self, i: usize) -> SocketAddr {
        match i % (1 + self.also.len()) {
            0 => self.addr,
            k => self.also[k - 1],
        }
    }
}

pub async fn run(target: Target, mode: Mode) -> Result<serde_json::Value, String> {
    let mut result = match mode {
        Mode::Idle {
            connections,
            settle,
        } => idle(&target, connections, settle).await?,
        Mode::Broadcast {
            connections,
            senders,
            lines,
            window,
            size,
        } => {
            let plan = Plan {
                connections,
                senders,
                lines,
                size,
                pace: Pace::Window(window),
            };
            traffic(&target, plan).await?
        }
        Mode::Latency {
            connections,
            senders,
            rate,
            seconds,
            size,
        } => {
            let lines = (rate * seconds).round() as u32;
            let plan = Plan {
                connections,
                senders,
                lines,
                size,
                pace: Pace::Rate(rate),
            };
            traffic(&target, plan).await?
        }
        Mode::Flood {
            from,
            loops,
            seconds,
        } => crate::flood::flood(&target, from, loops, seconds).await?,
        Mode::Watch { from, seconds } => crate::flood::watch(&target, from, seconds).await?,
        Mode::Rooms {
            connections,
            lines,
            size,
            settle,
        } => crate::rooms::rooms(&target, connections, lines, size, settle).await?,
        Mode::Storm {
            connections,
            missed,
            patience,
        } => crate::storm::storm(&target, connections, missed, patience).await?,
        Mode::Churn {
            rate,
            seconds,
            lines,
            mass,
            settle,
        } => crate::churn::churn(&target, rate, seconds, lines, mass, settle).await?,
        Mode::Noise {
            connections,
            frames,
        } => crate::noise::noise(&target, connections, frames).await?,
        Mode::Fanout {
            connections,
            seconds,
            size,
        } => {
            let plan = Plan {
                connections,
                senders: 1,
                lines: seconds,
                size,
                pace: Pace::Rate(1.0),
            };
            traffic(&target, plan).await?
        }
    };
    result["fd_limit"] = json!(target.fd_limit);
    Ok(result)
}

/// Opens `n` connections, `batch` at a time, with a progress line a second.
pub(crate) async fn connect_all(
    target: &Target,
    n: usize,
) -> Result<(Vec<Ws>, serde_json::Value), String> {
    let started = Instant::now();
    let mut times = report::histogram();
    let mut conns = Vec::with_capacity(n);
    let mut last_progress = Instant::now();
    let mut pending = futures_util::stream::iter(0..n)
        .map(|i| {
            net::connect(
                target.addr_of(i),
                &target.path,
                net::source(i, target.sources),
            )
        })
        .buffer_unordered(target.batch);
    while let Some(conn) = pending.next().await {
        let (ws, took) = conn.map_err(|e| format!("connection {} of {n}: {e}", conns.len() + 1))?;
        let _ = times.record(took.as_micros() as u64);
        conns.push(ws);
        if last_progress.elapsed() >= Duration::from_secs(1) {
            eprintln!("chat-bench: connected {}/{n}", conns.len());
            last_progress = Instant::now();
        }
    }
    let summary = json!({
        "total_s": started.elapsed().as_secs_f64(),
        "each": report::percentiles(&times),
    });
    Ok((conns, summary))
}

/// Keeps reading a connection (answering pings) and ignores what it says.
pub(crate) fn drain(mut ws: Ws) {
    tokio::task::spawn_local(async move { while let Some(Ok(_)) = ws.next().await {} });
}

async fn idle(target: &Target, n: usize, settle: f64) -> Result<serde_json::Value, String> {
    let before = report::rss(&target.pid);
    let (conns, connect) = connect_all(target, n).await?;
    for ws in conns {
        drain(ws);
    }
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    let after = report::rss(&target.pid);
    let mut result = json!({
        "mode": "idle",
        "connections": n,
        "connect": connect,
    });
    merge(&mut result, report::memory(before, after, n));
    Ok(result)
}

enum Pace {
    /// At most this many unacknowledged lines per sender.
    Window(usize),
    /// This many lines a second per sender.
    Rate(f64),
}

struct Plan {
    connections: usize,
    senders: usize,
    lines: u32,
    size: usize,
    pace: Pace,
}

/// A connection's incoming side: split off for senders, whole for everyone else.
enum Incoming {
    Split(async_tungstenite::WebSocketReceiver<net::Conn>),
    Whole(Box<Ws>),
}

impl Incoming {
    async fn next(&mut self) -> Option<Result<Message, async_tungstenite::tungstenite::Error>> {
        match self {
            Incoming::Split(s) => s.next().await,
            Incoming::Whole(ws) => ws.next().await,
        }
    }
}

/// Broadcast, latency and fan-out: senders send, every connection receives and measures.
async fn traffic(target: &Target, plan: Plan) -> Result<serde_json::Value, String> {
    let Plan {
        connections: n,
        senders,
        lines,
        size,
        ..
    } = plan;
    if senders == 0 || senders > n {
        return Err("--senders must be between 1 and --connections".into());
    }
    let (conns, connect) = connect_all(target, n).await?;
    let expected = senders as u64 * lines as u64 * n as u64;
    let tally = Rc::new(RefCell::new(Tally {
        latency: report::histogram(),
        delivered: 0,
        reordered: 0,
        last: vec![vec![-1; senders]; n],
        per_seq: vec![(0, 0); lines as usize],
        last_delivery: Instant::now(),
    }));
    let done = Rc::new(Notify::new());
    let cpu = CpuMark::now(&target.pid);
    let windows: Vec<Rc<Semaphore>> = (0..senders)
        .map(|_| {
            Rc::new(Semaphore::new(match plan.pace {
                Pace::Window(w) => w.max(1),
                Pace::Rate(_) => 0,
            }))
        })
        .collect();
    let start = Instant::now();
    let mut sinks = Vec::new();
    for (i, ws) in conns.into_iter().enumerate() {
        // Only senders need a separate sending half; splitting costs a lock per poll.
        let mut stream = if i < senders {
            let (sink, stream) = ws.split();
            sinks.push(sink);
            Incoming::Split(stream)
        } else {
            Incoming::Whole(Box::new(ws))
        };
        let (tally, done) = (tally.clone(), done.clone());
        let ack = windows.get(i).cloned();
        tokio::task::spawn_local(async move {
            while let Some(first) = stream.next().await {
                // One clock read per wake-up: the messages already buffered arrived with it.
                let now = Instant::now();
                let mut next = Some(first);
                while let Some(Ok(msg)) = next {
                    let Message::Text(text) = msg else {
                        next = stream.next().now_or_never().flatten();
                        continue;
                    };
                    if let Some(stamp) = line::decode(&text) {
                        let own = tally::record(&tally, &done, i, stamp, now, start, expected);
                        if own {
                            if let Some(ack) = &ack {
                                ack.add_permits(1);
                            }
                        }
                    }
                    next = stream.next().now_or_never().flatten();
                }
                if matches!(next, Some(Err(_))) {
                    return;
                }
            }
        });
    }
    for (s, mut sink) in sinks.into_iter().enumerate() {
        let window = windows[s].clone();
        let pace = match plan.pace {
            Pace::Window(_) => None,
            Pace::Rate(r) => Some(Duration::from_secs_f64(1.0 / r.max(0.001))),
        };
        tokio::task::spawn_local(async move {
            for seq in 0..lines {
                match pace {
                    None => match window.acquire().await {
                        Ok(permit) => permit.forget(),
                        Err(_) => return,
                    },
                    // Senders are spread evenly over the interval, not all at its start.
                    Some(every) => {
                        let offset = every.mul_f64(s as f64 / senders as f64);
                        tokio::time::sleep_until((start + offset + every * seq).into()).await
                    }
                }
                let sent_ns = start.elapsed().as_nanos() as u64;
                let text = line::encode(
                    Stamp {
                        sender: s as u32,
                        seq,
                        sent_ns,
                    },
                    size,
                );
                if sink.send(Message::text(text)).await.is_err() {
                    return;
                }
            }
        });
    }
    // Wait for every delivery, or until nothing has arrived for 5 s after sending ended.
    let send_time = match plan.pace {
        Pace::Rate(r) => Duration::from_secs_f64(lines as f64 / r.max(0.001)),
        Pace::Window(_) => Duration::ZERO,
    };
    let mut last_count = 0;
    loop {
        let waited = tokio::time::timeout(Duration::from_secs(1), done.notified()).await;
        let t = tally.borrow();
        if waited.is_ok() || t.delivered >= expected {
            break;
        }
        eprintln!("chat-bench: delivered {}/{expected}", t.delivered);
        let stalled =
            t.delivered == last_count && t.last_delivery.elapsed() > Duration::from_secs(5);
        if stalled && start.elapsed() > send_time {
            break;
        }
        last_count = t.delivered;
    }
    let t = tally.borrow();
    let elapsed = (t.last_delivery - start).as_secs_f64().max(1e-9);
    let mut completion = report::histogram();
    for &(count, slowest) in &t.per_seq {
        if count as u64 == senders as u64 * n as u64 {
            let _ = completion.record(slowest);
        }
    }
    let mut result = json!({
        "mode": match plan.pace { Pace::Window(w) => format!("broadcast window {w}"), Pace::Rate(r) => format!("rate {r}/s per sender") },
        "connections": n,
        "senders": senders,
        "lines_per_sender": lines,
        "line_bytes": size,
        "connect": connect,
        "expected": expected,
        "delivered": t.delivered,
        "lost": expected.saturating_sub(t.delivered),
        "reordered": t.reordered,
        "seconds": elapsed,
        "deliveries_per_s": t.delivered as f64 / elapsed,
        "latency": report::percentiles(&t.latency),
    });
    if senders == 1 {
        result["broadcast_complete"] = report::percentiles(&completion);
    }
    let (server, tool) = cpu.since(&target.pid, t.delivered);
    result["server"] = server;
    result["tool"] = tool;
    Ok(result)
}

/// Adds the fields of `more` (an object) to `result` (an object).
pub(crate) fn merge(result: &mut serde_json::Value, more: serde_json::Value) {
    if let (Some(r), serde_json::Value::Object(m)) = (result.as_object_mut(), more) {
        r.extend(m);
    }
}
