//! The program behind `chat-tokio`, `chat-async-std` and `chat-smol`: parse the flags, then
//! serve until a signal, run the terminal client with `connect`, or mint a token with
//! `token`.
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
    /// Print a token for signed names (`--auth-secret`), alone on one line.
    Token(TokenArgs),
}

/// `token --name NAME [--ttl 1h] [--admin] [--rooms a,b]`.
#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// The name the token gives (`sub`).
    #[arg(long)]
    name: String,
    /// How long it is valid: 30s, 15m, 1h, 7d.
    #[arg(long, default_value = "1h")]
    ttl: String,
    /// May /kick.
    #[arg(long)]
    admin: bool,
    /// Private rooms granted, comma-separated; `*` for all.
    #[arg(long, value_delimiter = ',')]
    rooms: Vec<String>,
    /// The secret to sign with (else the server's --auth-secret or CHAT_AUTH_SECRET).
    #[arg(long = "auth-secret", env = "CHAT_AUTH_SECRET", hide_env_values = true)]
    secret: Option<chat_server::auth::SecretText>,
}

/// Mints a token; exit status 2 with one line saying why when it cannot.
fn token(args: &TokenArgs, server: &chat_server::Args) -> ExitCode {
    use chat_server::auth::{parse_ttl, Mint, Secret};
    let minted = (|| {
        let secret = (args.secret.as_ref())
            .or(server.auth_secret.as_ref())
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .ok_or("token needs --auth-secret or CHAT_AUTH_SECRET")?;
        let ttl = parse_ttl(&args.ttl)?;
        let secret = Secret::new(secret);
        let token = secret.sign(&Mint {
            name: &args.name,
            ttl,
            admin: args.admin,
            rooms: &args.rooms,
        })?;
        // What a server would refuse is refused here, with the same reason.
        secret.verify(&token).map_err(|e| format!("--name: {e}"))?;
        Ok::<_, String>(token)
    })();
    match minted {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The whole program of a server binary, on the given runtime.
pub fn main<R: Runtime>(rt: R) -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Connect(connect)) => return chat_client::run(connect),
        Some(Command::Token(args)) => return token(args, &cli.server),
        None => {}
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
