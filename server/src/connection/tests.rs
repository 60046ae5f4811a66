//! The driver polled by hand over an in-memory socket: what it reads and writes, and when.

use super::*;
use crate::hub::Hub;
use async_tungstenite::tungstenite::protocol::Role;
use chat_core::{Chat, Config, Join, Now};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Only the clock is used: the driver is polled by hand.
#[derive(Clone)]
struct Clock(Instant);

impl Runtime for Clock {
    type Stream = Wire;
    type Listener = ();
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        future::block_on(future)
    }
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, _: F) {
        unreachable!("the driver spawns nothing")
    }
    fn now(&self) -> Now {
        Now::new(self.0, 0)
    }
    async fn sleep_until(&self, _: Instant) {
        future::pending().await
    }
    fn listener(&self, _: std::net::TcpListener) -> io::Result<()> {
        unreachable!("no listener")
    }
    fn local_addr(&self, _: &()) -> io::Result<SocketAddr> {
        unreachable!("no listener")
    }
    async fn accept(&self, _: &()) -> io::Result<(Wire, SocketAddr)> {
        unreachable!("no listener")
    }
}

/// A client socket that always takes what is written. With an outbox, its every write
/// makes the outbox fuller (as a busy room would): a driver without a write budget never
/// stops writing; after a few writes the client's own frame arrives.
struct Wire {
    state: Arc<Mutex<SocketState>>,
    flooding: Option<Arc<Outbox>>,
}

#[derive(Default)]
struct SocketState {
    incoming: Vec<u8>,
    reader: Option<Waker>,
    writes: usize,
}

/// A masked text frame `hello` (mask 0: the payload is as is).
const HELLO: [u8; 11] = [0x81, 0x85, 0, 0, 0, 0, b'h', b'e', b'l', b'l', b'o'];

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut s = self.state.lock().unwrap();
        if s.incoming.is_empty() {
            s.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(s.incoming.len());
        buf[..n].copy_from_slice(&s.incoming[..n]);
        s.incoming.drain(..n);
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let reader = {
            let mut s = self.state.lock().unwrap();
            s.writes += 1;
            assert!(
                s.writes < 10_000,
                "the driver never stopped writing to read"
            );
            if s.writes == 3 && self.flooding.is_some() {
                s.incoming.extend_from_slice(&HELLO);
                s.reader.take()
            } else {
                None
            }
        };
        if let Some(reader) = reader {
            reader.wake();
        }
        if let Some(outbox) = &self.flooding {
            let _ = outbox.push(Payload::from("[other]: more".to_string()));
        }
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A hub with one joined connection, and the server around it.
struct One {
    hub: Arc<Hub>,
    server: Server,
    rt: Clock,
    joined: Joined,
    websocket: WebSocketConfig,
    keep: Keep,
}

/// The timer's and the stop signal's channels, kept open while the test runs.
type Keep = (async_channel::Receiver<()>, async_channel::Sender<()>);

impl One {
    fn joined() -> One {
        let config = Config::default();
        let websocket = websocket_config(config.max_frame_bytes);
        let rt = Clock(Instant::now());
        let (hub, timer) = Hub::new(Chat::new(config), usize::MAX, rt.0);
        let (stop, stopping) = async_channel::bounded(1);
        let server = Server::new(hub.clone(), Vec::new(), websocket, true, stopping);
        let joined = hub.join(Join::default(), rt.now()).unwrap();
        One {
            hub,
            server,
            rt,
            joined,
            websocket,
            keep: (timer, stop),
        }
    }

    /// The connection's driver, over `wire`.
    fn driver(self, wire: Wire) -> (Driver<Clock, Wire>, Keep) {
        let ws = future::block_on(WebSocketStream::from_raw_socket(
            Socket::new(wire),
            Role::Server,
            Some(self.websocket),
        ));
        let upgraded = Upgraded {
            joined: self.joined,
            ws,
        };
        let driver = Driver::new(self.rt, Arc::new(self.server), upgraded);
        (driver, self.keep)
    }
}

#[test]
fn a_connection_flooded_with_output_still_gets_its_reads_served() {
    let one = One::joined();
    let state = Arc::new(Mutex::new(SocketState::default()));
    let wire = Wire {
        state: state.clone(),
        flooding: Some(one.joined.outbox.clone()),
    };
    let hub = one.hub.clone();
    let (mut driver, _keep) = one.driver(wire);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..10 {
        assert!(driver.poll(&mut cx).is_pending(), "the connection goes on");
        if hub.snapshot().stats.frames_in == 1 {
            let writes = state.lock().unwrap().writes;
            assert!(writes < 100, "read after {writes} writes");
            return;
        }
    }
    panic!("the client's frame was never read");
}

#[test]
fn no_frame_is_read_before_the_greeting_has_gone_out() {
    let one = One::joined();
    // As if the join waited for a broker: nothing for the driver to send yet.
    let outbox = one.joined.outbox.clone();
    let mut greeting = std::collections::VecDeque::new();
    outbox.take_into(&mut greeting, usize::MAX, Waker::noop());
    assert!(!greeting.is_empty());
    // The client's frame came with its handshake.
    let state = Arc::new(Mutex::new(SocketState {
        incoming: HELLO.to_vec(),
        ..SocketState::default()
    }));
    let wire = Wire {
        state: state.clone(),
        flooding: None,
    };
    let hub = one.hub.clone();
    let (mut driver, _keep) = one.driver(wire);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..3 {
        assert!(driver.poll(&mut cx).is_pending());
    }
    assert_eq!(
        hub.snapshot().stats.frames_in,
        0,
        "read before the greeting"
    );
    // The greeting comes (the join is ordered): it goes out, then the frame is read.
    let _ = outbox.push(greeting.pop_front().expect("the greeting"));
    for _ in 0..3 {
        assert!(driver.poll(&mut cx).is_pending());
    }
    assert_eq!(hub.snapshot().stats.frames_in, 1);
    // Two writes: the greeting, then the line the frame said (the sender reads its room).
    assert_eq!(state.lock().unwrap().writes, 2);
}
