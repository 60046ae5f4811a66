//! Where the server's logs go: stderr, filtered by `RUST_LOG`.

use std::io::{self, IsTerminal};

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), in colour only on a terminal.
pub(crate) fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
}
