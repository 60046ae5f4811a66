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

/// A tokio runtime: one worker per core, or the current-thread scheduler on one core.
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
    /// A runtime with one worker per core; on one core, tokio's current-thread scheduler.
    ///
    /// Why, measured in the broadcast benchmark (BENCHMARKS.md): on one core the
    /// multi-thread scheduler made 2.5–3× the `sendto` calls per delivery of the
    /// current-thread one (its writers ran with fewer lines each) and cost 1.3–1.6× the CPU
    /// per delivery. Our reading: its bounded local queue (256 tasks, the rest overflowing
    /// to a shared one) polls the readers a line just woke again before those still waiting.
    pub fn new() -> io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut builder = if cores == 1 {
            tokio::runtime::Builder::new_current_thread()
        } else {
            tokio::runtime::Builder::new_multi_thread()
        };
        let rt = builder.enable_all().build()?;
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use tokio::runtime::RuntimeFlavor;

    fn flavor() -> RuntimeFlavor {
        Tokio::new()
            .expect("a runtime")
            .rt()
            .handle()
            .runtime_flavor()
    }

    #[test]
    fn one_core_gets_the_current_thread_scheduler_and_more_the_multi_thread_one() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores > 1 {
            assert_eq!(flavor(), RuntimeFlavor::MultiThread);
        }
        // A thread confined to one core (as `taskset -c 0` confines a process).
        let confined = std::thread::spawn(|| {
            // SAFETY: a zeroed cpu_set_t is a valid empty set; the calls get its size.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                assert_eq!(libc::sched_getaffinity(0, size_of_val(&set), &mut set), 0);
                let first = (0..libc::CPU_SETSIZE as usize)
                    .find(|&cpu| libc::CPU_ISSET(cpu, &set))
                    .expect("some cpu is allowed");
                libc::CPU_ZERO(&mut set);
                libc::CPU_SET(first, &mut set);
                assert_eq!(libc::sched_setaffinity(0, size_of_val(&set), &set), 0);
            }
            flavor()
        });
        assert_eq!(confined.join().unwrap(), RuntimeFlavor::CurrentThread);
    }
}
