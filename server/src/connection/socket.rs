//! A connection's socket with a write buffer that is given back after each flush.
//!
//! tungstenite keeps its own write buffer at the size of the largest burst for the
//! connection's life (a `Vec` that is drained, never shrunk): after a few 4,000-byte lines
//! every connection holds 16 KiB it no longer needs. So tungstenite writes each frame
//! straight through (`write_buffer_size(0)`) and the frames of a burst collect here instead,
//! in a buffer that is freed once the burst is on the wire. An allocation per burst costs
//! far less than the system call that writes it.
//!
//! The chat's own lines do not go through tungstenite at all: [`Socket::push_text`] frames
//! each one here, copied once from its room's feed (see the driver).

use futures_lite::io::{AsyncRead, AsyncWrite};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Bytes collected before they are written to the socket without waiting for a flush.
const WRITE_BUFFER: usize = 16 * 1024;

pub(crate) struct Socket<S> {
    inner: S,
    buf: Vec<u8>,
    /// How much of `buf` the socket has taken.
    written: usize,
}

impl<S> Socket<S> {
    pub(crate) fn new(inner: S) -> Self {
        Socket {
            inner,
            buf: Vec::new(),
            written: 0,
        }
    }
}

impl<S> Socket<S> {
    /// Appends `text` as one unmasked, final text frame (RFC 6455, section 5.2): what a
    /// server sends. The caller makes sure tungstenite has no frame half written (it only
    /// ever writes small control frames here, whole: see `poll_write`).
    pub(crate) fn push_text(&mut self, text: &[u8]) {
        let n = text.len();
        self.buf.reserve(n + 10);
        self.buf.push(0x81);
        if n < 126 {
            self.buf.push(n as u8);
        } else if let Ok(short) = u16::try_from(n) {
            self.buf.push(126);
            self.buf.extend_from_slice(&short.to_be_bytes());
        } else {
            self.buf.push(127);
            self.buf.extend_from_slice(&(n as u64).to_be_bytes());
        }
        self.buf.extend_from_slice(text);
    }
}

impl<S: AsyncWrite + Unpin> Socket<S> {
    /// Writes what is buffered; Ready once all of it is with the socket.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            match ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.written += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        self.written = 0;
        // Freed, not cleared: an idle connection holds no buffer at all.
        self.buf = Vec::new();
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Socket<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Socket<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.buf.len() + data.len() > WRITE_BUFFER {
            ready!(self.poll_drain(cx))?;
        }
        if data.len() >= WRITE_BUFFER {
            // Too big to be worth a copy (only with a larger `--max-message-bytes`).
            return Pin::new(&mut self.inner).poll_write(cx, data);
        }
        self.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    /// A socket that takes at most `per_write` bytes a call and is blocked every other call.
    struct Slow {
        taken: Vec<u8>,
        writes: usize,
        per_write: usize,
    }

    impl AsyncWrite for Slow {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes += 1;
            if self.writes.is_multiple_of(2) {
                return Poll::Pending;
            }
            let n = data.len().min(self.per_write);
            self.taken.extend_from_slice(&data[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn slow(per_write: usize) -> Socket<Slow> {
        Socket::new(Slow {
            taken: Vec::new(),
            writes: 0,
            per_write,
        })
    }

    /// Polls `f` until it is ready, as an executor would after each wake-up.
    fn until_ready<T>(mut f: impl FnMut(&mut Context<'_>) -> Poll<T>) -> T {
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn a_burst_is_written_at_the_flush_in_order_and_its_buffer_freed() {
        let mut socket = slow(1000);
        let frames: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 700]).collect();
        for frame in &frames {
            let n = until_ready(|cx| Pin::new(&mut socket).poll_write(cx, frame)).unwrap();
            assert_eq!(n, frame.len());
        }
        assert_eq!(socket.inner.writes, 0, "nothing written before the flush");
        until_ready(|cx| Pin::new(&mut socket).poll_flush(cx)).unwrap();
        assert_eq!(socket.inner.taken, frames.concat());
        assert_eq!(socket.buf.capacity(), 0, "the burst's buffer is freed");
    }

    #[test]
    fn a_full_buffer_is_written_before_more_is_taken() {
        let mut socket = slow(usize::MAX);
        let frame = vec![7u8; 4000];
        let mut sent = Vec::new();
        for _ in 0..9 {
            until_ready(|cx| Pin::new(&mut socket).poll_write(cx, &frame)).unwrap();
            sent.extend_from_slice(&frame);
            assert!(socket.buf.len() <= WRITE_BUFFER);
        }
        assert!(!socket.inner.taken.is_empty(), "written without a flush");
        // A frame larger than the buffer goes past it, after what was buffered.
        let big = vec![9u8; WRITE_BUFFER * 2];
        let mut at = 0;
        while at < big.len() {
            at += until_ready(|cx| Pin::new(&mut socket).poll_write(cx, &big[at..])).unwrap();
        }
        sent.extend_from_slice(&big);
        until_ready(|cx| Pin::new(&mut socket).poll_flush(cx)).unwrap();
        assert_eq!(socket.inner.taken, sent);
    }

    #[test]
    fn lines_are_framed_as_final_unmasked_text_frames_of_every_length_class() {
        let mut socket = slow(usize::MAX);
        for n in [5usize, 125, 126, 65_535, 65_536] {
            let text = vec![b'x'; n];
            socket.push_text(&text);
            let header: Vec<u8> = match n {
                0..=125 => vec![0x81, n as u8],
                126..=65_535 => [vec![0x81, 126], (n as u16).to_be_bytes().to_vec()].concat(),
                _ => [vec![0x81, 127], (n as u64).to_be_bytes().to_vec()].concat(),
            };
            assert_eq!(socket.buf[..header.len()], header[..], "{n} bytes");
            assert_eq!(socket.buf.len(), header.len() + n);
            until_ready(|cx| Pin::new(&mut socket).poll_flush(cx)).unwrap();
            assert!(socket.buf.is_empty());
        }
    }
}
