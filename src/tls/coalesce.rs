//! Writes held until a flush, so that a flush is one TLS record and one
//! syscall.
//!
//! An HTTP/2 server queues a response's frames from the request's task and
//! writes them from the connection's task. On a multi-threaded runtime the
//! connection task runs as soon as the first frame wakes it, so a gRPC
//! response left in two writes: the message, then its 10-byte trailers, each
//! in a TLS record of its own and each a `writev` that also runs the
//! receiver's TCP stack (bench/RESULTS.md, session 9). [`Coalesced`] keeps
//! what is written until the writer flushes, and yields once before it sends,
//! so that frames queued meanwhile (the trailers, other responses) join the
//! same write.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::AsyncWrite;

/// Most bytes held before a write goes out without waiting for a flush.
const HOLD_LIMIT: usize = 64 << 10;

/// An `AsyncWrite` that sends what it holds when flushed (see the module).
pub struct Coalesced<S> {
    inner: S,
    held: Vec<u8>,
    /// Whether this flush has already yielded once.
    yielded: bool,
}

impl<S> Coalesced<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Coalesced { inner, held: Vec::new(), yielded: false }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, for reading.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: AsyncWrite + Unpin> Coalesced<S> {
    /// Writes out everything held.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.held.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.held))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.held.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalesced<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.held.len() + buf.len() > HOLD_LIMIT {
            ready!(self.poll_drain(cx))?;
            if buf.len() > HOLD_LIMIT {
                return Pin::new(&mut self.inner).poll_write(cx, buf);
            }
        }
        self.held.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.held.is_empty() && !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        ready!(self.poll_drain(cx))?;
        self.yielded = false;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    /// Records each write it is given.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl AsyncWrite for Writes {
        fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            self.0.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn write(c: &mut Coalesced<Writes>, cx: &mut Context<'_>, bytes: &[u8]) {
        assert!(matches!(Pin::new(c).poll_write(cx, bytes), Poll::Ready(Ok(n)) if n == bytes.len()));
    }

    #[test]
    fn writes_until_a_flush_go_out_as_one_after_one_yield() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut c = Coalesced::new(Writes::default());
        write(&mut c, &mut cx, b"message");
        assert!(c.get_ref().0.is_empty(), "held until flushed");
        assert!(Pin::new(&mut c).poll_flush(&mut cx).is_pending(), "yields once");
        // Frames queued during the yield join the same write.
        write(&mut c, &mut cx, b"+trailers");
        assert!(matches!(Pin::new(&mut c).poll_flush(&mut cx), Poll::Ready(Ok(()))));
        assert_eq!(c.get_ref().0, [b"message+trailers".to_vec()]);
        // Nothing held: a flush does not yield.
        assert!(matches!(Pin::new(&mut c).poll_flush(&mut cx), Poll::Ready(Ok(()))));
        // The next flush yields again.
        write(&mut c, &mut cx, b"next");
        assert!(Pin::new(&mut c).poll_flush(&mut cx).is_pending());
        assert!(matches!(Pin::new(&mut c).poll_flush(&mut cx), Poll::Ready(Ok(()))));
        assert_eq!(c.get_ref().0.len(), 2);
    }

    #[test]
    fn a_write_past_the_limit_sends_what_is_held_first_and_shutdown_sends_the_rest() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut c = Coalesced::new(Writes::default());
        write(&mut c, &mut cx, b"small");
        let big = vec![7u8; HOLD_LIMIT + 1];
        write(&mut c, &mut cx, &big);
        assert_eq!(c.get_ref().0, [b"small".to_vec(), big]);
        write(&mut c, &mut cx, b"tail");
        assert!(matches!(Pin::new(&mut c).poll_shutdown(&mut cx), Poll::Ready(Ok(()))));
        assert_eq!(c.get_ref().0.last().map(Vec::as_slice), Some(&b"tail"[..]));
    }
}
