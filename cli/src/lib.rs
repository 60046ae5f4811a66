//! The program behind `chat-tokio`, `chat-async-std` and `chat-smol`: parse the flags, then
//! serve until a signal, or run the terminal client with `connect`.
//!
//! Exit codes: 0 after a clean shutdown, 1 on a server error, 2 on bad flags or a store that
//! cannot be opened; `connect`
//! exits as the client does (see `chat-client`).

mod logging;

use chat_server::{Runtime, Settings};
use clap::Parser;
use std::process::ExitCode;

/// A WebSocket chat server (the Ktor tutorial's protocol, and more: see docs/PROTOCOL.md).
///
/// Every flag can also be set by the environment variable shown; `PORT` sets the port
/// as in the tutorial. `connect` runs the terminal client instead of the server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Run something other than the server.
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    server: chat_server::Args,
}

/// What else a server binary can do.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Chat from this terminal: `connect [URL] [--name NAME] [--room ROOM]`.
    Connect(chat_client::ConnectArgs),
}

/// The whole program of a server binary, on the given runtime.
pub fn main<R: Runtime>(rt: R) -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Connect(connect)) = &cli.command {
        return chat_client::run(connect);
    }
    logging::init();
    let settings: Settings = match cli.server.settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let signal = chat_server::shutdown_signal();
    match rt.block_on(chat_server::serve(rt.clone(), settings, signal)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ chat_server::Error::Store(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
