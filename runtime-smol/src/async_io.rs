//! The [`Runtime`] seam for any executor on async-io, smol's reactor: TCP and timers come
//! from async-io, spawning from the executor. smol and async-std both run on async-io, so
//! this is their one implementation of the seam; each brings only an [`Executor`].

use chat_server::Runtime;
use smol::Async;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Instant;

/// What an executor adds to async-io: running the server and spawning its tasks.
pub trait Executor: Clone + Send + Sync + 'static {
    /// Runs a future to completion (the binary's entry point).
    fn block_on<F: Future>(&self, future: F) -> F::Output;
    /// Runs a task in the background, detached.
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F);
}

/// An [`Executor`] with async-io's sockets and timers: a whole [`Runtime`].
///
/// A connection is an `Async<TcpStream>`, async-io's own type, not smol's (async-net's)
/// `TcpStream`: that one adds an `Arc` and keeps its readiness futures in every stream,
/// about 530 bytes per idle connection that this server has no use for.
#[derive(Clone, Debug, Default)]
pub struct OnAsyncIo<E>(pub E);

impl<E: Executor> Runtime for OnAsyncIo<E> {
    type Stream = Async<TcpStream>;
    type Listener = Async<TcpListener>;

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        self.0.spawn(future);
    }

    async fn sleep_until(&self, deadline: Instant) {
        smol::Timer::at(deadline).await;
    }

    fn listener(&self, socket: TcpListener) -> io::Result<Async<TcpListener>> {
        Async::try_from(socket)
    }

    fn local_addr(&self, listener: &Async<TcpListener>) -> io::Result<SocketAddr> {
        listener.get_ref().local_addr()
    }

    async fn accept(
        &self,
        listener: &Async<TcpListener>,
    ) -> io::Result<(Async<TcpStream>, SocketAddr)> {
        let (stream, peer) = listener.accept().await?;
        stream.get_ref().set_nodelay(true)?;
        Ok((stream, peer))
    }
}
