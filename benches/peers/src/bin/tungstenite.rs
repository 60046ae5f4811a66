//! A chat server in the style of tokio-tungstenite's `examples/server.rs`: a `PeerMap` of
//! unbounded senders behind a mutex; each incoming message is sent to every peer's channel,
//! and each connection forwards its channel into its socket.
//!
//! Differences from the example, for the same wire behaviour as the tutorial: the sender
//! gets its own line too, names are `user0, user1, …`, there is the tutorial's greeting, and
//! lines are `[name]: text` (formatted once, then cloned per peer as the example clones the
//! message).

use futures_channel::mpsc::{unbounded, UnboundedSender};
use futures_util::{future, pin_mut, stream::TryStreamExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

type Tx = UnboundedSender<Message>;
type PeerMap = Arc<Mutex<HashMap<SocketAddr, Tx>>>;

static NEXT: AtomicUsize = AtomicUsize::new(0);

async fn handle_connection(peer_map: PeerMap, raw_stream: TcpStream, addr: SocketAddr) {
    let Ok(ws_stream) = tokio_tungstenite::accept_async(raw_stream).await else {
        return;
    };
    let name = format!("user{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let (tx, rx) = unbounded();
    let users = {
        let mut peers = peer_map.lock().unwrap();
        peers.insert(addr, tx.clone());
        peers.len()
    };
    let _ = tx.unbounded_send(Message::text(format!("You are connected! There are {users} users here.")));

    let (outgoing, incoming) = ws_stream.split();
    let broadcast_incoming = incoming.try_for_each(|msg| {
        if let Message::Text(text) = msg {
            let line = Message::text(format!("[{name}]: {text}"));
            let peers = peer_map.lock().unwrap();
            for recp in peers.values() {
                let _ = recp.unbounded_send(line.clone());
            }
        }
        future::ok(())
    });
    let receive_from_others = rx.map(Ok).forward(outgoing);

    pin_mut!(broadcast_incoming, receive_from_others);
    future::select(broadcast_incoming, receive_from_others).await;
    peer_map.lock().unwrap().remove(&addr);
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(8080);
    let state = PeerMap::new(Mutex::new(HashMap::new()));
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("Failed to bind");
    while let Ok((stream, addr)) = listener.accept().await {
        tokio::spawn(handle_connection(state.clone(), stream, addr));
    }
}
