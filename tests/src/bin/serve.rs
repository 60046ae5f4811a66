//! Runs `chat_tokio::main`, `chat_async_std::main` or `chat_smol::main`, chosen by the
//! `SERVE_RUNTIME` environment variable, with the flags given. The test suite starts it so
//! that every runtime is tested through its real entry point (flags, signals, exit code).

use std::process::ExitCode;

fn main() -> ExitCode {
    match std::env::var("SERVE_RUNTIME").as_deref() {
        Ok("tokio") => chat_tokio::main(),
        Ok("async-std") => chat_async_std::main(),
        Ok("smol") => chat_smol::main(),
        other => {
            eprintln!("SERVE_RUNTIME must be tokio, async-std or smol, not {other:?}");
            ExitCode::from(2)
        }
    }
}
