//! A virtual clock for the server: any runtime, with time that moves only when a test says.
//!
//! [`Virtual`] wraps a real runtime (its executor, sockets and accept loop stay real) and
//! replaces [`Runtime::now`] and [`Runtime::sleep_until`] with a [`VirtualClock`]. Every
//! timeout of the server (handshake, heartbeat, close grace) then fires exactly when the
//! test advances the clock past it, however slow or fast the machine is.

use chat_core::Now;
use chat_server::Runtime;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The wall clock's reading at the virtual origin (any fixed value does).
const ORIGIN_UNIX_MS: u64 = 1_700_000_000_000;

/// A clock that stands still until [`advance`](Self::advance)d. Clones share one clock.
#[derive(Clone, Debug)]
pub struct VirtualClock(Arc<Clock>);

#[derive(Debug)]
struct Clock {
    origin: Instant,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    elapsed: Duration,
    /// Sleeps not yet due, with their deadlines; all are woken on every advance.
    sleepers: Vec<(Instant, Waker)>,
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtualClock {
    /// A clock at its origin.
    pub fn new() -> Self {
        VirtualClock(Arc::new(Clock {
            origin: Instant::now(),
            state: Mutex::new(State::default()),
        }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The virtual time.
    pub fn now(&self) -> Now {
        let elapsed = self.state().elapsed;
        Now::new(
            self.0.origin + elapsed,
            ORIGIN_UNIX_MS + elapsed.as_millis() as u64,
        )
    }

    /// Moves time forward and wakes every sleep (those not yet due sleep again).
    pub fn advance(&self, by: Duration) {
        let sleepers = {
            let mut state = self.state();
            state.elapsed += by;
            std::mem::take(&mut state.sleepers)
        };
        for (_, waker) in sleepers {
            waker.wake();
        }
    }

    /// Waits (in real time, bounded) until something in the server sleeps until exactly
    /// `deadline`: the server has armed the timeout a test is about to run out. Panics
    /// after five seconds.
    pub fn wait_for_sleeper(&self, deadline: Instant) {
        let patience = Instant::now() + Duration::from_secs(5);
        while !self.state().sleepers.iter().any(|(at, _)| *at == deadline) {
            assert!(
                Instant::now() < patience,
                "nothing sleeps until {:?} after the origin",
                deadline - self.0.origin
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Completes once the clock has reached `deadline`.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            clock: self.clone(),
            deadline,
        }
    }
}

/// The future of [`VirtualClock::sleep_until`].
#[derive(Debug)]
pub struct Sleep {
    clock: VirtualClock,
    deadline: Instant,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.clock.state();
        if self.clock.0.origin + state.elapsed >= self.deadline {
            return Poll::Ready(());
        }
        let known = state
            .sleepers
            .iter()
            .any(|(at, w)| *at == self.deadline && w.will_wake(cx.waker()));
        if !known {
            state.sleepers.push((self.deadline, cx.waker().clone()));
        }
        Poll::Pending
    }
}

/// A real runtime on a [`VirtualClock`].
#[derive(Clone, Debug)]
pub struct Virtual<R> {
    inner: R,
    clock: VirtualClock,
}

impl<R> Virtual<R> {
    /// `inner` with `clock` for its time.
    pub fn new(inner: R, clock: VirtualClock) -> Self {
        Virtual { inner, clock }
    }
}

impl<R: Runtime> Runtime for Virtual<R> {
    type Stream = R::Stream;
    type Listener = R::Listener;

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.inner.block_on(future)
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        self.inner.spawn(future);
    }

    fn now(&self) -> Now {
        self.clock.now()
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        self.clock.sleep_until(deadline)
    }

    fn listener(&self, socket: std::net::TcpListener) -> io::Result<Self::Listener> {
        self.inner.listener(socket)
    }

    fn local_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr> {
        self.inner.local_addr(listener)
    }

    fn accept(
        &self,
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
        self.inner.accept(listener)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_sleep_completes_when_the_clock_passes_its_deadline_and_not_before() {
        let clock = VirtualClock::new();
        let start = clock.now();
        let mut sleep = Box::pin(clock.sleep_until(start.at + Duration::from_secs(10)));
        let flag = Arc::new(Flag(Default::default()));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        clock.wait_for_sleeper(start.at + Duration::from_secs(10));
        clock.advance(Duration::from_millis(9_999));
        assert!(
            flag.0.load(std::sync::atomic::Ordering::SeqCst),
            "woken to look"
        );
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        clock.advance(Duration::from_millis(1));
        assert!(sleep.as_mut().poll(&mut cx).is_ready());
        assert_eq!(clock.now().unix_ms, start.unix_ms + 10_000);
    }
}
