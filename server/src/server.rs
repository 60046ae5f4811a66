//! The server: the accept loop, and the shutdown that waits for every connection to end.

use crate::handshakes::Handshakes;
use crate::hub::Hub;
use crate::runtime::Runtime;
use crate::settings::Settings;
use crate::{connection, http, route, timer};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use chat_core::Chat;
use chat_store::{Answer, Store};
use futures_lite::future;
use futures_lite::io::{AsyncRead, AsyncWrite};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

/// How long shutdown waits for connections to take their close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);
/// How long the accept loop pauses after a failed accept (typically: out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Store requests queued at most: a reconnect storm's fetches fit, and so do a few seconds
/// of lines at full speed.
const STORE_QUEUE: usize = 65_536;

/// Why a server could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store could not be opened (exit status 2: the operator must fix something).
    #[error(transparent)]
    Store(#[from] chat_store::OpenError),
    /// Listening or serving failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) hub: Arc<Hub>,
    allowed_origins: Vec<String>,
    /// tungstenite's settings, with the frame limit of the chat's `Config`.
    pub(crate) websocket: WebSocketConfig,
    /// WebSocket connections still running (`chat_sockets` in `/metrics`).
    pub(crate) websockets: AtomicUsize,
    /// Gives memory back after many of them have gone.
    pub(crate) trim: crate::trim::Trim,
    /// Whether the chat port answers `/metrics` (not when it has a listener of its own).
    pub(crate) metrics_on_chat_port: bool,
    /// Closed when the server starts to stop: connections still in the HTTP phase end then.
    stopping: async_channel::Receiver<()>,
    /// Connections in the HTTP phase: in all, and per address.
    pub(crate) handshakes: Arc<Handshakes>,
    /// Peers whose forwarding headers name the client.
    pub(crate) trusted_proxies: Vec<crate::proxy::Cidr>,
    /// Signed names, if on.
    pub(crate) auth: Option<crate::auth::Auth>,
    /// TLS, if on: every connection's first step.
    pub(crate) tls: Option<crate::tls::Tls>,
}

impl Server {
    pub(crate) fn new(
        hub: Arc<Hub>,
        allowed_origins: Vec<String>,
        websocket: WebSocketConfig,
        metrics_on_chat_port: bool,
        stopping: async_channel::Receiver<()>,
    ) -> Self {
        Server {
            hub,
            allowed_origins,
            websocket,
            websockets: AtomicUsize::new(0),
            trim: Default::default(),
            metrics_on_chat_port,
            stopping,
            handshakes: Arc::new(Handshakes::new(usize::MAX, 0)),
            trusted_proxies: Vec::new(),
            auth: None,
            tls: None,
        }
    }

    /// Resolves when the server starts to stop.
    async fn stopping(&self) {
        let _ = self.stopping.recv().await;
    }

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

/// Runs a chat server on `settings.listen` until `shutdown` completes, then closes every
/// connection with 1001 and returns once they have gone (or after a grace period) and the
/// store has written everything.
pub async fn serve<R: Runtime>(
    rt: R,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    // The store first: a server that cannot keep its history does not start listening.
    let opened = open_store(&settings)?;
    let socket = crate::runtime::listen(settings.listen)?;
    run(rt, socket, opened, settings, shutdown).await
}

/// [`serve`] on a socket bound already (by [`listen`](crate::runtime::listen)); the
/// caller knows its address before the server starts, as tests need.
pub async fn serve_on<R: Runtime>(
    rt: R,
    socket: std::net::TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let opened = open_store(&settings)?;
    run(rt, socket, opened, settings, shutdown).await
}

/// The store, unless the server is a node of a cluster (whose history is in Redis).
fn open_store(settings: &Settings) -> Result<Option<chat_store::Opened>, Error> {
    match settings.cluster {
        Some(_) => Ok(None),
        None => Ok(Some(chat_store::open(&settings.db, settings.retain)?)),
    }
}

async fn run<R: Runtime>(
    rt: R,
    socket: std::net::TcpListener,
    opened: Option<chat_store::Opened>,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    raise_descriptor_limit(&settings);
    let (hub, timer_changed, store) = match (opened, &settings.cluster) {
        (Some(opened), _) => {
            let chat = Chat::with_store(settings.chat.clone(), opened.restored());
            tracing::info!(
                "history in {} ({} lines kept, next id {})",
                settings.db,
                opened.lines(),
                opened.restored().next_id
            );
            let (hub, timer_changed) = Hub::new(chat, settings.outbound_queue_bytes, rt.now().at);
            let answers_to = Arc::downgrade(&hub);
            let store = Store::start(opened, STORE_QUEUE, move |answer| {
                let Some(hub) = answers_to.upgrade() else {
                    return;
                };
                match answer {
                    Answer::Fetched(id, fetched) => hub.fetched(id, fetched),
                    Answer::Reserved(next) => hub.reserved(next),
                }
            })?;
            hub.attach_store(store.queue());
            (hub, timer_changed, Some(store))
        }
        (None, Some(cluster)) => {
            let id = crate::cluster::node_id();
            let chat = Chat::in_cluster(settings.chat.clone(), &id);
            let (hub, timer_changed) = Hub::new(chat, settings.outbound_queue_bytes, rt.now().at);
            crate::cluster::start(&rt, &hub, cluster, &id, settings.retain as u64);
            tracing::info!(
                "node {id} of the cluster on {} (prefix {:?}); history in Redis",
                cluster.url,
                cluster.prefix
            );
            (hub, timer_changed, None)
        }
        (None, None) => unreachable!("open_store opens a store without a cluster"),
    };

    let listener = rt.listener(socket)?;
    let metrics_listener = match settings.metrics_listen {
        Some(addr) => Some(rt.listener(crate::runtime::listen(addr)?)?),
        None => None,
    };
    tracing::info!("listening on {}", rt.local_addr(&listener)?);
    if let Some(metrics) = &metrics_listener {
        tracing::info!("metrics on http://{}/metrics", rt.local_addr(metrics)?);
    }
    let websocket = connection::websocket_config(settings.chat.max_frame_bytes);
    let (stop_http, stopping) = async_channel::bounded::<()>(1);
    let server = Arc::new(Server {
        handshakes: Arc::new(Handshakes::new(
            settings.max_handshakes,
            settings.chat.max_connections_per_ip,
        )),
        trusted_proxies: settings.trusted_proxies,
        auth: settings.auth,
        tls: settings.tls,
        ..Server::new(
            hub.clone(),
            settings.allowed_origins,
            websocket,
            metrics_listener.is_none(),
            stopping,
        )
    });
    rt.spawn(timer::run(rt.clone(), hub.clone(), timer_changed));
    if let Some(metrics) = metrics_listener {
        rt.spawn(serve_metrics(rt.clone(), server.clone(), metrics));
    }

    // Every connection task holds a sender; when the last one is dropped, `all_ended`
    // closes. That is how shutdown knows that every connection has finished.
    let (running, all_ended) = async_channel::bounded::<()>(1);
    let mut limit = DescriptorLimit::new();
    let accept = async {
        loop {
            match rt.accept(&listener).await {
                Ok((stream, peer)) => spawn_connection(&rt, &server, &running, stream, peer),
                Err(e) if is_out_of_descriptors(&e) => limit.refuse_one(&rt, &listener).await,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    rt.sleep_until(rt.now().at + ACCEPT_BACKOFF).await;
                }
            }
        }
    };
    future::or(accept, shutdown).await;

    let snapshot = hub.snapshot();
    tracing::info!(
        "shutting down: closing {} connections",
        snapshot.connections
    );
    drop((listener, running, stop_http));
    hub.shutdown();
    let deadline = rt.now().at + SHUTDOWN_GRACE;
    future::or(
        async {
            let _ = all_ended.recv().await;
        },
        rt.sleep_until(deadline),
    )
    .await;
    // Every line said before the shutdown is in the store's queue; write it all.
    hub.detach_store();
    if let Some(store) = store {
        store.closed().await;
    }
    hub.detach_cluster().await;
    tracing::info!("stopped");
    Ok(())
}

/// What the accept loop does at the descriptor limit: a descriptor kept in reserve is let go
/// for the one connection waiting, which is answered 503 and closed, and taken back. So new
/// clients hear "busy" rather than nothing, and the log says so at most once a second.
struct DescriptorLimit {
    reserve: Option<std::fs::File>,
    logged_at: Option<std::time::Instant>,
    refused: u64,
}

impl DescriptorLimit {
    fn new() -> Self {
        DescriptorLimit {
            reserve: std::fs::File::open("/dev/null").ok(),
            logged_at: None,
            refused: 0,
        }
    }

    async fn refuse_one<R: Runtime>(&mut self, rt: &R, listener: &R::Listener) {
        self.reserve = None;
        if let Ok((mut stream, _)) = rt.accept(listener).await {
            let _ = http::respond_status(&mut stream, 503, "Retry-After: 5\r\n").await;
            self.refused += 1;
        }
        self.reserve = std::fs::File::open("/dev/null").ok();
        let now = rt.now().at;
        if self
            .logged_at
            .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1))
        {
            tracing::warn!(
                "out of file descriptors: answered {} new connections with 503",
                self.refused
            );
            self.logged_at = Some(now);
            self.refused = 0;
        }
        if self.reserve.is_none() {
            // Nothing to give next time: do not spin.
            rt.sleep_until(now + ACCEPT_BACKOFF).await;
        }
    }
}

/// EMFILE or ENFILE: this process, or the system, has no descriptor left.
fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// Raises the soft descriptor limit to the hard one, and warns when it is below what the
/// settings need (every connection and handshake is a descriptor, plus a few of our own).
fn raise_descriptor_limit(settings: &Settings) {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let needed = (settings.chat.max_connections + settings.max_handshakes + 64) as u64;
    if limit > 0 && limit < needed {
        tracing::warn!(
            "the descriptor limit is {limit}, below the {needed} that --max-connections and \
             --max-handshakes need: beyond it new connections get 503"
        );
    }
}

/// The `--metrics-listen` listener: `/metrics` (and `/healthz`) only, until the server stops.
async fn serve_metrics<R: Runtime>(rt: R, server: Arc<Server>, listener: R::Listener) {
    let accept = async {
        loop {
            match rt.accept(&listener).await {
                Ok((stream, _)) => {
                    let (rt2, server) = (rt.clone(), server.clone());
                    rt.spawn(async move {
                        let answer = route::serve_metrics(rt2, server.clone(), stream);
                        future::or(answer, server.stopping()).await;
                    });
                }
                Err(e) => {
                    tracing::warn!("accept failed on the metrics listener: {e}");
                    rt.sleep_until(rt.now().at + ACCEPT_BACKOFF).await;
                }
            }
        }
    };
    future::or(accept, server.stopping()).await;
}

/// One task per accepted connection: its HTTP request, then the chat if it upgrades.
fn spawn_connection<R: Runtime>(
    rt: &R,
    server: &Arc<Server>,
    running: &async_channel::Sender<()>,
    stream: R::Stream,
    peer: SocketAddr,
) {
    // Past the handshake caps, the connection is closed at once: sockets that never finish
    // their request cannot hold every descriptor, nor one address every place.
    let trusted = crate::proxy::is_trusted(peer.ip(), &server.trusted_proxies);
    let place = match server.handshakes.enter(peer.ip(), trusted) {
        Ok(place) => place,
        Err(full) => {
            tracing::trace!(%peer, ?full, "closed: too many connections in the HTTP phase");
            return;
        }
    };
    let (rt2, server, running) = (rt.clone(), server.clone(), running.clone());
    rt.spawn(async move {
        tracing::trace!(%peer, "accepted");
        // The request head (and over TLS, the TLS handshake before it) within one limit.
        let deadline = rt2.now().at + route::HANDSHAKE_TIMEOUT;
        if let Some(tls) = server.tls.clone() {
            // Boxed: a TLS connection's state is larger, and the task of a plain one must
            // not be sized for it (idle memory per connection).
            Box::pin(handle_tls(rt2, server, stream, peer, deadline, place, tls)).await;
        } else {
            // Inline rather than through `handle`: a call would keep both the task's
            // captures and the callee's copies in the task (+216 bytes per connection).
            let handshake = Box::pin(route::serve(
                rt2.clone(),
                server.clone(),
                stream,
                peer.ip(),
                deadline,
                place,
            ));
            let stopped = async {
                server.stopping().await;
                None
            };
            let upgraded = future::or(handshake, stopped).await;
            if let Some(upgraded) = upgraded {
                connection::run(rt2, server, upgraded).await;
            }
        }
        drop(running);
    });
}

/// A connection to a TLS port: its TLS handshake (within the request's deadline), then
/// the rest as for any connection; a plain-text client, a slow one or a stop closes it.
async fn handle_tls<R: Runtime>(
    rt: R,
    server: Arc<Server>,
    stream: R::Stream,
    peer: SocketAddr,
    deadline: std::time::Instant,
    place: crate::handshakes::Place,
    tls: crate::tls::Tls,
) {
    let accept = async { tls.acceptor.accept(stream).await.ok() };
    let late = async {
        rt.sleep_until(deadline).await;
        None
    };
    let stopped = async {
        server.stopping().await;
        None
    };
    match future::or(future::or(accept, late), stopped).await {
        Some(stream) => handle(rt, server, stream, peer, deadline, place).await,
        None => tracing::trace!(%peer, "closed: no TLS handshake"),
    }
}

/// One connection after its TLS handshake, if any: its request, then its life in the chat.
async fn handle<R: Runtime, S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    rt: R,
    server: Arc<Server>,
    stream: S,
    peer: SocketAddr,
    deadline: std::time::Instant,
    place: crate::handshakes::Place,
) {
    let handshake = Box::pin(route::serve(
        rt.clone(),
        server.clone(),
        stream,
        peer.ip(),
        deadline,
        place,
    ));
    let stopped = async {
        server.stopping().await;
        None
    };
    let upgraded = future::or(handshake, stopped).await;
    if let Some(upgraded) = upgraded {
        connection::run(rt, server, upgraded).await;
    }
}
