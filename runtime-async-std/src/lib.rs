//! The chat server on async-std: the [`Runtime`](chat_server::Runtime) seam, and nothing
//! else.
//!
//! async-std is discontinued upstream in favour of smol; this adapter stays for those who
//! run it. async-std runs on async-io, smol's reactor, so its sockets and timers are the
//! ones chat-smol's [`async_io`](chat_smol::async_io) half provides; what is async-std's
//! own here is the executor.

use chat_smol::async_io::{Executor, OnAsyncIo};
use std::future::Future;
use std::process::ExitCode;

/// async-std: its global executor, with async-io's sockets and timers.
pub type AsyncStd = OnAsyncIo<GlobalExecutor>;

/// async-std's global executor.
#[derive(Clone, Copy, Debug, Default)]
pub struct GlobalExecutor;

impl Executor for GlobalExecutor {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_std::task::block_on(future)
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        // Dropping the handle detaches the task.
        drop(async_std::task::spawn(future));
    }
}

/// The `chat-async-std` program.
pub fn main() -> ExitCode {
    chat_cli::main(AsyncStd::default())
}
