//! Prometheus metrics: per-function invocations, failures by kind, latency and instantiation time,
//! outbound HTTP calls by outcome, plus artifact cache and loaded-function counters and the trace
//! spans exported or dropped. Served as text on the admin listener.

use super::error::FailureKind;
use edgefn_abi::ImportError;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry as PromRegistry;
use std::sync::Arc;
use std::time::Duration;

/// The outcome label of a successful invocation; failures are labelled by [`FailureKind::as_str`].
pub const OK_OUTCOME: &str = "ok";

/// Outcome label values in the order of [`FunctionMetrics`]' counters: `ok`, then every failure
/// kind, so no outcome can go uncounted or be counted under another's name.
fn outcomes() -> impl Iterator<Item = &'static str> {
    std::iter::once(OK_OUTCOME).chain(FailureKind::ALL.iter().map(|kind| kind.as_str()))
}

/// Outcome label values of outbound calls, in the order of [`FunctionMetrics`]' outbound
/// counters: `ok`, then the errors `http_send` returns.
const OUTBOUND_OUTCOMES: [Option<ImportError>; 7] = [
    None,
    Some(ImportError::Denied),
    Some(ImportError::Invalid),
    Some(ImportError::Limit),
    Some(ImportError::Timeout),
    Some(ImportError::Unavailable),
    Some(ImportError::Unsupported),
];

fn outbound_outcome(outcome: Option<ImportError>) -> &'static str {
    outcome.map_or(OK_OUTCOME, ImportError::as_str)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    function: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KvLabels {
    function: String,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FunctionLabels {
    function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    result: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 2 µs .. ~4 s in doublings: invocations span microseconds (fresh hello) to seconds (deadlines).
    Histogram::new(exponential_buckets(2e-6, 2.0, 22))
}

/// All of the host's metrics.
pub struct Metrics {
    registry: PromRegistry,
    invocations: Family<OutcomeLabels, Counter>,
    outbound: Family<OutcomeLabels, Counter>,
    kv: Family<KvLabels, Counter>,
    duration: HistogramFamily<FunctionLabels>,
    instantiation: HistogramFamily<FunctionLabels>,
    cache: Family<CacheLabels, Counter>,
    /// Functions loaded in memory now.
    pub loaded: Gauge,
    /// Functions evicted from memory so far.
    pub evicted: Counter,
    /// Functions deployed now.
    pub deployed: Gauge,
    /// Trace spans the OTLP collector took.
    pub trace_spans_exported: Counter,
    trace_spans_dropped: Family<DropLabels, Counter>,
}

/// Pre-resolved handles for one function, so recording an invocation allocates nothing.
pub struct FunctionMetrics {
    function: String,
    outcomes: Vec<Counter>,
    outbound: Vec<Counter>,
    kv: Family<KvLabels, Counter>,
    duration: Histogram,
    instantiation: Histogram,
}

impl FunctionMetrics {
    /// Records one invocation's outcome (`None` for success) and duration.
    pub fn record(&self, failure: Option<FailureKind>, took: Duration) {
        let index = match failure {
            None => 0,
            // `ALL` lists the kinds in declaration order (a test in `error.rs` holds it to that).
            Some(kind) => 1 + kind as usize,
        };
        self.outcomes[index].inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// Counts one outbound call by its outcome (`None` for a response, whatever its status).
    pub fn record_outbound(&self, outcome: Option<ImportError>) {
        if let Some(index) = OUTBOUND_OUTCOMES.iter().position(|o| *o == outcome) {
            self.outbound[index].inc();
        }
    }

    /// Counts one key-value call by operation and outcome (`None` for success). A call's own
    /// latency (a backend round trip) dwarfs the label lookup, so these are not pre-resolved.
    pub(crate) fn record_kv(
        &self,
        operation: crate::runtime::capabilities::kv::imports::Operation,
        outcome: Option<ImportError>,
    ) {
        self.kv
            .get_or_create(&KvLabels {
                function: self.function.clone(),
                operation: operation.as_str(),
                outcome: outcome.map_or(OK_OUTCOME, ImportError::as_str),
            })
            .inc();
    }

    /// Records the time to create and initialise an instance.
    pub fn record_instantiation(&self, took: Duration) {
        self.instantiation.observe(took.as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = PromRegistry::with_prefix("edgefn");
        let invocations = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "invocations",
            "Invocations by function and outcome",
            invocations.clone(),
        );
        let outbound = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "outbound_requests",
            "Outbound HTTP calls by function and outcome",
            outbound.clone(),
        );
        let kv = Family::<KvLabels, Counter>::default();
        registry.register(
            "kv_operations",
            "Key-value calls by function, operation and outcome",
            kv.clone(),
        );
        let duration: HistogramFamily<FunctionLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "invocation_duration_seconds",
            "Invocation time, instance creation to response",
            duration.clone(),
        );
        let instantiation: HistogramFamily<FunctionLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "instantiation_duration_seconds",
            "Time to create and initialise an instance",
            instantiation.clone(),
        );
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "artifact_cache",
            "Module loads by artifact cache result (hit, compiled, rebuilt)",
            cache.clone(),
        );
        let loaded = Gauge::default();
        registry.register(
            "functions_loaded",
            "Functions loaded in memory",
            loaded.clone(),
        );
        let evicted = Counter::default();
        registry.register(
            "functions_evicted",
            "Functions evicted from memory",
            evicted.clone(),
        );
        let deployed = Gauge::default();
        registry.register("functions_deployed", "Functions deployed", deployed.clone());
        let trace_spans_exported = Counter::default();
        registry.register(
            "trace_spans_exported",
            "Trace spans the OTLP collector accepted",
            trace_spans_exported.clone(),
        );
        let trace_spans_dropped = Family::<DropLabels, Counter>::default();
        registry.register(
            "trace_spans_dropped",
            "Trace spans dropped, by reason: queue_full (the export queue was full), export_failed (the collector refused, was unreachable or too slow)",
            trace_spans_dropped.clone(),
        );
        Metrics {
            registry,
            invocations,
            outbound,
            kv,
            duration,
            instantiation,
            cache,
            loaded,
            evicted,
            deployed,
            trace_spans_exported,
            trace_spans_dropped,
        }
    }
}

impl Metrics {
    /// Handles for `function`'s series (created on first use, shared afterwards).
    pub fn function(&self, function: &str) -> Arc<FunctionMetrics> {
        let labels = FunctionLabels {
            function: function.to_owned(),
        };
        Arc::new(FunctionMetrics {
            function: function.to_owned(),
            kv: self.kv.clone(),
            outcomes: outcomes()
                .map(|outcome| {
                    self.invocations
                        .get_or_create(&OutcomeLabels {
                            function: function.to_owned(),
                            outcome,
                        })
                        .clone()
                })
                .collect(),
            outbound: OUTBOUND_OUTCOMES
                .iter()
                .map(|&outcome| {
                    self.outbound
                        .get_or_create(&OutcomeLabels {
                            function: function.to_owned(),
                            outcome: outbound_outcome(outcome),
                        })
                        .clone()
                })
                .collect(),
            duration: self.duration.get_or_create(&labels).clone(),
            instantiation: self.instantiation.get_or_create(&labels).clone(),
        })
    }

    /// Counts a request refused before it ran (the function at its concurrency limit) as
    /// `outcome="overload"`, without timing it.
    pub fn record_refused(&self, function: &str) {
        self.invocations
            .get_or_create(&OutcomeLabels {
                function: function.to_owned(),
                outcome: FailureKind::Overload.as_str(),
            })
            .inc();
    }

    /// The counter of trace spans dropped for `reason` (`queue_full`, `export_failed`).
    pub(crate) fn trace_spans_dropped(&self, reason: &'static str) -> Counter {
        self.trace_spans_dropped
            .get_or_create(&DropLabels { reason })
            .clone()
    }

    /// Counts one module load by its artifact cache result (`hit`, `compiled`, `rebuilt`).
    pub fn record_cache(&self, result: &'static str) {
        self.cache.get_or_create(&CacheLabels { result }).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_show_up_in_the_exposition() {
        let metrics = Metrics::default();
        let f = metrics.function("hello");
        f.record(None, Duration::from_micros(5));
        f.record(Some(FailureKind::Timeout), Duration::from_secs(1));
        f.record(None, Duration::from_micros(7));
        metrics.record_cache("hit");
        metrics.record_refused("hello");
        let text = metrics.render();
        assert!(
            text.contains(r#"edgefn_invocations_total{function="hello",outcome="ok"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"edgefn_invocations_total{function="hello",outcome="timeout"} 1"#));
        assert!(text.contains(r#"edgefn_artifact_cache_total{result="hit"} 1"#));
        assert!(
            text.contains(r#"edgefn_invocations_total{function="hello",outcome="overload"} 1"#)
        );
        assert!(text.contains("edgefn_invocation_duration_seconds_count{function=\"hello\"} 3"));
        f.record_outbound(None);
        f.record_outbound(Some(ImportError::Denied));
        f.record_outbound(Some(ImportError::Denied));
        let text = metrics.render();
        assert!(
            text.contains(r#"edgefn_outbound_requests_total{function="hello",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"edgefn_outbound_requests_total{function="hello",outcome="denied"} 2"#)
        );
        assert!(text.contains(
            r#"edgefn_outbound_requests_total{function="hello",outcome="unsupported"} 0"#
        ));
    }
}
