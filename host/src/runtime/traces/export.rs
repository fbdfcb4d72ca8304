//! The exporter: a thread of its own that takes finished spans off the bounded queue, batches
//! them (up to a batch size, or what came within the schedule delay) and POSTs each batch to the
//! collector as an OTLP/HTTP protobuf `ExportTraceServiceRequest`, within the export timeout.
//! A batch the collector does not take (refused, unreachable, too slow) is dropped and counted,
//! never retried: memory stays bounded and a dead collector costs the host nothing but the
//! count and a warning at most every [`WARN_EVERY`].

use super::{SpanRecord, Tracer, otlp};
use crate::platform::service_client::ServiceClient;
use crate::runtime::metrics::Metrics;
use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Request, header};
use http_body_util::Full;
use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Spans queued for export at most (`OTEL_BSP_MAX_QUEUE_SIZE`); more are dropped and counted.
pub(crate) const DEFAULT_QUEUE_SIZE: usize = 2048;
/// Spans per export request at most (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
pub(crate) const DEFAULT_BATCH_SIZE: usize = 512;
/// Longest a span waits for its batch (`OTEL_BSP_SCHEDULE_DELAY`, in ms).
pub(crate) const DEFAULT_SCHEDULE_DELAY: Duration = Duration::from_secs(1);
/// Longest one export may take (`OTEL_EXPORTER_OTLP_TIMEOUT`, in ms, as the OTel spec's default).
pub(crate) const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The `service.name` of the spans unless `OTEL_SERVICE_NAME` says otherwise.
pub(crate) const DEFAULT_SERVICE_NAME: &str = "edgefn";
/// Warnings about dropped spans come at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// Largest collector answer read (an `ExportTraceServiceResponse` is a few bytes).
const MAX_RESPONSE_BYTES: usize = 64 << 10;

/// Where and how spans are exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceConfig {
    /// The OTLP/HTTP traces URL spans are POSTed to (`.../v1/traces`).
    pub endpoint: String,
    /// The resource's `service.name`.
    pub service_name: String,
    /// See `DEFAULT_QUEUE_SIZE`.
    pub queue_size: usize,
    /// See `DEFAULT_BATCH_SIZE`.
    pub batch_size: usize,
    /// See `DEFAULT_SCHEDULE_DELAY`.
    pub schedule_delay: Duration,
    /// See `DEFAULT_EXPORT_TIMEOUT`.
    pub export_timeout: Duration,
    /// Headers every export request carries (`OTEL_EXPORTER_OTLP[_TRACES]_HEADERS`), such as a
    /// hosted collector's API key.
    pub headers: ExportHeaders,
}

/// Extra export request headers; their values (often credentials) are left out of `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExportHeaders(Vec<(http::HeaderName, http::HeaderValue)>);

impl std::fmt::Debug for ExportHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name.as_str()))
            .finish()
    }
}

impl ExportHeaders {
    /// Reads the OTel spec's `key1=value1,key2=value2` list, values percent-decoded.
    fn parse(variable: &str, text: &str) -> anyhow::Result<ExportHeaders> {
        let mut headers = Vec::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || {
                anyhow::anyhow!(
                    "{variable}: {:?} is not a header as name=value (percent-encode a comma in a value as %2C)",
                    pair.split('=').next().unwrap_or("")
                )
            };
            let (name, value) = pair.split_once('=').ok_or_else(bad)?;
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .map_err(|_| bad())?;
            let name = http::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
            let value = http::HeaderValue::from_str(&value).map_err(|_| bad())?;
            headers.push((name, value));
        }
        Ok(ExportHeaders(headers))
    }
}

impl TraceConfig {
    /// The configuration from `--otlp-endpoint` (`flag`, a base URL as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is: spans go to `<flag>/v1/traces`) or else the standard
    /// environment: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is), then
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` appended). `None` when none is set: no traces.
    /// Also read: `OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT`,
    /// `OTEL_EXPORTER_OTLP[_TRACES]_HEADERS` and the batch processor's `OTEL_BSP_*`.
    pub fn from_flag_or_env(flag: Option<&str>) -> anyhow::Result<Option<TraceConfig>> {
        Self::from_lookup(flag, |name| std::env::var(name).ok())
    }

    /// [`TraceConfig::from_flag_or_env`] with the environment only (the platform runtimes).
    pub fn from_env() -> anyhow::Result<Option<TraceConfig>> {
        Self::from_flag_or_env(None)
    }

    fn from_lookup(
        flag: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Option<TraceConfig>> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let (endpoint, source) = if let Some(base) = flag {
            (traces_url(base), "--otlp-endpoint")
        } else if let Some(url) = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            (url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        } else if let Some(base) = env("OTEL_EXPORTER_OTLP_ENDPOINT") {
            (traces_url(&base), "OTEL_EXPORTER_OTLP_ENDPOINT")
        } else {
            return Ok(None);
        };
        let endpoint = endpoint.trim().to_owned();
        match url::Url::parse(&endpoint) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => bail!(
                "{source}: {endpoint:?} is not an http:// or https:// URL; give the collector's OTLP/HTTP address, e.g. http://127.0.0.1:4318"
            ),
        }
        if let Some(protocol) =
            env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
            && protocol != "http/protobuf"
        {
            tracing::warn!(
                protocol,
                "edgefn exports traces over OTLP/HTTP with protobuf only; ignoring OTEL_EXPORTER_OTLP_PROTOCOL (point the endpoint at the collector's HTTP port, usually 4318)"
            );
        }
        let number = |name: &str, default: u64| -> anyhow::Result<u64> {
            match env(name) {
                None => Ok(default),
                Some(text) => text.trim().parse::<u64>().with_context(|| {
                    format!("{name}={text:?} is not a whole number; unset it or give one")
                }),
            }
        };
        let timeout_ms = match env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") {
            Some(_) => number("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", 0)?,
            None => number(
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                DEFAULT_EXPORT_TIMEOUT.as_millis() as u64,
            )?,
        };
        let queue_size = number("OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_QUEUE_SIZE as u64)?.max(1);
        let batch_size = number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_BATCH_SIZE as u64)?
            .clamp(1, queue_size);
        let headers = match [
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ]
        .into_iter()
        .find_map(|name| env(name).map(|text| (name, text)))
        {
            Some((name, text)) => ExportHeaders::parse(name, &text)?,
            None => ExportHeaders::default(),
        };
        Ok(Some(TraceConfig {
            endpoint,
            headers,
            service_name: env("OTEL_SERVICE_NAME").unwrap_or_else(|| DEFAULT_SERVICE_NAME.into()),
            queue_size: queue_size as usize,
            batch_size: batch_size as usize,
            schedule_delay: Duration::from_millis(
                number(
                    "OTEL_BSP_SCHEDULE_DELAY",
                    DEFAULT_SCHEDULE_DELAY.as_millis() as u64,
                )?
                .max(1),
            ),
            export_timeout: Duration::from_millis(timeout_ms.max(1)),
        }))
    }

    /// Starts the exporter thread; the returned tracer queues spans for it. Drops are counted in
    /// `metrics`.
    pub fn start(self, metrics: &Metrics) -> anyhow::Result<Arc<Tracer>> {
        let (queue, spans) = mpsc::channel(self.queue_size);
        let counters = Counters {
            exported: metrics.trace_spans_exported.clone(),
            queue_full: metrics.trace_spans_dropped("queue_full"),
            export_failed: metrics.trace_spans_dropped("export_failed"),
        };
        let dropped_queue_full = counters.queue_full.clone();
        tracing::info!(
            endpoint = %self.endpoint,
            service_name = %self.service_name,
            "exporting traces over OTLP/HTTP"
        );
        std::thread::Builder::new()
            .name("edgefn-traces".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::error!(%error, "cannot start the trace exporter; spans are dropped");
                        return;
                    }
                };
                runtime.block_on(run(self, spans, counters));
            })
            .context("cannot start the trace exporter thread")?;
        Ok(Arc::new(Tracer {
            queue,
            dropped_queue_full,
        }))
    }
}

/// `<base>/v1/traces`, as the OTel spec builds the traces URL from `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim().trim_end_matches('/'))
}

/// What the queue carries: spans, and a request to export everything queued now.
pub(crate) enum Message {
    Span(SpanRecord),
    Flush(std::sync::mpsc::Sender<()>),
}

/// Asks the exporter to send what is queued and waits for it, at most `limit`.
pub(crate) fn flush(queue: &mpsc::Sender<Message>, limit: Duration) {
    let (done, finished) = std::sync::mpsc::channel();
    let started = Instant::now();
    // The flush request queues behind the spans; when the queue is full, wait for room.
    loop {
        match queue.try_send(Message::Flush(done.clone())) {
            Ok(()) => break,
            Err(mpsc::error::TrySendError::Full(_)) if started.elapsed() < limit => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => return,
        }
    }
    let _ = finished.recv_timeout(limit.saturating_sub(started.elapsed()));
}

struct Counters {
    exported: Counter,
    queue_full: Counter,
    export_failed: Counter,
}

/// Rate-limits the warning about dropped spans: one at most every [`WARN_EVERY`], saying how many
/// were dropped since the last.
struct DropWarning {
    last: Option<Instant>,
    reported: u64,
}

impl DropWarning {
    fn maybe_warn(&mut self, counters: &Counters, endpoint: &str, why: Option<&str>) {
        let dropped = counters.queue_full.get() + counters.export_failed.get();
        if dropped == self.reported || self.last.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        tracing::warn!(
            endpoint,
            dropped = dropped - self.reported,
            queue_full = counters.queue_full.get(),
            export_failed = counters.export_failed.get(),
            error = why.unwrap_or(""),
            "trace spans dropped: the OTLP collector is not taking them fast enough (check that it runs at this endpoint); requests are not affected (edgefn_trace_spans_dropped_total counts every drop)"
        );
        self.last = Some(Instant::now());
        self.reported = dropped;
    }
}

async fn run(config: TraceConfig, mut spans: mpsc::Receiver<Message>, counters: Counters) {
    let client = ServiceClient::new(MAX_RESPONSE_BYTES);
    let mut warning = DropWarning {
        last: None,
        reported: 0,
    };
    let mut batch: Vec<SpanRecord> = Vec::with_capacity(config.batch_size);
    let mut flushes = Vec::new();
    let mut last_error: Option<String> = None;
    loop {
        // The first span of a batch waits as long as it takes; the rest until the delay passes.
        let deadline = tokio::time::Instant::now() + config.schedule_delay;
        let mut closed = false;
        while batch.len() < config.batch_size && flushes.is_empty() {
            let next = if batch.is_empty() {
                tokio::select! {
                    message = spans.recv() => message,
                    // Wake now and then to report drops even while nothing arrives.
                    _ = tokio::time::sleep(WARN_EVERY) => {
                        warning.maybe_warn(&counters, &config.endpoint, last_error.as_deref());
                        continue;
                    }
                }
            } else {
                match tokio::time::timeout_at(deadline, spans.recv()).await {
                    Ok(message) => message,
                    Err(_) => break,
                }
            };
            match next {
                Some(Message::Span(span)) => batch.push(span),
                Some(Message::Flush(done)) => flushes.push(done),
                None => {
                    closed = true;
                    break;
                }
            }
        }
        if !flushes.is_empty() {
            // Everything queued before the flush request is in the batch or still queued.
            while let Ok(message) = spans.try_recv() {
                match message {
                    Message::Span(span) => batch.push(span),
                    Message::Flush(done) => flushes.push(done),
                }
            }
        }
        for chunk in batch.chunks(config.batch_size) {
            match export(&client, &config, chunk).await {
                Ok(()) => {
                    counters.exported.inc_by(chunk.len() as u64);
                    last_error = None;
                }
                Err(error) => {
                    counters.export_failed.inc_by(chunk.len() as u64);
                    tracing::debug!(endpoint = %config.endpoint, spans = chunk.len(), %error, "trace export failed");
                    last_error = Some(error);
                }
            }
        }
        batch.clear();
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
        warning.maybe_warn(&counters, &config.endpoint, last_error.as_deref());
        if closed {
            return;
        }
    }
}

/// POSTs one batch; the error says what the collector did instead of taking it.
async fn export(
    client: &ServiceClient,
    config: &TraceConfig,
    spans: &[SpanRecord],
) -> Result<(), String> {
    let body = otlp::export_request(&config.service_name, spans);
    let mut request = Request::post(&config.endpoint)
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("cannot build the export request: {e}"))?;
    for (name, value) in &config.headers.0 {
        request.headers_mut().append(name.clone(), value.clone());
    }
    let response = client
        .send(request, config.export_timeout)
        .await
        .map_err(|e| e.message)?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "the collector answered {} ({})",
            response.status(),
            String::from_utf8_lossy(&response.body()[..response.body().len().min(200)])
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(flag: Option<&str>, vars: &[(&str, &str)]) -> anyhow::Result<Option<TraceConfig>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TraceConfig::from_lookup(flag, |name| vars.get(name).cloned())
    }

    #[test]
    fn endpoints_follow_the_otel_spec() {
        assert_eq!(config(None, &[]).unwrap(), None);
        let generic = config(None, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")])
            .unwrap()
            .unwrap();
        assert_eq!(generic.endpoint, "http://c:4318/v1/traces");
        assert_eq!(generic.service_name, "edgefn");
        assert_eq!(generic.export_timeout, DEFAULT_EXPORT_TIMEOUT);
        let specific = config(
            None,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://t/custom"),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(specific.endpoint, "https://t/custom");
        let flag = config(
            Some("http://f:4318"),
            &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://t/custom")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(flag.endpoint, "http://f:4318/v1/traces");
    }

    #[test]
    fn settings_come_from_the_standard_variables() {
        let c = config(
            Some("http://f"),
            &[
                ("OTEL_SERVICE_NAME", "shop"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "250"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "8"),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100"),
                ("OTEL_BSP_SCHEDULE_DELAY", "50"),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.service_name, "shop");
        assert_eq!(c.export_timeout, Duration::from_millis(250));
        assert_eq!((c.queue_size, c.batch_size), (8, 8));
        assert_eq!(c.schedule_delay, Duration::from_millis(50));
    }

    #[test]
    fn export_headers_are_read_and_kept_out_of_debug() {
        let c = config(
            Some("http://f"),
            &[
                ("OTEL_EXPORTER_OTLP_HEADERS", "ignored=1"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                    "x-api-key=se%20cret%2C1 , X-Team=a",
                ),
            ],
        )
        .unwrap()
        .unwrap();
        let headers: Vec<(&str, &str)> = c
            .headers
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(headers, [("x-api-key", "se cret,1"), ("x-team", "a")]);
        let shown = format!("{c:?}");
        assert!(
            shown.contains("x-api-key") && !shown.contains("cret"),
            "{shown}"
        );
        let error = config(
            Some("http://f"),
            &[("OTEL_EXPORTER_OTLP_HEADERS", "novalue")],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{error}");
    }

    #[test]
    fn bad_settings_name_the_variable() {
        let error = config(Some("collector:4318"), &[]).unwrap_err().to_string();
        assert!(error.contains("--otlp-endpoint"), "{error}");
        let error = config(Some("http://c"), &[("OTEL_BSP_MAX_QUEUE_SIZE", "lots")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("OTEL_BSP_MAX_QUEUE_SIZE"), "{error}");
    }
}
