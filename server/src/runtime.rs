//! The seam between the server and an async runtime: spawning, the clock, timers, TCP.
//!
//! Everything else is written once against the futures-io traits; each runtime crate
//! implements this trait in a few lines. The server reads the time only through
//! [`Runtime::now`], so a runtime with a virtual clock runs every timeout of the server
//! (handshake, heartbeat, close grace, shutdown) at the speed of a test.

use chat_core::Now;
use futures_lite::io::{AsyncRead, AsyncWrite};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What the server needs from an async runtime.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// An accepted TCP connection, as a futures-io stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A bound TCP listener.
    type Listener: Send + Sync + 'static;

    /// Runs a future to completion on this runtime (the binary's entry point).
    fn block_on<F: Future>(&self, future: F) -> F::Output;
    /// Runs a task in the background.
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F);
    /// Both clocks: the monotonic one for deadlines and the wall clock for timestamps.
    /// [`sleep_until`](Self::sleep_until) must complete once `now().at` has reached its
    /// deadline. The default reads the system's clocks.
    fn now(&self) -> Now {
        system_now()
    }
    /// Completes at `deadline`, on the clock of [`now`](Self::now).
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send;
    /// Turns a bound, listening, non-blocking socket (from [`listen`]) into this runtime's
    /// listener.
    fn listener(&self, socket: std::net::TcpListener) -> io::Result<Self::Listener>;
    /// The address a listener is bound to.
    fn local_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr>;
    /// Accepts one connection, with `TCP_NODELAY` set: the server batches its own writes.
    fn accept(
        &self,
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
}

/// How many connections may wait in the kernel to be accepted (capped by `somaxconn`).
const BACKLOG: i32 = 4096;

/// Binds a listening socket for any runtime: non-blocking, `SO_REUSEADDR`, and a backlog
/// large enough for bursts of thousands of connects.
pub fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// The system's clocks, read once.
pub fn system_now() -> Now {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Now::new(Instant::now(), unix_ms)
}
