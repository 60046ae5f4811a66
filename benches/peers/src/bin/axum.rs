//! A chat server in the style of axum's `examples/chat`: one `tokio::sync::broadcast`
//! channel (capacity 100, as in the example) shared by all connections, a send task and a
//! receive task per connection joined with `select!`. As in the example, a client that lags
//! behind the channel is dropped.
//!
//! Differences from the example, for the same wire behaviour as the tutorial: names are
//! `user0, user1, …` instead of a first "username" message, the greeting is the tutorial's,
//! and lines are `[name]: text`.

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::broadcast;

struct AppState {
    tx: broadcast::Sender<Utf8Bytes>,
    next: AtomicUsize,
    online: AtomicUsize,
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(8080);
    let (tx, _rx) = broadcast::channel(100);
    let state = Arc::new(AppState { tx, next: AtomicUsize::new(0), online: AtomicUsize::new(0) });
    let app = Router::new().route("/chat", get(websocket_handler)).with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}

async fn websocket_handler(ws: WebSocketUpgrade, State(state): State<Arc<AppState>>) -> impl IntoResponse {
    ws.on_upgrade(|socket| websocket(socket, state))
}

async fn websocket(stream: WebSocket, state: Arc<AppState>) {
    let (mut sender, mut receiver) = stream.split();
    let name = format!("user{}", state.next.fetch_add(1, Ordering::Relaxed));
    let users = state.online.fetch_add(1, Ordering::Relaxed) + 1;
    let mut rx = state.tx.subscribe();
    let greeting = format!("You are connected! There are {users} users here.");
    if sender.send(Message::text(greeting)).await.is_err() {
        state.online.fetch_sub(1, Ordering::Relaxed);
        return;
    }

    let mut send_task = tokio::spawn(async move {
        while let Ok(msg) = rx.recv().await {
            if sender.send(Message::Text(msg)).await.is_err() {
                break;
            }
        }
    });

    let tx = state.tx.clone();
    let mut recv_task = tokio::spawn(async move {
        while let Some(Ok(Message::Text(text))) = receiver.next().await {
            let _ = tx.send(Utf8Bytes::from(format!("[{name}]: {text}")));
        }
    });

    tokio::select! {
        _ = &mut send_task => recv_task.abort(),
        _ = &mut recv_task => send_task.abort(),
    };
    state.online.fetch_sub(1, Ordering::Relaxed);
}
