//! The driver of one WebSocket connection: one task that reads frames into the hub and writes
//! what the hub queued for it, in bursts with one flush each.

use crate::hub::Joined;
use crate::outbox::{End, Ending, Outbox};
use crate::route::Upgraded;
use crate::runtime::Runtime;
use crate::server::Server;
use async_tungstenite::tungstenite::error::Error as WsError;
use async_tungstenite::tungstenite::error::ProtocolError;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{Bytes, Message};
use async_tungstenite::WebSocketStream;
use chat_core::{Client, ConnId, LeaveReason, Now, Payload, Said, Violation};
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{future, Stream};
use futures_util::Sink;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::Duration;

/// tungstenite allocates its read buffer up front for every connection; chat frames are
/// small, so 512 bytes keep idle connections cheap (a larger frame grows it as needed).
const READ_BUFFER: usize = 512;
/// The most the driver takes from its outbox per burst: one flush, one write to the socket
/// for up to this many bytes. Smaller bursts cost throughput (8 KiB: 11 % in the broadcast
/// scenario); the buffer they fill is freed after each burst ([`Socket`]).
const BURST_BYTES: usize = 16 * 1024;
/// Frames read per wake-up before the driver yields to other tasks.
const READ_BUDGET: usize = 64;
/// Bursts written per wake-up before the driver yields. An outbox that other connections
/// keep filling could otherwise keep one poll writing for ever, and the connection's own
/// reads (checked at the top of each poll) would starve; tokio's cooperative budget would
/// step in, async-io's executors have none. (quinn caps a poll at 20 transmits likewise.)
const WRITE_BUDGET: usize = 4;
/// Once the chat has closed a connection, how long its driver may still take to deliver the
/// queued lines and the close frame and to hear the client's answer. The core has already
/// forgotten the connection (it no longer counts towards `--max-connections`), so a client
/// that stops reading must not be able to keep the socket beyond this.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// tungstenite settings for every chat connection. tungstenite is the one place that checks
/// a frame's size (against the chat's `Config::max_frame_bytes`) and a text frame's UTF-8;
/// what it refuses goes to the core as a `Violation`.
pub(crate) fn websocket_config(max_frame_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        // Each frame goes straight to the `Socket`, which collects the burst.
        .write_buffer_size(0)
        .max_write_buffer_size(BURST_BYTES + max_frame_bytes)
        .max_message_size(Some(max_frame_bytes))
        .max_frame_size(Some(max_frame_bytes))
}

/// How a connection ended.
enum Outcome {
    /// The chat has closed the connection, or the client has and the answer is not yet
    /// written: what is left to send gets [`CLOSE_GRACE`].
    Closing,
    /// The server sent its close frame (the hub already forgot the connection).
    Closed,
    /// The client closed, vanished or failed; the hub must be told.
    Gone(LeaveReason),
    /// The hub has already been told (a close from the client).
    Forgotten,
}

/// Runs a joined connection until it ends.
///
/// Not an `async fn`: one keeps its arguments for its whole life beside the locals they are
/// moved into (rust-lang/rust#62958), which would hold the upgraded connection twice, 400
/// bytes per connection. The driver is made here, and only it moves into the future.
pub(crate) fn run<R: Runtime, S>(
    rt: R,
    server: Arc<Server>,
    upgraded: Upgraded<S>,
) -> impl Future<Output = ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut driver = Driver::new(rt, server, upgraded);
    async move {
        let open = driver.server.websockets.fetch_add(1, Ordering::Relaxed) + 1;
        driver.server.trim.opened(open);
        let outcome = future::poll_fn(|cx| driver.poll(cx)).await;
        if let Outcome::Closing | Outcome::Closed = outcome {
            // Deliver the rest and the close frame, then give the client a moment to answer
            // it; all within the grace period. (The timer is boxed: it exists only while
            // closing, and would otherwise add its size to every connection for its whole
            // life.)
            let rt = driver.rt.clone();
            let grace = Box::pin(rt.sleep_until(rt.now().at + CLOSE_GRACE));
            let finish = async {
                if let Outcome::Closing = outcome {
                    if let Outcome::Closed = future::poll_fn(|cx| driver.poll(cx)).await {
                        future::poll_fn(|cx| driver.poll_read_to_end(cx)).await;
                    }
                } else {
                    future::poll_fn(|cx| driver.poll_read_to_end(cx)).await;
                }
            };
            future::or(finish, grace).await;
        } else if let Outcome::Gone(reason) = outcome {
            driver.server.hub.leave(driver.id, reason);
        }
        let open = driver.server.websockets.fetch_sub(1, Ordering::Relaxed) - 1;
        driver.server.trim.closed(open);
        tracing::trace!(id = %driver.id, "connection ended");
    }
}

/// Tells the driver whether the socket woke it for reading.
///
/// Most wake-ups are for outbound lines. Trying to read on each of them would cost a `recv`
/// that fails with `EAGAIN` on async-io runtimes (tokio checks readiness first), doubling the
/// syscalls of a busy server. So the read side gets its own waker, which raises this flag
/// before waking the task.
struct ReadSignal {
    ready: AtomicBool,
    /// The outbox holds the driver's task registration; this wakes through it.
    outbox: Arc<Outbox>,
}

impl Wake for ReadSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.store(true, Ordering::Release);
        self.outbox.wake_task();
    }
}

struct Driver<R, S> {
    rt: R,
    id: ConnId,
    read_signal: Arc<ReadSignal>,
    read_waker: Waker,
    server: Arc<Server>,
    outbox: Arc<Outbox>,
    /// The connection's own side of the chat: its frames' limits and rate, decided here.
    client: Client,
    ws: WebSocketStream<Socket<S>>,
    reading: bool,
    /// Its first line, the greeting, is framed: only then are its frames read, so that
    /// nothing answers a frame before the greeting (in a cluster, a join waits for the
    /// broker, and the connection runs meanwhile).
    greeted: bool,
    /// The client sent a close frame: flush tungstenite's answer and stop.
    client_closed: bool,
    ping: bool,
    unflushed: bool,
    end: Option<End>,
    close_sent: bool,
    /// The chat has closed the connection; the driver is in its grace period.
    closing: bool,
}

impl<R: Runtime, S: AsyncRead + AsyncWrite + Unpin> Driver<R, S> {
    fn new(rt: R, server: Arc<Server>, upgraded: Upgraded<S>) -> Self {
        let Upgraded { joined, ws } = upgraded;
        let Joined { id, outbox, client } = joined;
        // The first poll must read: the client may have sent frames with its handshake.
        let read_signal = Arc::new(ReadSignal {
            ready: AtomicBool::new(true),
            outbox: outbox.clone(),
        });
        Driver {
            rt,
            id,
            read_waker: Waker::from(read_signal.clone()),
            read_signal,
            server,
            outbox,
            client,
            ws,
            reading: true,
            greeted: false,
            client_closed: false,
            ping: false,
            unflushed: false,
            end: None,
            close_sent: false,
            closing: false,
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        // First whether the chat has ended the connection: a driver blocked on a client that
        // does not read learns it here, not from its write path.
        if !self.closing {
            match self.outbox.ending(cx.waker()) {
                Ending::No => {}
                // Too slow: the hub may know already (its own line overflowed) or not (it
                // fell behind its room); telling it twice is harmless.
                Ending::Dropped => return Poll::Ready(Outcome::Gone(LeaveReason::Slow)),
                Ending::Closing => {
                    self.closing = true;
                    return Poll::Ready(Outcome::Closing);
                }
            }
        } else {
            self.outbox.ending(cx.waker());
        }
        let may_read = self.reading && self.greeted;
        if may_read && self.read_signal.ready.swap(false, Ordering::Acquire) {
            let waker = self.read_waker.clone();
            if let Poll::Ready(outcome) = self.poll_read(&mut Context::from_waker(&waker)) {
                return Poll::Ready(outcome);
            }
        }
        if self.client_closed {
            // tungstenite has queued the answering close frame: it hands the frame to the
            // `Socket` and considers its part done, so the socket is flushed after it. That
            // may wait for a client that does not read: once, under the grace period.
            let flushed = match Pin::new(&mut self.ws).poll_flush(cx) {
                Poll::Ready(_) => Pin::new(self.ws.get_mut()).poll_flush(cx).map(drop),
                Poll::Pending => Poll::Pending,
            };
            return match flushed {
                Poll::Ready(()) => Poll::Ready(Outcome::Forgotten),
                Poll::Pending if !self.closing => {
                    self.closing = true;
                    Poll::Ready(Outcome::Closing)
                }
                Poll::Pending => Poll::Pending,
            };
        }
        match self.poll_write(cx) {
            Poll::Ready(Err(outcome)) => Poll::Ready(outcome),
            Poll::Ready(Ok(never)) => match never {},
            Poll::Pending => Poll::Pending,
        }
    }

    /// Feeds incoming frames to the hub until the socket has no more (or the budget is spent).
    ///
    /// Every frame shows the client is alive, which the hub reads without its lock when a
    /// heartbeat deadline comes. A text frame goes through the connection's client first:
    /// only what it lets through takes the hub's lock.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        for _ in 0..READ_BUDGET {
            match Pin::new(&mut self.ws).poll_next(cx) {
                Poll::Ready(Some(Ok(message))) => {
                    let now = self.rt.now();
                    self.server.hub.heard(&self.outbox, now.at);
                    match message {
                        Message::Text(text) => self.text(text.as_str(), now),
                        Message::Close(_) => {
                            self.server.hub.leave(self.id, LeaveReason::Closed);
                            self.reading = false;
                            self.client_closed = true;
                            return Poll::Pending;
                        }
                        // Binary frames are ignored as in the tutorial; pings and pongs need
                        // nothing more than having been heard.
                        _ => {}
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    self.reading = false;
                    let violation = match e {
                        WsError::Capacity(_) => Violation::TooBig,
                        WsError::Utf8(_) => Violation::InvalidUtf8,
                        // A vanished client is not a protocol breach: it gets no close frame.
                        WsError::Protocol(p)
                            if !matches!(p, ProtocolError::ResetWithoutClosingHandshake) =>
                        {
                            Violation::Protocol
                        }
                        e => {
                            tracing::debug!(id = %self.id, "connection failed: {e}");
                            return Poll::Ready(Outcome::Gone(LeaveReason::Error));
                        }
                    };
                    // The core answers with a close, which the write side then sends.
                    self.server.hub.violation(self.id, violation);
                    return Poll::Pending;
                }
                Poll::Ready(None) => return Poll::Ready(Outcome::Gone(LeaveReason::Closed)),
                Poll::Pending => return Poll::Pending,
            }
        }
        // Budget spent: let other connections run, then come back for the rest (the read
        // waker raises the flag, so the next poll reads on).
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// A text frame: through the connection's client, and on to the hub if it passes.
    fn text(&mut self, frame: &str, now: Now) {
        match self.client.handle_text(frame, now.at) {
            Said::Lines(lines) => self.server.hub.text(self.id, lines, now),
            Said::Refused(line) => {
                self.outbox.heard.refused();
                // This task is running: the write side takes the line before it waits
                // again, so the waker handed back need not be woken. An overflow ends the
                // connection as slow, which it finds there too.
                drop(self.outbox.push(line));
            }
            Said::Nothing => self.outbox.heard.refused(),
        }
    }

    /// Sends what the hub queued: take a burst, framed straight into the socket's buffer,
    /// flush once. Runs until the connection ends, with the outcome as its "error"; yields
    /// after [`WRITE_BUDGET`] bursts so that the next poll reads first.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<Infallible, Outcome>> {
        for _ in 0..WRITE_BUDGET {
            // Only after a flush: then tungstenite holds nothing (its frames are whole in
            // the socket's buffer or on the wire), and the lines go after them.
            if !self.ping && !self.unflushed && self.end.is_none() {
                let socket = self.ws.get_mut();
                let mut framed = false;
                let mut frame = |line: &Payload| {
                    socket.push_text(line.as_bytes());
                    framed = true;
                };
                let batch = self.outbox.take(&mut frame, BURST_BYTES, cx.waker());
                self.unflushed = framed;
                if framed && !self.greeted {
                    // Frames that came meanwhile are read at the next poll.
                    self.greeted = true;
                    cx.waker().wake_by_ref();
                }
                self.ping = batch.ping;
                self.end = batch.end;
                if !framed && !self.ping && self.end.is_none() {
                    return Poll::Pending; // the outbox will wake us
                }
            }
            if self.end == Some(End::Slow) {
                return Poll::Ready(Err(Outcome::Gone(LeaveReason::Slow)));
            }
            if self.ping {
                ready!(self.poll_sink_ready(cx))?;
                self.start_send(Message::Ping(Bytes::new()))?;
                self.ping = false;
            }
            if let (Some(End::Close(reason)), false) = (self.end.clone(), self.close_sent) {
                ready!(self.poll_sink_ready(cx))?;
                let frame = CloseFrame {
                    code: CloseCode::from(reason.code()),
                    reason: reason.text().into_owned().into(),
                };
                self.start_send(Message::Close(Some(frame)))?;
                self.close_sent = true;
            }
            if self.unflushed {
                // tungstenite's flush writes what it holds, then flushes the socket (the
                // lines framed there).
                if ready!(Pin::new(&mut self.ws).poll_flush(cx)).is_err() {
                    return Poll::Ready(Err(self.failed()));
                }
                self.unflushed = false;
            }
            if self.close_sent {
                return Poll::Ready(Err(Outcome::Closed));
            }
        }
        // Budget spent with more to send: come back after other tasks have run.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Ready when tungstenite can take another message. Errors end the connection.
    fn poll_sink_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Outcome>> {
        match ready!(Pin::new(&mut self.ws).poll_ready(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(_) => Poll::Ready(Err(self.failed())),
        }
    }

    fn start_send(&mut self, message: Message) -> Result<(), Outcome> {
        Pin::new(&mut self.ws)
            .start_send(message)
            .map_err(|_| self.failed())?;
        self.unflushed = true;
        Ok(())
    }

    fn failed(&self) -> Outcome {
        if self.end.is_some() {
            Outcome::Forgotten
        } else {
            Outcome::Gone(LeaveReason::Error)
        }
    }

    /// Reads and discards frames until the client's close arrives or the stream ends.
    fn poll_read_to_end(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match ready!(Pin::new(&mut self.ws).poll_next(cx)) {
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Poll::Ready(()),
            }
        }
    }
}

mod socket;
#[cfg(test)]
mod tests;

pub(crate) use socket::Socket;
