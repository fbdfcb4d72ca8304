//! Follows the request framing of an HTTP/1.1 connection's incoming bytes, beside hyper, to spot
//! the one ambiguity hyper accepts but an edge must refuse: a request head with both
//! `Content-Length` and `Transfer-Encoding`. hyper reads such a request by its chunked body, drops
//! the `Content-Length` header before the handler could see it and closes the connection after
//! the response; CDNs and load balancers refuse it as a smuggling attempt, and so must we
//! (`strict`). The bytes pass through unchanged: this only reads them.
//!
//! The scanner knows just enough framing to find each head (a `Content-Length` body is skipped by
//! count, a chunked one by its chunk sizes). hyper validates everything itself, so on anything the
//! scanner does not follow (an upgrade, a malformed line, a head over the size limit) it stops
//! watching: hyper refuses or hands off such a connection anyway.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the scanner tells the connection's service: the index (0-based, in arrival order) of the
/// first request whose head carries both framings, `u64::MAX` while there is none. hyper closes
/// the connection after such a request, so the first is the only one that matters.
#[derive(Debug)]
pub(crate) struct AmbiguousHead(AtomicU64);

impl AmbiguousHead {
    fn new() -> Self {
        AmbiguousHead(AtomicU64::new(u64::MAX))
    }

    /// Whether request number `index` of the connection had both `Content-Length` and
    /// `Transfer-Encoding`. hyper calls the service only after it has read that request's head
    /// through [`WatchedStream`], so the scanner has seen it by then.
    pub(crate) fn is(&self, index: u64) -> bool {
        self.0.load(Ordering::Acquire) == index
    }
}

/// A connection's stream whose reads feed a [`HeadScanner`].
pub(crate) struct WatchedStream<S> {
    inner: S,
    scanner: HeadScanner,
    found: Arc<AmbiguousHead>,
}

impl<S> WatchedStream<S> {
    /// Wraps `inner`; heads longer than `max_head_bytes` end the watch (hyper refuses them).
    pub(crate) fn new(inner: S, max_head_bytes: usize) -> (Self, Arc<AmbiguousHead>) {
        let found = Arc::new(AmbiguousHead::new());
        let stream = WatchedStream {
            inner,
            scanner: HeadScanner::new(max_head_bytes),
            found: found.clone(),
        };
        (stream, found)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WatchedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            let this = &mut *self;
            if let Some(index) = this.scanner.feed(&buf.filled()[before..]) {
                // Only the first is recorded; the scanner stops watching after it.
                let _ = this.found.0.compare_exchange(
                    u64::MAX,
                    index,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WatchedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Where the scanner is in the byte stream.
#[derive(Debug, PartialEq)]
enum State {
    /// Collecting a request head (request line and headers, up to the empty line).
    Head,
    /// Skipping this many bytes of a `Content-Length` body.
    Body(u64),
    /// Collecting a chunk-size line.
    ChunkSize,
    /// Skipping this many bytes of chunk data, then its CRLF.
    ChunkData(u64),
    /// Collecting trailer lines, up to the empty line that ends the chunked body.
    Trailers,
    /// Not following this connection any more.
    Done,
}

/// The framing state machine over a connection's incoming bytes.
#[derive(Debug)]
pub(crate) struct HeadScanner {
    state: State,
    /// The part of the current head or line read so far.
    pending: Vec<u8>,
    max_head_bytes: usize,
    /// Index of the next request head.
    next_request: u64,
}

impl HeadScanner {
    pub(crate) fn new(max_head_bytes: usize) -> Self {
        HeadScanner {
            state: State::Head,
            pending: Vec::new(),
            max_head_bytes,
            next_request: 0,
        }
    }

    /// Feeds the next bytes read; returns the index of a request whose head carries both
    /// `Content-Length` and `Transfer-Encoding`, when these bytes complete one.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Option<u64> {
        while !bytes.is_empty() {
            match self.state {
                State::Done => return None,
                State::Body(left) => {
                    self.state = match skip(&mut bytes, left) {
                        0 => State::Head,
                        rest => State::Body(rest),
                    };
                }
                State::ChunkData(left) => {
                    self.state = match skip(&mut bytes, left) {
                        // The CRLF after the data is read as an empty chunk-size line.
                        0 => State::ChunkSize,
                        rest => State::ChunkData(rest),
                    };
                }
                State::Head => {
                    // Empty lines before a request line are ignored (RFC 9112 §2.2).
                    if self.pending.is_empty() {
                        let skip = bytes.iter().take_while(|b| matches!(b, b'\r' | b'\n'));
                        bytes = &bytes[skip.count()..];
                        if bytes.is_empty() {
                            return None;
                        }
                    }
                    let searched_from = self.pending.len().saturating_sub(3);
                    let end = self.take_until(&mut bytes, b"\r\n\r\n", searched_from)?;
                    let head = std::mem::take(&mut self.pending);
                    let index = self.next_request;
                    self.next_request += 1;
                    match Framing::of(&head[..end]) {
                        Framing::Ambiguous => {
                            self.state = State::Done;
                            return Some(index);
                        }
                        Framing::Length(0) => self.state = State::Head,
                        Framing::Length(n) => self.state = State::Body(n),
                        Framing::Chunked => self.state = State::ChunkSize,
                        Framing::Unfollowed => self.state = State::Done,
                    }
                }
                State::ChunkSize | State::Trailers => {
                    let searched_from = self.pending.len().saturating_sub(1);
                    let end = self.take_until(&mut bytes, b"\r\n", searched_from)?;
                    let line = std::mem::take(&mut self.pending);
                    let line = &line[..end];
                    self.state = match self.state {
                        // The CRLF that ends the previous chunk's data.
                        State::ChunkSize if line.is_empty() => State::ChunkSize,
                        State::ChunkSize => match chunk_size(line) {
                            Some(0) => State::Trailers,
                            Some(n) => State::ChunkData(n),
                            None => State::Done,
                        },
                        _ if line.is_empty() => State::Head,
                        _ => State::Trailers,
                    };
                }
            }
        }
        None
    }

    /// Moves bytes into `pending` up to and including `delimiter`, searching from
    /// `searched_from` in `pending` (so a delimiter split across reads is found). Returns where
    /// the delimiter starts, or `None` when `bytes` ran out first (or the head grew too long, which
    /// ends the watch).
    fn take_until(
        &mut self,
        bytes: &mut &[u8],
        delimiter: &[u8],
        searched_from: usize,
    ) -> Option<usize> {
        let old = self.pending.len();
        let room = self.max_head_bytes.saturating_sub(old);
        let slice = &bytes[..bytes.len().min(room + delimiter.len())];
        self.pending.extend_from_slice(slice);
        match self.pending[searched_from..]
            .windows(delimiter.len())
            .position(|w| w == delimiter)
        {
            Some(at) => {
                let start = searched_from + at;
                let end = start + delimiter.len();
                self.pending.truncate(end);
                *bytes = &bytes[end - old..];
                Some(start)
            }
            None => {
                *bytes = &bytes[slice.len()..];
                if self.pending.len() > self.max_head_bytes {
                    self.state = State::Done;
                    self.pending = Vec::new();
                }
                None
            }
        }
    }
}

/// How a request head says its body is framed.
#[derive(Debug, PartialEq)]
enum Framing {
    /// `Content-Length` (0 for none).
    Length(u64),
    /// `Transfer-Encoding` ending in `chunked`.
    Chunked,
    /// Both `Content-Length` and `Transfer-Encoding`.
    Ambiguous,
    /// Something the scanner leaves to hyper: an upgrade or `CONNECT` (the bytes after it are not
    /// HTTP/1.1), or a header hyper will refuse.
    Unfollowed,
}

impl Framing {
    fn of(head: &[u8]) -> Framing {
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let request_line = lines.next().unwrap_or_default();
        if request_line.starts_with(b"CONNECT ") {
            return Framing::Unfollowed;
        }
        let (mut length, mut chunked, mut transfer_encoding) = (None, false, false);
        for line in lines {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Framing::Unfollowed;
            };
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"content-length") {
                match std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
                    Some(n) => length = Some(n),
                    None => return Framing::Unfollowed,
                }
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                transfer_encoding = true;
                let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
                chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
            } else if name.eq_ignore_ascii_case(b"upgrade") {
                return Framing::Unfollowed;
            }
        }
        match (length, transfer_encoding) {
            (Some(_), true) => Framing::Ambiguous,
            (_, true) if chunked => Framing::Chunked,
            (_, true) => Framing::Unfollowed,
            (length, false) => Framing::Length(length.unwrap_or(0)),
        }
    }
}

/// Skips up to `left` bytes of `bytes`; how many of the `left` are still to come.
fn skip(bytes: &mut &[u8], left: u64) -> u64 {
    let n = left.min(bytes.len() as u64);
    *bytes = &bytes[n as usize..];
    left - n
}

/// The size of a chunk-size line (hex digits, optionally followed by `;extensions`).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.split(|&b| b == b';').next()?.trim_ascii();
    let text = std::str::from_utf8(digits).ok()?;
    if text.is_empty() || text.len() > 15 {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` in pieces of `step` bytes; the ambiguous request indices reported.
    fn scan(stream: &[u8], step: usize) -> Vec<u64> {
        let mut scanner = HeadScanner::new(1024);
        stream
            .chunks(step)
            .filter_map(|piece| scanner.feed(piece))
            .collect()
    }

    fn every_split(stream: &[u8]) -> Vec<Vec<u64>> {
        (1..=stream.len()).map(|step| scan(stream, step)).collect()
    }

    #[test]
    fn finds_both_framings_in_either_order_at_any_split() {
        for head in [
            &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n0\r\n\r\n",
        ] {
            assert!(every_split(head).iter().all(|found| found == &[0]));
        }
    }

    #[test]
    fn follows_bodies_to_the_next_head() {
        let stream = b"\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n\
            POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\nTransfer-Encoding: chunked\r\n\r\n\
            POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
            5;ext=1\r\nhello\r\n1a\r\nContent-Length: 1\r\n\r\nxxxxx\r\n0\r\nTrailer: y\r\n\r\n\
            POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        // Look-alike headers inside bodies do not count; the fourth request (index 3) does.
        assert!(every_split(stream).iter().all(|found| found == &[3]));
    }

    #[test]
    fn stops_watching_what_it_does_not_follow() {
        // After an upgrade the bytes are another protocol's.
        let upgrade = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n\
            POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(scan(upgrade, 7), Vec::<u64>::new());
        // A head over the limit (hyper refuses it with 431).
        let mut scanner = HeadScanner::new(16);
        assert_eq!(scanner.feed(&[b'a'; 64]), None);
        assert_eq!(scanner.state, State::Done);
        assert!(scanner.pending.is_empty());
        // A chunk size that is not hex (hyper refuses the body).
        let bad = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        let mut scanner = HeadScanner::new(1024);
        assert_eq!(scanner.feed(bad), None);
        assert_eq!(scanner.state, State::Done);
    }
}
