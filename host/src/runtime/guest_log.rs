//! Guest stdout/stderr: captured per invocation up to a byte budget, then written to the host log
//! line by line, tagged with the function and request id. Output past the budget is counted and
//! dropped, never returned to the guest as an error, so a log flood cannot crash a handler (Rust's
//! `println!` panics when a write fails) nor grow host memory.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Most bytes logged as a single line; longer lines are split.
pub(crate) const MAX_LINE_BYTES: usize = 8 << 10;

#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    dropped: usize,
}

/// One captured output stream of one invocation.
#[derive(Clone)]
pub(crate) struct LogCapture {
    buffer: Arc<Mutex<Buffer>>,
    capacity: usize,
}

impl LogCapture {
    /// A capture that keeps at most `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> LogCapture {
        LogCapture {
            buffer: Arc::default(),
            capacity,
        }
    }

    /// Another, independent capture with the same budget.
    pub(crate) fn sibling(&self) -> LogCapture {
        LogCapture::new(self.capacity)
    }

    fn push(&self, bytes: &[u8]) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        let room = self.capacity.saturating_sub(buffer.bytes.len());
        let kept = room.min(bytes.len());
        buffer.bytes.extend_from_slice(&bytes[..kept]);
        buffer.dropped += bytes.len() - kept;
    }

    /// Writes the captured lines to the log and empties the capture; returns the bytes logged.
    pub(crate) fn emit(&self, function: &str, request_id: &str, stream: &'static str) -> Vec<u8> {
        let Buffer { bytes, dropped } =
            std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|p| p.into_inner()));
        for line in bytes.split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            for chunk in line.chunks(MAX_LINE_BYTES) {
                let text = String::from_utf8_lossy(chunk);
                let text = text.trim_end_matches('\r');
                if stream == "stderr" {
                    tracing::warn!(target: "edgefn::guest", function, request_id, stream, "{text}");
                } else {
                    tracing::info!(target: "edgefn::guest", function, request_id, stream, "{text}");
                }
            }
        }
        if dropped > 0 {
            tracing::warn!(
                target: "edgefn::guest",
                function,
                request_id,
                stream,
                dropped_bytes = dropped,
                "guest output exceeded its per-invocation log budget; the rest was dropped (raise limits.max_log_bytes to keep more)"
            );
        }
        bytes
    }

    /// The bytes captured so far.
    #[cfg(test)]
    pub(crate) fn contents(&self) -> Vec<u8> {
        self.buffer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .bytes
            .clone()
    }
}

impl IsTerminal for LogCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogCapture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LogCapture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        // Always willing: bytes past the budget are dropped, not refused.
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogCapture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogCapture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_budget_and_counts_the_rest() {
        let capture = LogCapture::new(10);
        capture.push(b"hello\n");
        capture.push(b"world, and more\n");
        assert_eq!(capture.contents(), b"hello\nworl");
        assert_eq!(capture.buffer.lock().unwrap().dropped, 12);
        capture.emit("f", "r", "stdout");
        assert!(capture.contents().is_empty());
    }
}
