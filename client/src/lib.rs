//! The terminal client: the Ktor tutorial's client, without its flaws.
//!
//! It prints every line the server sends (cleaned of control characters, so nothing from the
//! network reaches the terminal as an escape sequence), sends every line typed, and `exit`
//! closes with code 1000. In a terminal, incoming lines appear above the line being typed and
//! typed lines have a history; with a pipe or file as input it is scriptable, and end of input
//! closes cleanly once the server's answers have arrived.
//!
//! It reads the JSON rendering, to learn each line's id, and shows each line exactly as
//! the text rendering has it. When the connection drops or the server goes away (1001,
//! 1012), it reconnects with backoff as the same name into the same room, asking for the
//! lines after the last one shown (`since`), and says so in one line; not after `exit` or a
//! close that means stop (1000, 1008).
//!
//! Exit codes: 0 after a clean close (yours or the server's 1000), 1 when the connection is
//! refused, closed by the server for another reason, or lost for longer than
//! `--reconnect-for`; 2 for a bad URL.
//!
//! # Modules
//!
//! - `session`: the connection loop: socket in, keyboard out;
//! - `input`: reading lines from a terminal (rustyline) or a pipe;
//! - `resume`: what a reconnect asks for (name, room, `since`), and its backoff;
//! - `target`: the URL and its `name`/`room` parameters.

mod input;
mod resume;
mod session;
mod stream;
mod target;

use std::process::ExitCode;
use std::time::Duration;

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
    /// When the connection drops or the server goes away, keep trying to come back for this
    /// many seconds; 0 ends the session instead.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    pub reconnect_for: f64,
    /// Sign in with this token (a server with --auth-secret; see its `token` subcommand).
    #[arg(long, env = "CHAT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// For wss:// URLs: trust only this certificate (PEM), e.g. a server's self-signed one.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<String>,
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
    if !args.reconnect_for.is_finite() || args.reconnect_for < 0.0 {
        eprintln!("error: --reconnect-for must be 0 or more seconds");
        return ExitCode::from(2);
    }
    let tls = match url.scheme() {
        "wss" => match stream::Dial::tls(args.ca.as_deref()) {
            Ok(tls) => Some(tls),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let dial = stream::Dial {
        token: args.token.clone(),
        tls,
    };
    match session::run(&url, &dial, Duration::from_secs_f64(args.reconnect_for)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
