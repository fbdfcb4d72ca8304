//! What the host's two HTTP clients share (a guest's outbound calls, the platforms' calls to their
//! cloud services): the plain-or-TLS connection hyper's client drives, reading a response body
//! whole within a cap, and error chains in messages. Each client keeps its own connector, since
//! what it may connect to differs.

use bytes::{Bytes, BytesMut};
use http::Response;
use hyper::body::Body as _;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// `error` and each of its sources, joined with `: `.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Why [`read_capped`] produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// The body is larger than the cap (announced or as it streamed).
    TooLarge,
    /// The body broke off; the error chain.
    Broken(String),
}

/// Reads the body whole, failing as soon as it passes `cap` (announced or streamed).
///
/// The response is taken apart before the future is made, and the body polled in place: the
/// future then holds the head and the body once, not also the response it came as and a frame
/// being read, which is a third of its size (a guest's call boxes it with the rest of the call).
pub(crate) fn read_capped(
    response: Response<hyper::body::Incoming>,
    cap: usize,
) -> impl Future<Output = Result<Response<Bytes>, BodyError>> {
    let announced = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (parts, mut body) = response.into_parts();
    async move {
        if announced.is_some_and(|n| n > cap as u64) {
            return Err(BodyError::TooLarge);
        }
        // A body that comes in one frame (most small ones) is kept as it came; only a second
        // frame makes a buffer to join them in.
        let (mut first, mut joined, mut len) = (Bytes::new(), None::<BytesMut>, 0);
        std::future::poll_fn(|cx| {
            loop {
                let Some(frame) = ready!(Pin::new(&mut body).poll_frame(cx)) else {
                    return Poll::Ready(Ok(()));
                };
                let frame = frame.map_err(|e| BodyError::Broken(error_chain(&e)))?;
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                len += data.len();
                if len > cap {
                    return Poll::Ready(Err(BodyError::TooLarge));
                }
                if let Some(joined) = &mut joined {
                    joined.extend_from_slice(&data);
                } else if first.is_empty() {
                    first = data;
                } else {
                    let size = announced.map_or(len, |n| n.min(cap as u64) as usize);
                    let mut buffer = BytesMut::with_capacity(size.max(len));
                    buffer.extend_from_slice(&first);
                    buffer.extend_from_slice(&data);
                    joined = Some(buffer);
                }
            }
        })
        .await?;
        let body = joined.map_or(first, BytesMut::freeze);
        Ok(Response::from_parts(parts, body))
    }
}

impl Conn {
    /// A plain TCP connection.
    pub(crate) fn plain(stream: TcpStream) -> Conn {
        Conn {
            io: TokioIo::new(Transport::Plain(stream)),
            h2: false,
        }
    }

    /// A TLS connection, HTTP/2 when its handshake negotiated `h2`.
    pub(crate) fn tls(stream: TlsStream<TcpStream>) -> Conn {
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Conn {
            io: TokioIo::new(Transport::Tls(Box::new(stream))),
            h2,
        }
    }
}

/// A connection, plain or TLS, as hyper's client drives it (HTTP/2 when TLS negotiated it).
pub(crate) struct Conn {
    io: TokioIo<Transport>,
    h2: bool,
}

impl Conn {
    /// Whether TLS negotiated HTTP/2 (ALPN `h2`).
    pub(crate) fn is_h2(&self) -> bool {
        self.h2
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        hyper::rt::Read::poll_read(Pin::new(&mut self.get_mut().io), cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut self.get_mut().io), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut self.get_mut().io), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut self.get_mut().io), cx)
    }

    fn is_write_vectored(&self) -> bool {
        hyper::rt::Write::is_write_vectored(&self.io)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write_vectored(Pin::new(&mut self.get_mut().io), cx, bufs)
    }
}

/// The stream under a [`Conn`].
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Plain(s) => s.is_write_vectored(),
            Transport::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }
}
