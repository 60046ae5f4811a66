//! One accepted TCP connection: read its request, answer a route or upgrade it to the chat.

use crate::connection::Socket;
use crate::handshakes::Place;
use crate::http::{self, ReadError, Request};
use crate::hub::Joined;
use crate::runtime::Runtime;
use crate::server::Server;
use crate::{metrics, page};
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::Role;
use async_tungstenite::WebSocketStream;
use chat_core::{Join, JoinError, LeaveReason, Rendering, Signed};
use futures_lite::future;
use futures_lite::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a client has to send its whole request head.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection that completed the WebSocket handshake and joined the chat.
pub(crate) struct Upgraded<S> {
    pub joined: Joined,
    pub ws: WebSocketStream<Socket<S>>,
}

/// Reads one connection's request and answers it; an upgrade to the chat is handed back to
/// be run (see `connection::run`), everything else is answered and closed here.
///
/// `deadline`: when the client must have sent its request head (over TLS, the TLS
/// handshake's time counts too). `place`: the connection's place in the HTTP phase, given
/// up when it ends: just before a `101`, so that a client that reconnects on reading it
/// finds its place free (or with the answer, for any other route).
pub(crate) async fn serve<R: Runtime, S: AsyncRead + AsyncWrite + Unpin>(
    rt: R,
    server: Arc<Server>,
    mut stream: S,
    peer: IpAddr,
    deadline: Instant,
    place: Place,
) -> Option<Upgraded<S>> {
    let mut buf = Vec::new();
    let (request, head_len) = read_request(&rt, &mut stream, &mut buf, deadline).await?;
    tracing::trace!(method = %request.method, path = %request.path, "request");
    let get = request.method == "GET";
    // HEAD on a page answers its headers without the body.
    let head = request.method == "HEAD";
    let result = match request.path.as_str() {
        "/chat" if !get => http::respond_status(&mut stream, 405, "Allow: GET\r\n").await,
        "/chat" if !is_upgrade(&request) => {
            http::respond_status(&mut stream, 426, "Upgrade: websocket\r\n").await
        }
        "/chat" => {
            let leftover = buf.split_off(head_len);
            drop(buf);
            return upgrade(&rt, server, stream, request, leftover, peer, place).await;
        }
        "/metrics" if !server.metrics_on_chat_port => {
            http::respond_status(&mut stream, 404, "").await
        }
        "/" | "/healthz" | "/metrics" if !get && !head => {
            http::respond_status(&mut stream, 405, "Allow: GET, HEAD\r\n").await
        }
        "/" => {
            let html = "text/html; charset=utf-8";
            let body = page::HTML.as_bytes();
            http::respond_to(&mut stream, get, 200, html, page::HEADERS, body).await
        }
        "/healthz" => health(&mut stream, &server, get).await,
        "/metrics" if server.metrics_on_chat_port => metrics(&mut stream, &server, get).await,
        _ => http::respond_status(&mut stream, 404, "").await,
    };
    if let Err(e) = result {
        tracing::debug!("writing a response failed: {e}");
    }
    None
}

/// Reads a request head within the handshake time limit, answering what is not a request
/// (400, 431) itself. `buf` keeps the bytes read, the head and any after it.
async fn read_request<R: Runtime, S: AsyncRead + AsyncWrite + Unpin>(
    rt: &R,
    stream: &mut S,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Option<(Request, usize)> {
    let read = async { Some(http::read_head(stream, buf).await) };
    let timeout = async {
        rt.sleep_until(deadline).await;
        None
    };
    match future::or(read, timeout).await {
        Some(Ok(head)) => Some(head),
        None => {
            tracing::debug!("closing a connection that sent no request in time");
            None
        }
        Some(Err(ReadError::Io(e))) => {
            tracing::debug!("reading a request failed: {e}");
            None
        }
        Some(Err(ReadError::Malformed)) => {
            let _ = http::respond_status(stream, 400, "").await;
            None
        }
        Some(Err(ReadError::TooLarge)) => {
            let _ = http::respond_status(stream, 431, "").await;
            None
        }
    }
}

/// A connection to the `--metrics-listen` listener: `/metrics` and `/healthz`, nothing else.
pub(crate) async fn serve_metrics<R: Runtime>(rt: R, server: Arc<Server>, mut stream: R::Stream) {
    let mut buf = Vec::new();
    let deadline = rt.now().at + HANDSHAKE_TIMEOUT;
    let Some((request, _)) = read_request(&rt, &mut stream, &mut buf, deadline).await else {
        return;
    };
    let with_body = request.method == "GET";
    let result = match request.path.as_str() {
        _ if !with_body && request.method != "HEAD" => {
            http::respond_status(&mut stream, 405, "Allow: GET, HEAD\r\n").await
        }
        "/metrics" => metrics(&mut stream, &server, with_body).await,
        "/healthz" => health(&mut stream, &server, with_body).await,
        _ => http::respond_status(&mut stream, 404, "").await,
    };
    if let Err(e) = result {
        tracing::debug!("writing a response failed: {e}");
    }
}

/// The `/healthz` answer: `ok`, or 503 `degraded` while a cluster's Redis cannot be
/// reached.
async fn health<S: AsyncWrite + Unpin>(
    stream: &mut S,
    server: &Server,
    with_body: bool,
) -> std::io::Result<()> {
    let text = "text/plain; charset=utf-8";
    let (status, body): (u16, &[u8]) = match server.hub.degraded() {
        false => (200, b"ok"),
        true => (503, b"degraded"),
    };
    http::respond_to(stream, with_body, status, text, "", body).await
}

/// The `/metrics` answer.
async fn metrics<S: AsyncWrite + Unpin>(
    stream: &mut S,
    server: &Server,
    with_body: bool,
) -> std::io::Result<()> {
    let mut snapshot = server.hub.snapshot();
    snapshot.sockets = server.websockets.load(Ordering::Relaxed);
    snapshot.handshakes = server.handshakes.count();
    let body = metrics::render(&snapshot);
    let kind = "text/plain; version=0.0.4; charset=utf-8";
    http::respond_to(stream, with_body, 200, kind, "", body.as_bytes()).await
}

/// With `--auth-secret`: the verified token of `?token=` or `Authorization: Bearer`, if
/// any; the error is the 401's body (`invalid token: REASON`, `token required`), which never
/// holds the token. Without it tokens mean nothing.
fn signed_in(
    server: &Server,
    request: &Request,
    query_token: Option<&str>,
) -> Result<Option<Signed>, String> {
    let Some(auth) = &server.auth else {
        return Ok(None);
    };
    let header = request.header("Authorization");
    let bearer = header.as_deref().and_then(|h| {
        let (scheme, token) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    match query_token.or(bearer) {
        Some(token) => auth
            .secret
            .verify(token)
            .map(Some)
            .map_err(|reason| format!("invalid token: {reason}")),
        None if auth.required => Err("token required".to_string()),
        None => Ok(None),
    }
}

fn is_upgrade(request: &Request) -> bool {
    request.has_token("Upgrade", "websocket") && request.has_token("Connection", "upgrade")
}

/// Completes the WebSocket handshake on `/chat`, joining the chat.
async fn upgrade<R: Runtime, S: AsyncRead + AsyncWrite + Unpin>(
    rt: &R,
    server: Arc<Server>,
    mut stream: S,
    request: Request,
    leftover: Vec<u8>,
    peer: IpAddr,
    place: Place,
) -> Option<Upgraded<S>> {
    if request
        .header("Sec-WebSocket-Version")
        .as_deref()
        .map(str::trim)
        != Some("13")
    {
        let _ = http::respond_status(&mut stream, 426, "Sec-WebSocket-Version: 13\r\n").await;
        return None;
    }
    // RFC 6455, section 4.2.1: HTTP/1.1 or later, a Host, and a key of 16 bytes.
    let key = request
        .header("Sec-WebSocket-Key")
        .filter(|k| http::is_websocket_key(k.trim()));
    let Some(key) = key.filter(|_| request.version >= 1 && request.header("Host").is_some()) else {
        let _ = http::respond_status(&mut stream, 400, "").await;
        return None;
    };
    if !server.origin_allowed(request.header("Origin").as_deref()) {
        let _ = http::respond_status(&mut stream, 403, "").await;
        return None;
    }
    let query: Vec<(String, String)> = form_urlencoded::parse(request.query.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let json = request.has_token("Sec-WebSocket-Protocol", Rendering::JSON_SUBPROTOCOL);
    let signed = match signed_in(&server, &request, param("token")) {
        Ok(signed) => signed,
        Err(refusal) => {
            tracing::debug!(%peer, "upgrade refused: {refusal}");
            let text = "text/plain; charset=utf-8";
            let _ = http::respond_to(&mut stream, true, 401, text, "", refusal.as_bytes()).await;
            return None;
        }
    };
    let join = Join {
        name: param("name"),
        room: param("room"),
        since: param("since"),
        signed: signed.as_ref(),
        addr: Some(crate::proxy::client_addr(
            peer,
            &request,
            &server.trusted_proxies,
        )),
        rendering: Some(if json {
            Rendering::Json
        } else {
            Rendering::Text
        }),
    };
    let joined = match server.hub.join(join, rt.now()) {
        Ok(joined) => joined,
        Err(refused) => {
            let (status, retry_after) = match refused {
                JoinError::TooManyFromAddress(_) => (429, 5),
                // Whole seconds, rounded up: a client that waits that long gets in.
                JoinError::TooFast(wait) => (429, wait.as_secs_f64().ceil().max(1.0) as u64),
                // Full, or shutting down.
                _ => (503, 5),
            };
            tracing::debug!(%peer, "upgrade refused: {refused}");
            let header = format!("Retry-After: {retry_after}\r\n");
            let _ = http::respond_status(&mut stream, status, &header).await;
            return None;
        }
    };
    let protocol = if json {
        format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            Rendering::JSON_SUBPROTOCOL
        )
    } else {
        String::new()
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{protocol}\r\n",
        derive_accept_key(key.trim().as_bytes())
    );
    // Nothing of the request is needed any more; free it before the connection's long life.
    // The HTTP phase ends here: the place is free before the client can read the 101.
    drop((request, query, key, place));
    if stream.write_all(response.as_bytes()).await.is_err() || stream.flush().await.is_err() {
        server.hub.leave(joined.id, LeaveReason::Error);
        return None;
    }
    tracing::trace!(id = %joined.id, "joined");
    let ws = WebSocketStream::from_partially_read(
        Socket::new(stream),
        leftover,
        Role::Server,
        Some(server.websocket),
    )
    .await;
    Some(Upgraded { joined, ws })
}
