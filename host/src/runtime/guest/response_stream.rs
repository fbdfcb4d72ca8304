//! A component's response body while the guest still writes it. Once the client reads it, a task
//! on the accepting thread runs the guest on and passes on what it writes, within the function's
//! response cap and deadline: a client that reads slowly or not at all holds neither the
//! instance nor the function's slot past the deadline. The body ends only once the guest has
//! returned from `handle` as well; a trap, the deadline, the cap or an aborted body ends it with
//! an error, which the server turns into a cut-off transfer (never one that looks complete, as a
//! wasi:http body dropped with its instance would). The invocation is logged and counted when
//! the guest is done.

use super::Captures;
use crate::runtime::error::InvokeError;
use crate::runtime::metrics::FunctionMetrics;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The guest's `handle` call, owning its store; `Ok` once the guest has returned.
pub(crate) type Driver = Pin<Box<dyn Future<Output = Result<(), InvokeError>> + Send>>;

/// Runs when a streamed invocation ends, with its failure if it had one.
pub(crate) type OnEnd = Box<dyn FnOnce(Option<&InvokeError>) + Send>;

/// The over-cap failure, counted in bytes written so far.
pub(crate) fn too_large(size: usize, limit: usize) -> InvokeError {
    InvokeError::ResponseTooLarge { size, limit }
}

/// The failure of a body the guest dropped without finishing it.
pub(crate) fn aborted_body() -> InvokeError {
    InvokeError::BadResponse(
        "the component dropped its response body without finishing it (outgoing-body.finish was never called)".into(),
    )
}

/// Chunks in flight between the guest's task and the connection.
const FORWARD_CHUNKS: usize = 4;

/// What the guest's task hands the connection.
enum Piece {
    Data(Bytes),
    Failed(InvokeError),
    Done,
}

/// The guest, still running, and the body it writes.
pub(crate) struct Pump {
    driver: Option<Driver>,
    frames: HyperOutgoingBody,
    frames_ended: bool,
    sent: usize,
    limit: usize,
    deadline: tokio::time::Instant,
    budget: Duration,
}

impl Pump {
    /// `driver` (`None` if the guest has returned) and the body `frames` it writes, `sent` bytes
    /// of which are already out; at most `limit` in all, all of it by `deadline` (`budget` after
    /// the invocation started).
    pub(crate) fn new(
        driver: Option<Driver>,
        frames: HyperOutgoingBody,
        frames_ended: bool,
        sent: usize,
        limit: usize,
        deadline: Instant,
        budget: Duration,
    ) -> Pump {
        Pump {
            driver,
            frames,
            frames_ended,
            sent,
            limit,
            deadline: tokio::time::Instant::from_std(deadline),
            budget,
        }
    }

    /// Runs the guest to its end, handing each chunk it writes to `sink`; stops early when the
    /// sink is gone (the client left).
    async fn run(mut self, sink: &mut Sink) -> Result<(), InvokeError> {
        let budget = self.budget;
        let work = async {
            loop {
                if self.driver.is_none() && self.frames_ended {
                    return Ok(());
                }
                tokio::select! {
                    outcome = async { self.driver.as_mut().expect("guarded").await },
                        if self.driver.is_some() =>
                    {
                        // Dropping the guest's future drops its store: the instance is gone.
                        self.driver = None;
                        outcome?;
                    }
                    frame = self.frames.frame(), if !self.frames_ended => match frame {
                        Some(Ok(frame)) => {
                            let Ok(data) = frame.into_data() else { continue };
                            self.sent += data.len();
                            if self.sent > self.limit {
                                return Err(too_large(self.sent, self.limit));
                            }
                            if !sink.put(data).await {
                                return Ok(());
                            }
                        }
                        Some(Err(_)) => return Err(aborted_body()),
                        None => self.frames_ended = true,
                    },
                    () = sink.closed() => return Ok(()),
                }
            }
        };
        match tokio::time::timeout_at(self.deadline, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err(InvokeError::Timeout(budget)),
        }
    }
}

/// Where a pump's chunks go: gathered (for callers that buffer), or to the connection.
enum Sink {
    Collect(Vec<u8>),
    Forward(mpsc::Sender<Piece>),
}

impl Sink {
    /// `false` when nobody reads any more.
    async fn put(&mut self, data: Bytes) -> bool {
        match self {
            Sink::Collect(bytes) => {
                bytes.extend_from_slice(&data);
                true
            }
            Sink::Forward(sender) => sender.send(Piece::Data(data)).await.is_ok(),
        }
    }

    /// Resolves when nobody reads any more; never for a collecting sink.
    async fn closed(&self) {
        match self {
            Sink::Collect(_) => std::future::pending().await,
            Sink::Forward(sender) => sender.closed().await,
        }
    }
}

/// A response body the guest is still writing.
pub struct ResponseStream {
    /// What the guest wrote before the head was sent.
    prefix: Option<Bytes>,
    /// The guest, until the client first reads (then it runs in its own task).
    pump: Option<Pump>,
    pieces: Option<mpsc::Receiver<Piece>>,
    end: Option<StreamEnd>,
    done: bool,
}

/// What is owed when the guest is done: the invocation's log lines, metrics and callers' hooks.
struct StreamEnd {
    captures: Captures,
    function: String,
    request_id: String,
    metrics: Arc<FunctionMetrics>,
    started: Instant,
    hooks: Vec<OnEnd>,
}

impl StreamEnd {
    fn finish(self, failure: Option<&InvokeError>) {
        if let Some(error) = failure {
            tracing::warn!(
                function = self.function,
                request_id = self.request_id,
                kind = error.kind().as_str(),
                error = %error,
                "the response was cut off after its head was sent"
            );
        }
        self.captures.emit(&self.function, &self.request_id);
        self.metrics
            .record(failure.map(InvokeError::kind), self.started.elapsed());
        for hook in self.hooks {
            hook(failure);
        }
    }
}

impl ResponseStream {
    pub(crate) fn new(prefix: Bytes, pump: Pump) -> ResponseStream {
        ResponseStream {
            prefix: (!prefix.is_empty()).then_some(prefix),
            pump: Some(pump),
            pieces: None,
            end: None,
            done: false,
        }
    }

    /// Hands the invocation's logging and metrics to the stream, for when the guest is done.
    pub(crate) fn account(
        &mut self,
        captures: Captures,
        function: &str,
        request_id: &str,
        metrics: Arc<FunctionMetrics>,
        started: Instant,
    ) {
        self.end = Some(StreamEnd {
            captures,
            function: function.to_owned(),
            request_id: request_id.to_owned(),
            metrics,
            started,
            hooks: Vec::new(),
        });
    }

    /// Runs `hook` when the guest is done (after the invocation is logged).
    pub fn on_end(&mut self, hook: impl FnOnce(Option<&InvokeError>) + Send + 'static) {
        if let Some(end) = &mut self.end {
            end.hooks.push(Box::new(hook));
        }
    }

    /// Reads the rest whole, on the caller's task, for callers that buffer.
    pub(crate) async fn read_whole(mut self) -> Result<Bytes, InvokeError> {
        let mut sink = Sink::Collect(self.prefix.take().map(Vec::from).unwrap_or_default());
        let outcome = match self.pump.take() {
            Some(pump) => pump.run(&mut sink).await,
            None => Ok(()),
        };
        if let Some(end) = self.end.take() {
            end.finish(outcome.as_ref().err());
        }
        outcome?;
        match sink {
            Sink::Collect(bytes) => Ok(Bytes::from(bytes)),
            Sink::Forward(_) => unreachable!("a collecting sink"),
        }
    }

    /// Starts the guest's task (on the current runtime: the accepting thread's).
    fn start(&mut self, pump: Pump) -> mpsc::Receiver<Piece> {
        let (sender, receiver) = mpsc::channel(FORWARD_CHUNKS);
        let end = self.end.take();
        tokio::spawn(async move {
            let mut sink = Sink::Forward(sender);
            let outcome = pump.run(&mut sink).await;
            if let Some(end) = end {
                end.finish(outcome.as_ref().err());
            }
            let Sink::Forward(sender) = sink else {
                unreachable!("a forwarding sink")
            };
            let last = match outcome {
                Ok(()) => Piece::Done,
                Err(error) => Piece::Failed(error),
            };
            let _ = sender.send(last).await;
        });
        receiver
    }
}

impl Body for ResponseStream {
    type Data = Bytes;
    type Error = InvokeError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, InvokeError>>> {
        let this = self.get_mut();
        if let Some(pump) = this.pump.take() {
            this.pieces = Some(this.start(pump));
        }
        if let Some(prefix) = this.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        if this.done {
            return Poll::Ready(None);
        }
        let Some(pieces) = &mut this.pieces else {
            return Poll::Ready(None);
        };
        let piece = match pieces.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(piece) => piece,
        };
        match piece {
            Some(Piece::Data(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Some(Piece::Done) => {
                this.done = true;
                Poll::Ready(None)
            }
            Some(Piece::Failed(error)) => {
                this.done = true;
                Poll::Ready(Some(Err(error)))
            }
            None => {
                this.done = true;
                Poll::Ready(Some(Err(InvokeError::BadResponse(
                    "the component's response stream stopped before its end".into(),
                ))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.prefix.is_none()
    }
}

impl Drop for ResponseStream {
    /// A stream dropped before the client read it (the connection closed at once) still gets
    /// its invocation logged and counted.
    fn drop(&mut self) {
        if let Some(end) = self.end.take() {
            tracing::debug!(
                function = end.function,
                request_id = end.request_id,
                "the client went away before the response body was read"
            );
            end.finish(None);
        }
    }
}
