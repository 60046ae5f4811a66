//! The chat server on smol: the [`Runtime`](chat_server::Runtime) seam, and nothing else.
//!
//! smol's streams are futures-io streams, so they go straight into the shared server code.
//! One executor is run by one thread per core. The async-io half of the seam
//! ([`async_io`]) serves chat-async-std too.

pub mod async_io;

use async_io::{Executor, OnAsyncIo};
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

/// smol: its executor on one thread per core, with async-io's sockets and timers.
pub type Smol = OnAsyncIo<Threads>;

/// A smol executor shared by one thread per core.
#[derive(Clone, Debug, Default)]
pub struct Threads(Arc<smol::Executor<'static>>);

impl Executor for Threads {
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
}

/// The `chat-smol` program.
pub fn main() -> ExitCode {
    chat_cli::main(Smol::default())
}
