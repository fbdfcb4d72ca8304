//! OpenTelemetry traces: one SERVER span per invocation and one CLIENT span per outbound HTTP
//! call, exported over OTLP/HTTP with protobuf (`docs/observability.md`).
//!
//! The request path only builds a `SpanRecord` and hands it to `Tracer::record`, a
//! `try_send` on a bounded queue: a full queue drops the span and counts it, so a slow or absent
//! collector never holds a request. The exporter (`export`) runs on a thread of its own,
//! batches, encodes (`otlp`, by hand: the few messages it sends) and POSTs with a timeout.
//!
//! Sampling is parent-based, as OpenTelemetry's default: a request whose `traceparent` says
//! "not sampled" is not recorded (its trace context still reaches the guest and its outbound
//! calls unchanged); one without a `traceparent` starts a sampled trace of its own.

pub(crate) mod export;
pub(crate) mod otlp;

pub use export::TraceConfig;

use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The W3C trace-flags bit "sampled".
const SAMPLED: u8 = 0x01;
/// OTLP `SpanFlags`: the span's flags say whether its parent is remote.
const CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
/// OTLP `SpanFlags`: the parent is remote (another process).
const CONTEXT_IS_REMOTE: u32 = 0x200;

/// A W3C trace context: what a `traceparent` header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace's id (never all zeros).
    pub trace_id: [u8; 16],
    /// The id of the span this context names (never all zeros).
    pub span_id: [u8; 8],
    /// W3C trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceContext {
    /// Reads a `traceparent` header value (`00-<32 hex>-<16 hex>-<2 hex>`); `None` when it is
    /// malformed, version `ff`, or an id is all zeros, as W3C Trace Context says to treat them.
    /// A later version is read by its first four fields.
    pub fn parse(header: &str) -> Option<TraceContext> {
        let header = header.trim();
        let mut fields = header.split('-');
        let version = fields.next()?;
        let (trace, span, flags) = (fields.next()?, fields.next()?, fields.next()?);
        let rest = fields.next();
        if version.len() != 2
            || version == "ff"
            || (version == "00" && rest.is_some())
            || !is_lower_hex(version)
        {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        let mut flag = [0u8; 1];
        for (text, out) in [
            (trace, &mut trace_id[..]),
            (span, &mut span_id[..]),
            (flags, &mut flag[..]),
        ] {
            if text.len() != out.len() * 2 || !is_lower_hex(text) {
                return None;
            }
            hex::decode_to_slice(text, out).ok()?;
        }
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceContext {
            trace_id,
            span_id,
            flags: flag[0],
        })
    }

    /// The `traceparent` header value naming this context.
    pub fn header(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.span_id),
            self.flags
        )
    }

    /// Whether the trace is recorded.
    pub fn sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Longest status message a span carries: a trap's message holds the guest's backtrace, which
/// the log has in full; collectors limit attribute and message sizes.
const MAX_MESSAGE_BYTES: usize = 1024;

/// `message` cut to [`MAX_MESSAGE_BYTES`] at a character boundary, marked when cut.
fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str("...");
    }
    message
}

/// A random id of `N` bytes, never all zeros.
fn new_id<const N: usize>() -> [u8; N] {
    loop {
        let mut id = [0u8; N];
        fastrand::fill(&mut id);
        if id != [0; N] {
            return id;
        }
    }
}

/// What kind of span: the invocation, or one outbound call it made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpanKind {
    /// An invocation (OTLP `SPAN_KIND_SERVER`).
    Server,
    /// An outbound HTTP call (OTLP `SPAN_KIND_CLIENT`).
    Client,
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
}

/// One finished span, as the exporter encodes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpanRecord {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) parent_span_id: Option<[u8; 8]>,
    /// OTLP `Span.flags`: the W3C trace flags and whether the parent is remote.
    pub(crate) flags: u32,
    pub(crate) name: String,
    pub(crate) kind: SpanKind,
    pub(crate) start_unix_nanos: u64,
    pub(crate) end_unix_nanos: u64,
    pub(crate) attributes: Vec<(&'static str, Value)>,
    /// `Some(message)` for an error status; `None` leaves it unset.
    pub(crate) error: Option<String>,
}

/// When a span started, by the wall clock (what OTLP records) and the monotonic one (how long it
/// took, immune to clock steps).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started {
    wall: SystemTime,
    at: Instant,
}

impl Started {
    pub(crate) fn now() -> Started {
        Started {
            wall: SystemTime::now(),
            at: Instant::now(),
        }
    }

    /// Start and end, in Unix nanoseconds, ending now.
    fn until_now(&self) -> (u64, u64) {
        let start = self
            .wall
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        (start, start + self.at.elapsed().as_nanos() as u64)
    }
}

/// Where finished spans go: the bounded queue of the exporter thread. Cheap to share.
pub struct Tracer {
    queue: tokio::sync::mpsc::Sender<export::Message>,
    dropped_queue_full: Counter,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer").finish_non_exhaustive()
    }
}

impl Tracer {
    /// Hands a finished span to the exporter without waiting: when its queue is full (the
    /// collector slow or down) the span is dropped and counted.
    pub(crate) fn record(&self, span: SpanRecord) {
        if self.queue.try_send(export::Message::Span(span)).is_err() {
            self.dropped_queue_full.inc();
        }
    }

    /// The trace of an invocation that arrived with `traceparent`: its span joins that trace
    /// under a new span id, or starts a trace when there is none (or it cannot be read). `None`
    /// when the caller asked not to sample it.
    pub fn begin(self: &Arc<Self>, traceparent: Option<&str>) -> Option<ActiveSpan> {
        let parent = traceparent.and_then(TraceContext::parse);
        if parent.is_some_and(|p| !p.sampled()) {
            return None;
        }
        let context = TraceContext {
            trace_id: parent.map_or_else(new_id, |p| p.trace_id),
            span_id: new_id(),
            flags: parent.map_or(SAMPLED, |p| p.flags),
        };
        Some(ActiveSpan {
            tracer: self.clone(),
            context,
            parent: parent.map(|p| p.span_id),
            started: Started::now(),
        })
    }

    /// Exports what is queued and waits for it, up to `limit` (at shutdown).
    pub fn flush(&self, limit: std::time::Duration) {
        export::flush(&self.queue, limit);
    }
}

/// The span of an invocation in progress: its context (the parent of its outbound calls' spans).
#[derive(Debug, Clone)]
pub struct ActiveSpan {
    tracer: Arc<Tracer>,
    context: TraceContext,
    parent: Option<[u8; 8]>,
    started: Started,
}

/// What the invocation span records about how it ended.
pub(crate) struct InvocationEnd<'a> {
    pub(crate) function: &'a str,
    pub(crate) platform: &'static str,
    pub(crate) request_id: &'a str,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) cold_start: bool,
    pub(crate) status: u16,
    /// `ok`, or the failure kind.
    pub(crate) outcome: &'static str,
    /// The failure, for the span's status message.
    pub(crate) error: Option<String>,
}

impl ActiveSpan {
    /// The invocation's own context (its span id), as outbound calls pass it on.
    pub fn context(&self) -> TraceContext {
        self.context
    }

    /// A child span's context for one outbound call: the same trace, a new span id.
    pub(crate) fn child(&self) -> TraceContext {
        TraceContext {
            span_id: new_id(),
            ..self.context
        }
    }

    /// Records the invocation's span, ending now.
    pub(crate) fn finish(&self, end: InvocationEnd<'_>) {
        let (start, finish) = self.started.until_now();
        let mut attributes = vec![
            ("faas.name", Value::Str(end.function.to_owned())),
            ("faas.invocation_id", Value::Str(end.request_id.to_owned())),
            ("faas.coldstart", Value::Bool(end.cold_start)),
            ("edgefn.platform", Value::Str(end.platform.to_owned())),
            ("edgefn.outcome", Value::Str(end.outcome.to_owned())),
            ("http.request.method", Value::Str(end.method.to_owned())),
            ("url.path", Value::Str(end.path.to_owned())),
            (
                "http.response.status_code",
                Value::Int(i64::from(end.status)),
            ),
        ];
        if end.error.is_some() {
            attributes.push(("error.type", Value::Str(end.outcome.to_owned())));
        }
        // A server span is an error on a failure or a 5xx; a 4xx is the client's (semantic
        // conventions for HTTP spans).
        let error = end.error.or_else(|| {
            (end.status >= 500).then(|| format!("the function answered {}", end.status))
        });
        let remote = if self.parent.is_some() {
            CONTEXT_IS_REMOTE
        } else {
            0
        };
        self.tracer.record(SpanRecord {
            trace_id: self.context.trace_id,
            span_id: self.context.span_id,
            parent_span_id: self.parent,
            flags: u32::from(self.context.flags) | CONTEXT_HAS_IS_REMOTE | remote,
            name: end.function.to_owned(),
            kind: SpanKind::Server,
            start_unix_nanos: start,
            end_unix_nanos: finish,
            attributes,
            error: error.map(bounded),
        });
    }

    /// Records one outbound call's span (context from [`ActiveSpan::child`]), ending now.
    pub(crate) fn finish_outbound(
        &self,
        call: TraceContext,
        started: Started,
        method: &str,
        host: &str,
        outcome: Result<u16, (&'static str, String)>,
    ) {
        let (start, finish) = started.until_now();
        let mut attributes = vec![
            ("http.request.method", Value::Str(method.to_owned())),
            ("server.address", Value::Str(host.to_owned())),
        ];
        let error = match outcome {
            Ok(status) => {
                attributes.push(("http.response.status_code", Value::Int(i64::from(status))));
                (status >= 400).then(|| format!("the upstream answered {status}"))
            }
            Err((kind, message)) => {
                attributes.push(("error.type", Value::Str(kind.to_owned())));
                Some(message)
            }
        };
        let name = if method.is_empty() { "HTTP" } else { method };
        self.tracer.record(SpanRecord {
            trace_id: call.trace_id,
            span_id: call.span_id,
            parent_span_id: Some(self.context.span_id),
            flags: u32::from(call.flags) | CONTEXT_HAS_IS_REMOTE,
            name: name.to_owned(),
            kind: SpanKind::Client,
            start_unix_nanos: start,
            end_unix_nanos: finish,
            attributes,
            error: error.map(bounded),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_round_trips() {
        let context = TraceContext::parse(HEADER).unwrap();
        assert_eq!(
            hex::encode(context.trace_id),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(hex::encode(context.span_id), "00f067aa0ba902b7");
        assert!(context.sampled());
        assert_eq!(context.header(), HEADER);
        let unsampled = TraceContext::parse(&HEADER.replace("-01", "-00")).unwrap();
        assert!(!unsampled.sampled());
    }

    #[test]
    fn unreadable_traceparents_are_refused() {
        for bad in [
            "",
            "00",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
        // A later version may add fields; its first four are read.
        assert!(
            TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more")
                .is_some()
        );
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        assert_eq!(bounded("short".into()), "short");
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let cut = bounded(long);
        assert!(cut.len() <= MAX_MESSAGE_BYTES + 3 && cut.ends_with("..."));
        assert!(cut.starts_with("éé"));
    }

    #[test]
    fn ids_are_never_zero() {
        for _ in 0..1000 {
            assert_ne!(new_id::<8>(), [0; 8]);
        }
    }
}
