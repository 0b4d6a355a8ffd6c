//! A connection's writes held until a flush, so that a flush is one TLS
//! record and one syscall; and, while several requests on the connection
//! are in flight, a flush that yields once so that their frames join it.
//!
//! HTTP/2 queues a message's frames from the caller's task (a request's,
//! or a response's) and writes them from the connection's task. On a
//! multi-threaded runtime the connection task often runs as soon as the
//! first frame wakes it, so messages leave in pieces, each in a TLS record
//! and a `writev` of its own that also runs the receiver's TCP stack
//! (bench/RESULTS.md, 'What was tried'). [`Coalesced`] keeps what is
//! written until the writer flushes.
//!
//! A flush yields once first when, besides what it holds, at least
//! [`YIELD_WHEN_OPEN`] requests on the connection are still unanswered:
//! frames they queue meanwhile go out in the same write. On a server, a
//! response alone or nearly alone is never held up, since the yield would
//! only cost it a scheduler round (lone reads ran at 0.91x when every flush
//! yielded; a threshold of one gained less under load than two). On a
//! client, a flush that holds a request's headers also yields once for its
//! body, which the client's HTTP/2 sends from another task once the headers
//! are out: a request then leaves in one write, not two (lone reads 1.07x).
//!
//! Which requests are in flight is read off the HTTP/2 frame headers that
//! pass through (see [`Streams`]). It only decides whether to yield; a wrong
//! count costs a yield or a missed merge, never a byte.

use std::collections::HashSet;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes held before a write goes out without waiting for a flush.
const HOLD_LIMIT: usize = 64 << 10;
/// A flush yields when at least this many requests are still unanswered
/// once what it holds is sent.
const YIELD_WHEN_OPEN: usize = 2;
/// Most streams tracked (the server's own stream limit is far lower).
const MAX_TRACKED: usize = 4096;
/// What an HTTP/2 client sends before its first frame.
const PREFACE_LEN: usize = 24;

/// A stream wrapper for either end of an HTTP/2 connection (see the module).
pub struct Coalesced<S> {
    inner: S,
    held: Vec<u8>,
    /// Whether this flush has already yielded once.
    yielded: bool,
    streams: Streams,
    /// The frames going from client to server (they open streams).
    requests: Frames,
    /// The frames going from server to client (they end streams).
    responses: Frames,
    /// Whether requests are read (a server) or written (a client).
    server: bool,
}

impl<S> Coalesced<S> {
    /// Wraps the server end of an HTTP/2 connection.
    pub fn server(inner: S) -> Self {
        Coalesced::new(inner, true)
    }

    /// Wraps the client end of an HTTP/2 connection.
    pub fn client(inner: S) -> Self {
        Coalesced::new(inner, false)
    }

    fn new(inner: S, server: bool) -> Self {
        // The client's preface comes before its first frame.
        let requests = Frames::after(PREFACE_LEN);
        let responses = Frames::after(0);
        Coalesced { inner, held: Vec::new(), yielded: false, streams: Streams::default(), requests, responses, server }
    }

    /// Whether frames that would join this flush are on their way: other
    /// requests' (enough of them in flight), or, on a client, the body of
    /// the request whose headers are held.
    fn worth_a_yield(&self) -> bool {
        self.streams.open() >= YIELD_WHEN_OPEN || (!self.server && self.streams.body_to_come.is_some())
    }

    /// Follows the frames in `bytes`, read (`read`) or written.
    fn track(&mut self, bytes: &[u8], read: bool) {
        let streams = &mut self.streams;
        if read == self.server {
            self.requests.feed(bytes, |frame| streams.request(frame));
        } else {
            self.responses.feed(bytes, |frame| streams.response(frame));
        }
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

impl<S: AsyncRead + Unpin> AsyncRead for Coalesced<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.track(&buf.filled()[before..], true);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalesced<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.held.len() + buf.len() > HOLD_LIMIT {
            ready!(this.poll_drain(cx))?;
        }
        let n = if buf.len() > HOLD_LIMIT {
            ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?
        } else {
            this.held.extend_from_slice(buf);
            buf.len()
        };
        this.track(&buf[..n], false);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.held.is_empty() && !this.yielded && this.worth_a_yield() {
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        ready!(this.poll_drain(cx))?;
        this.yielded = false;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// An HTTP/2 frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
}

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const END_STREAM: u8 = 0x1;

/// Finds the frame headers in one direction of a connection, whatever the
/// bytes are split into.
struct Frames {
    /// Bytes still to pass before the next header (a preface or a payload).
    skip: usize,
    header: [u8; 9],
    filled: usize,
}

impl Frames {
    fn after(skip: usize) -> Self {
        Frames { skip, header: [0; 9], filled: 0 }
    }

    fn feed(&mut self, mut bytes: &[u8], mut each: impl FnMut(Frame)) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (self.header.len() - self.filled).min(bytes.len());
            self.header[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled == self.header.len() {
                let h = &self.header;
                self.skip = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                self.filled = 0;
                let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                each(Frame { kind: h[3], flags: h[4], stream });
            }
        }
    }
}

/// The streams the client opened that the server has not ended.
#[derive(Default)]
struct Streams {
    open: HashSet<u32>,
    /// The highest stream id the client has opened: its HEADERS on a lower
    /// one are trailers, not a new request.
    highest: u32,
    /// The newest request, while its headers have gone out without its
    /// body (a client's HTTP/2 sends the body from another task).
    body_to_come: Option<u32>,
}

impl Streams {
    fn open(&self) -> usize {
        self.open.len()
    }

    /// A frame from client to server.
    fn request(&mut self, frame: Frame) {
        match frame.kind {
            HEADERS if frame.stream > self.highest => {
                self.highest = frame.stream;
                self.body_to_come = (frame.flags & END_STREAM == 0).then_some(frame.stream);
                if self.open.len() < MAX_TRACKED {
                    self.open.insert(frame.stream);
                }
            }
            RST_STREAM => {
                self.open.remove(&frame.stream);
                self.body_sent(frame.stream);
            }
            DATA | HEADERS if frame.flags & END_STREAM != 0 => self.body_sent(frame.stream),
            _ => {}
        }
    }

    fn body_sent(&mut self, stream: u32) {
        if self.body_to_come == Some(stream) {
            self.body_to_come = None;
        }
    }

    /// A frame from server to client.
    fn response(&mut self, frame: Frame) {
        let ends = match frame.kind {
            DATA | HEADERS => frame.flags & END_STREAM != 0,
            RST_STREAM => true,
            _ => false,
        };
        if ends {
            self.open.remove(&frame.stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    /// Serves `input` to reads and records each write it is given.
    #[derive(Default)]
    struct Fake {
        input: Vec<u8>,
        writes: Vec<Vec<u8>>,
    }

    impl AsyncRead for Fake {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            let n = self.input.len().min(buf.remaining());
            buf.put_slice(&self.input[..n]);
            self.input.drain(..n);
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Fake {
        fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            self.writes.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A frame of `kind` with a `len`-byte payload.
    fn frame(kind: u8, flags: u8, stream: u32, len: usize) -> Vec<u8> {
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.resize(9 + len, 0xab);
        f
    }

    /// A connection whose client sent the preface and then `frames`, read
    /// by the server `chunk` bytes at a time.
    fn connection(frames: &[Vec<u8>], chunk: usize) -> Coalesced<Fake> {
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend(frames.concat());
        let mut c = Coalesced::server(Fake { input, writes: Vec::new() });
        let mut cx = Context::from_waker(Waker::noop());
        let mut space = vec![0u8; chunk];
        while !c.inner.input.is_empty() {
            let mut buf = ReadBuf::new(&mut space);
            assert!(matches!(Pin::new(&mut c).poll_read(&mut cx, &mut buf), Poll::Ready(Ok(()))));
        }
        c
    }

    fn write(c: &mut Coalesced<Fake>, bytes: &[u8]) {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(Pin::new(c).poll_write(&mut cx, bytes), Poll::Ready(Ok(n)) if n == bytes.len()));
    }

    fn flush(c: &mut Coalesced<Fake>) -> Poll<io::Result<()>> {
        Pin::new(c).poll_flush(&mut Context::from_waker(Waker::noop()))
    }

    /// A request on `stream`: its headers and its message.
    fn request(stream: u32) -> Vec<u8> {
        [frame(HEADERS, 0x4, stream, 30), frame(DATA, END_STREAM, stream, 40)].concat()
    }

    #[test]
    fn requests_are_counted_from_their_headers_in_any_split_of_the_bytes() {
        for chunk in [1, 5, 9, 10, 1000] {
            let c = connection(&[request(1), request(3), request(5)], chunk);
            assert_eq!(c.streams.open(), 3, "read {chunk} bytes at a time");
        }
    }

    #[test]
    fn a_response_answered_whole_goes_out_at_its_flush_without_a_yield() {
        let mut c = connection(&[request(1)], 1000);
        let response = [frame(HEADERS, 0x4, 1, 20), frame(DATA, 0, 1, 50), frame(HEADERS, 0x5, 1, 10)].concat();
        write(&mut c, &response[..7]);
        write(&mut c, &response[7..]);
        assert!(c.inner.writes.is_empty(), "held until flushed");
        assert_eq!(c.streams.open(), 0, "its trailers end the stream");
        assert!(matches!(flush(&mut c), Poll::Ready(Ok(()))));
        assert_eq!(c.inner.writes, [response]);
    }

    #[test]
    fn a_flush_yields_once_while_requests_are_unanswered_and_what_is_queued_meanwhile_joins_it() {
        let mut c = connection(&[request(1), request(3), request(5)], 1000);
        let first = frame(HEADERS, 0x5, 1, 10);
        write(&mut c, &first);
        assert_eq!(c.streams.open(), 2);
        assert!(flush(&mut c).is_pending(), "streams 3 and 5 are still in flight");
        let second = [frame(HEADERS, 0x4, 3, 20), frame(DATA, 0, 3, 50)].concat();
        write(&mut c, &second);
        assert!(matches!(flush(&mut c), Poll::Ready(Ok(()))), "only one yield per flush");
        assert_eq!(c.inner.writes, [[first, second].concat()]);
        // Both are still unanswered: the next flush yields again.
        write(&mut c, &frame(DATA, 0, 3, 5));
        assert!(flush(&mut c).is_pending());
        assert!(matches!(flush(&mut c), Poll::Ready(Ok(()))));
        assert_eq!(c.inner.writes.len(), 2);
        // With one request left there is nothing to wait for.
        write(&mut c, &frame(HEADERS, 0x5, 3, 10));
        assert_eq!(c.streams.open(), 1);
        assert!(matches!(flush(&mut c), Poll::Ready(Ok(()))));
        assert_eq!(c.inner.writes.len(), 3);
        // Nor with nothing held.
        assert!(matches!(flush(&mut c), Poll::Ready(Ok(()))));
    }

    #[test]
    fn streams_end_with_a_reset_either_way_and_trailers_from_the_client_open_nothing() {
        let mut c = connection(&[request(1), request(3), request(5), frame(RST_STREAM, 0, 3, 4)], 1000);
        assert_eq!(c.streams.open(), 2);
        write(&mut c, &frame(RST_STREAM, 0, 5, 4));
        assert_eq!(c.streams.open(), 1);
        let mut trailers = connection(&[request(7), frame(HEADERS, 0x5, 7, 10)], 1000);
        assert_eq!(trailers.streams.open(), 1);
        write(&mut trailers, &frame(DATA, END_STREAM, 7, 3));
        assert_eq!(trailers.streams.open(), 0);
    }

    #[test]
    fn a_client_counts_the_requests_it_wrote_until_their_responses_end() {
        let mut c = Coalesced::client(Fake::default());
        write(&mut c, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        write(&mut c, &[frame(0x4, 0, 0, 0), request(1), request(3)].concat());
        write(&mut c, &request(5)[..11]);
        assert_eq!(c.streams.open(), 3, "its own END_STREAM ends no request");
        assert!(flush(&mut c).is_pending());
        assert!(matches!(flush(&mut c), Poll::Ready(Ok(()))));
        c.inner.input = [frame(HEADERS, 0x4, 1, 20), frame(HEADERS, 0x5, 1, 10), frame(RST_STREAM, 0, 3, 4)].concat();
        let mut space = [0u8; 1000];
        let mut buf = ReadBuf::new(&mut space);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(Pin::new(&mut c).poll_read(&mut cx, &mut buf), Poll::Ready(Ok(()))));
        assert_eq!(c.streams.open(), 1);
        assert_eq!(c.streams.body_to_come, Some(5));
        write(&mut c, &request(5)[11..]);
        assert_eq!(c.streams.body_to_come, None);
        assert!(matches!(flush(&mut c), Poll::Ready(Ok(()))), "one request left, and its body is here");
    }

    #[test]
    fn a_client_holding_a_request_without_its_body_yields_once_for_it() {
        let mut c = Coalesced::client(Fake::default());
        write(&mut c, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let headers = frame(HEADERS, 0x4, 1, 30);
        write(&mut c, &headers);
        assert!(flush(&mut c).is_pending(), "the body is on its way");
        let body = frame(DATA, END_STREAM, 1, 40);
        write(&mut c, &body);
        assert!(matches!(flush(&mut c), Poll::Ready(Ok(()))));
        assert_eq!(c.inner.writes.len(), 1, "the request leaves in one write");
        assert!(c.inner.writes[0].ends_with(&[headers, body].concat()));
        // A request without a body (END_STREAM on its headers) waits for nothing.
        let mut c = Coalesced::client(Fake::default());
        write(&mut c, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        write(&mut c, &frame(HEADERS, 0x5, 1, 30));
        assert!(matches!(flush(&mut c), Poll::Ready(Ok(()))));
        // A server never waits for a body: the request's task sends its response whole.
        let mut s = connection(&[frame(HEADERS, 0x4, 1, 30)], 1000);
        write(&mut s, &frame(HEADERS, 0x4, 1, 20));
        assert!(matches!(flush(&mut s), Poll::Ready(Ok(()))));
    }

    #[test]
    fn a_write_past_the_limit_sends_what_is_held_first_and_shutdown_sends_the_rest() {
        let mut c = connection(&[], 1000);
        write(&mut c, b"small");
        let big = vec![7u8; HOLD_LIMIT + 1];
        write(&mut c, &big);
        assert_eq!(c.inner.writes, [b"small".to_vec(), big]);
        write(&mut c, b"tail");
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(Pin::new(&mut c).poll_shutdown(&mut cx), Poll::Ready(Ok(()))));
        assert_eq!(c.inner.writes.last().map(Vec::as_slice), Some(&b"tail"[..]));
    }
}
