//! The behaviour suite lives in `tests/`. This crate's `serve` binary starts the server of
//! the runtime named by `SERVE_RUNTIME`, through the very `main` each server binary runs;
//! [`virtual_time`] runs a server in the test's own process on a clock the test moves.

pub mod virtual_time;
