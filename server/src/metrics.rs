//! `/metrics` in the Prometheus text format.

use crate::cluster::ClusterStats;
use crate::hub::Snapshot;
use chat_store::{StoreStats, BATCH_BUCKETS};
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Renders the hub's counters; names follow Prometheus conventions (`_total` for counters).
pub(crate) fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    };
    metric(
        "chat_connections",
        "gauge",
        "Connections joined to the chat.",
        s.connections as u64,
    );
    metric(
        "chat_rooms",
        "gauge",
        "Rooms with at least one member.",
        s.rooms as u64,
    );
    metric(
        "chat_sockets",
        "gauge",
        "WebSocket connections still open, including closed ones shutting down.",
        s.sockets as u64,
    );
    metric(
        "chat_handshakes",
        "gauge",
        "Connections in the HTTP phase (not yet upgraded or answered).",
        s.handshakes as u64,
    );
    metric(
        "chat_frames_in_total",
        "counter",
        "Text frames received from clients.",
        s.stats.frames_in,
    );
    metric(
        "chat_frames_out_total",
        "counter",
        "Text frames addressed to clients.",
        s.stats.frames_out,
    );
    metric(
        "chat_joins_total",
        "counter",
        "Connections that joined.",
        s.stats.joined,
    );
    metric(
        "chat_hub_inputs_total",
        "counter",
        "Inputs run against the chat (frames, joins, leaves, timeouts, answers).",
        s.inputs,
    );
    let _ = write!(
        out,
        "# HELP chat_hub_lock_seconds_total Time the chat's one lock was held: the part of \
         the work that does not run in parallel.\n\
         # TYPE chat_hub_lock_seconds_total counter\nchat_hub_lock_seconds_total {:.6}\n",
        s.locked_ns as f64 / 1e9
    );
    let _ = writeln!(
        out,
        "# HELP chat_dropped_connections_total Connections dropped by the server, by reason."
    );
    let _ = writeln!(out, "# TYPE chat_dropped_connections_total counter");
    for (reason, n) in s.stats.dropped() {
        let _ = writeln!(
            out,
            "chat_dropped_connections_total{{reason=\"{reason}\"}} {n}"
        );
    }
    if let Some(store) = &s.store {
        store_metrics(&mut out, store);
    }
    if let Some(cluster) = &s.cluster {
        cluster_metrics(&mut out, cluster);
    }
    out
}

/// The cluster link's series: the broker's state, events in and out, the stream's lag.
fn cluster_metrics(out: &mut String, c: &ClusterStats) {
    let _ = write!(
        out,
        "# HELP chat_cluster_connected Whether this node reaches the cluster's Redis (1) or not (0).\n\
         # TYPE chat_cluster_connected gauge\nchat_cluster_connected {}\n\
         # HELP chat_cluster_events_in_total Events of the ordered stream applied by this node.\n\
         # TYPE chat_cluster_events_in_total counter\nchat_cluster_events_in_total {}\n\
         # HELP chat_cluster_proposals_out_total Changes this node handed to the broker.\n\
         # TYPE chat_cluster_proposals_out_total counter\nchat_cluster_proposals_out_total {}\n\
         # HELP chat_cluster_lag_seconds From an event's creation in Redis to its application here, for the last one.\n\
         # TYPE chat_cluster_lag_seconds gauge\nchat_cluster_lag_seconds {}\n",
        u8::from(c.connected.load(Ordering::Relaxed)),
        c.events_in.load(Ordering::Relaxed),
        c.proposals_out.load(Ordering::Relaxed),
        c.lag_ms.load(Ordering::Relaxed) as f64 / 1000.0,
    );
}

/// The store's series: lines held, errors, and the write batch latency histogram.
fn store_metrics(out: &mut String, store: &StoreStats) {
    let _ = write!(
        out,
        "# HELP chat_store_lines Lines the history store holds.\n\
         # TYPE chat_store_lines gauge\nchat_store_lines {}\n\
         # HELP chat_store_errors_total Store writes that failed and requests refused by a full queue.\n\
         # TYPE chat_store_errors_total counter\nchat_store_errors_total {}\n\
         # HELP chat_store_batch_seconds Time to write one batch of lines (one transaction).\n\
         # TYPE chat_store_batch_seconds histogram\n",
        store.lines(),
        store.errors()
    );
    let (cumulative, sum) = store.batches();
    let bounds = BATCH_BUCKETS.iter().map(|b| b.to_string());
    for (le, n) in bounds.chain(["+Inf".to_string()]).zip(cumulative) {
        let _ = writeln!(out, "chat_store_batch_seconds_bucket{{le=\"{le}\"}} {n}");
    }
    let count = cumulative[BATCH_BUCKETS.len()];
    let _ = write!(
        out,
        "chat_store_batch_seconds_sum {sum}\nchat_store_batch_seconds_count {count}\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::Stats;

    #[test]
    fn every_series_is_there() {
        let s = Snapshot {
            connections: 3,
            rooms: 2,
            sockets: 4,
            handshakes: 5,
            stats: Stats {
                frames_in: 7,
                dropped_slow: 1,
                ..Stats::default()
            },
            store: Some(Default::default()),
            cluster: Some(Default::default()),
            inputs: 12,
            locked_ns: 1_500_000,
        };
        let text = render(&s);
        for line in [
            "chat_hub_inputs_total 12",
            "chat_hub_lock_seconds_total 0.001500",
            "chat_connections 3",
            "chat_rooms 2",
            "chat_sockets 4",
            "chat_handshakes 5",
            "chat_frames_in_total 7",
            "chat_frames_out_total 0",
            "chat_dropped_connections_total{reason=\"slow\"} 1",
            "chat_dropped_connections_total{reason=\"ping_timeout\"} 0",
            "chat_store_lines 0",
            "chat_store_errors_total 0",
            "chat_store_batch_seconds_bucket{le=\"0.001\"} 0",
            "chat_store_batch_seconds_bucket{le=\"+Inf\"} 0",
            "chat_store_batch_seconds_count 0",
            "chat_cluster_connected 0",
            "chat_cluster_events_in_total 0",
            "chat_cluster_proposals_out_total 0",
            "chat_cluster_lag_seconds 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
