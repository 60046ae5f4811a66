//! The terminal client: the Ktor tutorial's client, without its flaws.
//!
//! It prints every line the server sends (cleaned of control characters, so nothing from the
//! network reaches the terminal as an escape sequence), sends every line typed, and `exit`
//! closes with code 1000. In a terminal, incoming lines appear above the line being typed and
//! typed lines have a history; with a pipe or file as input it is scriptable, and end of input
//! closes cleanly once the server's answers have arrived.
//!
//! Exit codes: 0 after a clean close (yours or the server's 1000), 1 when the connection is
//! refused, lost or closed by the server for another reason, 2 for a bad URL.
//!
//! # Modules
//!
//! - `session`: the connection loop: socket in, keyboard out;
//! - `input`: reading lines from a terminal (rustyline) or a pipe;
//! - `target`: the URL and its `name`/`room` parameters.

mod input;
mod session;
mod target;

use std::process::ExitCode;

/// `connect [URL] [--name NAME] [--room ROOM]`: chat from the terminal.
#[derive(Clone, Debug, clap::Args)]
pub struct ConnectArgs {
    /// The chat's WebSocket URL.
    #[arg(default_value = "ws://127.0.0.1:8080/chat")]
    pub url: String,
    /// Ask for this user name.
    #[arg(long)]
    pub name: Option<String>,
    /// Start in this room instead of #main.
    #[arg(long)]
    pub room: Option<String>,
}

/// Runs the client until the session ends; returns the process's exit code.
pub fn run(args: &ConnectArgs) -> ExitCode {
    let url = match target::url(args) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match session::run(&url) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
