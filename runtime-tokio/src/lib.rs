//! The chat server on tokio: the [`Runtime`] seam, and nothing else.

use async_tungstenite::tokio::TokioAdapter;
use chat_server::Runtime;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::{TcpListener, TcpStream};

/// A multi-threaded tokio runtime.
#[derive(Clone, Debug)]
pub struct Tokio(Arc<Owner>);

/// The runtime itself. The server's tasks hold clones of [`Tokio`], so the last one may
/// be dropped on one of the runtime's own workers, where a blocking shutdown panics; so it
/// shuts down in the background, whoever drops it.
#[derive(Debug)]
struct Owner(Option<tokio::runtime::Runtime>);

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Tokio {
    /// A runtime with one worker per core.
    pub fn new() -> io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        Ok(Tokio(Arc::new(Owner(Some(rt)))))
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.0 .0.as_ref().expect("taken only when dropped")
    }
}

impl Runtime for Tokio {
    type Stream = TokioAdapter<TcpStream>;
    type Listener = TcpListener;

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt().block_on(future)
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        self.rt().spawn(future);
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(deadline.into())
    }

    fn listener(&self, socket: std::net::TcpListener) -> io::Result<TcpListener> {
        // Registering with the reactor needs the runtime's context.
        let _context = self.rt().enter();
        TcpListener::from_std(socket)
    }

    fn local_addr(&self, listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(&self, listener: &TcpListener) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok((TokioAdapter::new(stream), peer))
    }
}

/// The `chat-tokio` program.
pub fn main() -> ExitCode {
    match Tokio::new() {
        Ok(rt) => chat_cli::main(rt),
        Err(e) => {
            eprintln!("error: cannot start tokio: {e}");
            ExitCode::FAILURE
        }
    }
}
