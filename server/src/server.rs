//! The server: accept loop, the timer task, shutdown, and the binaries' shared `main`.

use crate::hub::Hub;
use crate::runtime::Runtime;
use crate::settings::{Args, Command, Settings};
use crate::{connection, route};
use chat_core::Chat;
use clap::Parser;
use futures_lite::future;
use std::future::Future;
use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long shutdown waits for connections to take their close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) hub: Arc<Hub>,
    allowed_origins: Vec<String>,
    /// Connection tasks still running (shutdown waits for them).
    live: AtomicUsize,
    /// WebSocket connections still running (`chat_sockets` in `/metrics`).
    pub(crate) websockets: AtomicUsize,
}

impl Server {
    /// A handshake's `Origin` passes when no list is set, when it is listed, or when it is
    /// absent (only browsers send it, and the list exists to stop other sites' pages).
    pub(crate) fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match origin {
            _ if self.allowed_origins.is_empty() => true,
            None => true,
            Some(origin) => self
                .allowed_origins
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(origin.trim())),
        }
    }
}

/// Counts a running connection task for as long as it lives.
struct Live(Arc<Server>);

impl Live {
    fn new(server: &Arc<Server>) -> Self {
        server.live.fetch_add(1, Ordering::Relaxed);
        Live(server.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs a chat server until `shutdown` completes, then closes every connection with 1001
/// and returns once they have gone (or after a grace period).
pub async fn serve<R: Runtime>(
    rt: R,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let listener = rt.listener(crate::runtime::listen(settings.listen)?)?;
    tracing::info!("listening on {}", rt.local_addr(&listener)?);
    let (hub, timer_changed) = Hub::new(Chat::new(settings.chat), settings.outbound_queue_bytes);
    let server = Arc::new(Server {
        hub: hub.clone(),
        allowed_origins: settings.allowed_origins,
        live: AtomicUsize::new(0),
        websockets: AtomicUsize::new(0),
    });
    rt.spawn(timer(rt.clone(), hub.clone(), timer_changed));

    let accept = async {
        loop {
            match rt.accept(&listener).await {
                Ok((stream, _peer)) => {
                    let live = Live::new(&server);
                    let (rt2, server) = (rt.clone(), server.clone());
                    rt.spawn(async move {
                        // The handshake's state is boxed, and freed once it is done: the task
                        // keeps only what the connection needs for its whole life.
                        let upgraded =
                            Box::pin(route::serve(rt2.clone(), server.clone(), stream)).await;
                        if let Some(upgraded) = upgraded {
                            connection::run(rt2, server, upgraded).await;
                        }
                        drop(live);
                    });
                }
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    rt.sleep_until(Instant::now() + Duration::from_millis(50))
                        .await;
                }
            }
        }
    };
    future::or(accept, shutdown).await;

    tracing::info!("shutting down: closing {} connections", hub.connections());
    drop(listener);
    hub.shutdown();
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while server.live.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        rt.sleep_until(Instant::now() + Duration::from_millis(20))
            .await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Sleeps until the core's next deadline (or until an earlier one appears) and delivers it.
async fn timer<R: Runtime>(rt: R, hub: Arc<Hub>, changed: async_channel::Receiver<()>) {
    let mut next: Option<Instant> = None;
    loop {
        let moved = async {
            // The hub holds the sender for as long as this task holds the hub.
            let _ = changed.recv().await;
        };
        match next {
            Some(at) => future::or(rt.sleep_until(at), moved).await,
            None => moved.await,
        }
        next = hub.timeout();
    }
}

/// Completes on the first SIGINT or SIGTERM.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    let (tx, rx) = async_channel::bounded::<()>(1);
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    }) {
        tracing::warn!("cannot handle SIGINT/SIGTERM: {e}");
    }
    async move {
        let _ = rx.recv().await;
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
}

/// The whole program of a server binary, on the given runtime: flags, logs, serve until a
/// signal. Exits 0 after a clean shutdown, 1 on a server error, 2 on bad flags. With the
/// `connect` subcommand it is the terminal client instead.
pub fn main<R: Runtime>(rt: R) -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Connect(connect)) = &args.command {
        return chat_client::run(connect);
    }
    init_logging();
    let settings = match args.settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let signal = shutdown_signal();
    match rt.block_on(serve(rt.clone(), settings, signal)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
