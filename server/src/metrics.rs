//! `/metrics` in the Prometheus text format.

use crate::hub::Snapshot;
use std::fmt::Write;

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
    out
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
            stats: Stats {
                frames_in: 7,
                dropped_slow: 1,
                ..Stats::default()
            },
        };
        let text = render(&s);
        for line in [
            "chat_connections 3",
            "chat_rooms 2",
            "chat_sockets 4",
            "chat_frames_in_total 7",
            "chat_frames_out_total 0",
            "chat_dropped_connections_total{reason=\"slow\"} 1",
            "chat_dropped_connections_total{reason=\"ping_timeout\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
