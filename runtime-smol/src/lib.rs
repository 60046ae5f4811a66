//! The chat server on smol: the [`Runtime`] seam, and nothing else.
//!
//! smol's streams are futures-io streams, so they go straight into the shared server code.
//! One executor is run by one thread per core.

use chat_server::Runtime;
use smol::net::{TcpListener, TcpStream};
use smol::Executor;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// A smol executor shared by one thread per core.
#[derive(Clone, Debug)]
pub struct Smol(Arc<Executor<'static>>);

impl Smol {
    /// An executor with no threads yet; [`Runtime::block_on`] starts them.
    pub fn new() -> Self {
        Smol(Arc::new(Executor::new()))
    }
}

impl Default for Smol {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime for Smol {
    type Stream = TcpStream;
    type Listener = TcpListener;

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (stop, stopped) = smol::channel::unbounded::<()>();
        // The calling thread runs the executor too, so start one thread fewer.
        let helpers: Vec<_> = (1..threads)
            .map(|_| {
                let (ex, stopped) = (self.0.clone(), stopped.clone());
                std::thread::spawn(move || smol::block_on(ex.run(stopped.recv())))
            })
            .collect();
        let output = smol::block_on(self.0.run(future));
        drop(stop);
        for helper in helpers {
            let _ = helper.join();
        }
        output
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        self.0.spawn(future).detach();
    }

    async fn sleep_until(&self, deadline: Instant) {
        smol::Timer::at(deadline).await;
    }

    fn listener(&self, socket: std::net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::try_from(socket)
    }

    fn local_addr(&self, listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(&self, listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }
}

/// The `chat-smol` program.
pub fn main() -> ExitCode {
    chat_cli::main(Smol::new())
}
