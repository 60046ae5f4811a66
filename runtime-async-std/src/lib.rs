//! The chat server on async-std: the [`Runtime`] seam, and nothing else.
//!
//! async-std is discontinued upstream in favour of smol; this adapter stays for those who
//! run it. async-std's streams are futures-io streams already, so they go straight into the
//! shared server code.

use async_std::net::{TcpListener, TcpStream};
use chat_server::Runtime;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Instant;

/// async-std's global runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStd;

impl Runtime for AsyncStd {
    type Stream = TcpStream;
    type Listener = TcpListener;

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_std::task::block_on(future)
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        // Dropping the handle detaches the task.
        drop(async_std::task::spawn(future));
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        async_std::task::sleep(deadline.saturating_duration_since(Instant::now()))
    }

    fn listener(&self, socket: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener::from(socket))
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

/// The `chat-async-std` program.
pub fn main() -> ExitCode {
    chat_cli::main(AsyncStd)
}
