//! What the receivers of a run record, and the CPU figures beside it.

use crate::line::Stamp;
use crate::report;
use hdrhistogram::Histogram;
use serde_json::json;
use std::cell::RefCell;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Everything the receivers of one run record.
pub(crate) struct Tally {
    pub latency: Histogram<u64>,
    pub delivered: u64,
    pub reordered: u64,
    /// Per receiver, per sender: the last sequence number seen.
    pub last: Vec<Vec<i64>>,
    /// Per broadcast (fan-out mode): deliveries so far and the slowest one.
    pub per_seq: Vec<(u32, u64)>,
    pub last_delivery: Instant,
}

/// Records one delivery; returns whether it is the receiver's own line (an acknowledgement).
pub(crate) fn record(
    tally: &RefCell<Tally>,
    done: &Notify,
    receiver: usize,
    stamp: Stamp,
    now: Instant,
    start: Instant,
    expected: u64,
) -> bool {
    let mut t = tally.borrow_mut();
    let latency_us = (now - start)
        .as_micros()
        .saturating_sub(stamp.sent_ns as u128 / 1000);
    let _ = t.latency.record(latency_us as u64);
    t.delivered += 1;
    t.last_delivery = now;
    if let Some(last) = t
        .last
        .get_mut(receiver)
        .and_then(|l| l.get_mut(stamp.sender as usize))
    {
        if i64::from(stamp.seq) <= *last {
            t.reordered += 1;
        } else {
            *last = i64::from(stamp.seq);
        }
    }
    if let Some(slot) = t.per_seq.get_mut(stamp.seq as usize) {
        slot.0 += 1;
        slot.1 = slot.1.max(latency_us as u64);
    }
    if t.delivered == expected {
        done.notify_one();
    }
    stamp.sender as usize == receiver
}

/// CPU time of the server (with `--pid`) and of this tool, sampled when traffic starts so
/// that connecting is not counted.
pub(crate) struct CpuMark {
    server: Option<Duration>,
    tool: Option<Duration>,
}

impl CpuMark {
    pub(crate) fn now(pids: &[u32]) -> Self {
        CpuMark {
            server: report::servers_cpu_time(pids),
            tool: report::cpu_time(None),
        }
    }

    /// CPU seconds since the mark, and nanoseconds per delivery, for server and tool.
    pub(crate) fn since(
        &self,
        pids: &[u32],
        delivered: u64,
    ) -> (serde_json::Value, serde_json::Value) {
        let figure = |before: Option<Duration>, after: Option<Duration>| match (before, after) {
            (Some(b), Some(a)) => {
                let secs = a.saturating_sub(b).as_secs_f64();
                let per = if delivered > 0 {
                    secs * 1e9 / delivered as f64
                } else {
                    0.0
                };
                json!({"cpu_s": secs, "cpu_ns_per_delivery": per})
            }
            _ => json!(null),
        };
        let server = match pids {
            [] => json!(null),
            _ => figure(self.server, report::servers_cpu_time(pids)),
        };
        (server, figure(self.tool, report::cpu_time(None)))
    }
}
