//! The behaviour suite lives in `tests/`; this crate's `serve` binary starts the server of
//! the runtime named by `SERVE_RUNTIME`, through the very `main` each server binary runs.
