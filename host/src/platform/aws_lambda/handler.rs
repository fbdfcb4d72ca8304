//! The invocation loop: takes the next event from the Runtime API, runs the guest on it, posts
//! the result or the error, and goes on; nothing a guest or an event does ends the loop.

use super::context::{LambdaDeadline, traceparent_from_xray};
use super::errors::{ErrorReport, error_type};
use super::events::{EventShape, map_event};
use super::response::{self, Outcome};
use super::runtime_api::{Invocation, RuntimeApi};
use crate::deploy::invoker::{FunctionInvoker, PlatformCall};
use crate::runtime::error::FailureKind;
use std::time::{Instant, SystemTime};

/// Environment variable the X-Ray trace header of the current invocation is copied into, as every
/// Lambda runtime does (X-Ray SDKs read it).
pub(crate) const TRACE_ID_VAR: &str = "_X_AMZN_TRACE_ID";

/// Serves invocations of one function until the Runtime API fails.
pub(crate) struct Handler {
    api: RuntimeApi,
    runner: FunctionInvoker,
    /// The past-deadline quirk is logged once, not on every invocation.
    past_deadline_reported: bool,
}

/// Longest the runtime waits, between two invocations, for their trace spans to be exported.
const TRACE_FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

impl Handler {
    /// A handler posting to `api` the results of `runner`.
    pub(crate) fn new(api: RuntimeApi, runner: FunctionInvoker) -> Handler {
        Handler {
            api,
            runner,
            past_deadline_reported: false,
        }
    }

    /// Loops over invocations. Returns only when the Runtime API cannot be reached or refuses
    /// both a result and the error that replaces it; Lambda then restarts the environment.
    pub(crate) async fn serve(mut self) -> anyhow::Result<()> {
        loop {
            let invocation = self.api.next_invocation().await?;
            self.handle(invocation).await?;
            // Lambda freezes the environment once it asks for the next event: the invocation's
            // spans go out now, after its answer, or they would wait for the next thaw.
            if let Some(tracer) = self.runner.registry().tracer().cloned() {
                let _ = tokio::task::spawn_blocking(move || tracer.flush(TRACE_FLUSH_LIMIT)).await;
            }
        }
    }

    async fn handle(&mut self, invocation: Invocation) -> anyhow::Result<()> {
        let started = Instant::now();
        export_trace_id(invocation.trace_id.as_deref());
        let request_id = invocation.request_id.as_str();
        let (shape, outcome) = self.run(&invocation).await;
        let shape_name = shape.as_ref().map_or("invalid", EventShape::as_str);
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        match outcome {
            Outcome::Result(result) => {
                let limit = shape
                    .as_ref()
                    .map_or(response::MAX_RESULT_BYTES, response::max_result_bytes);
                if result.len() > limit {
                    let report = ErrorReport::new(
                        FailureKind::ResponseTooLarge.lambda_error_type(),
                        format!(
                            "the function's answer is {} bytes as a Lambda {shape_name} result, more than the {limit} bytes Lambda accepts; return less (or stream it from S3)",
                            result.len()
                        ),
                    );
                    return self
                        .report_error(request_id, shape_name, elapsed_ms, report)
                        .await;
                }
                let bytes = result.len();
                match self.api.post_response(request_id, result.into()).await {
                    Ok(()) => {
                        tracing::info!(
                            request_id,
                            event = shape_name,
                            bytes,
                            elapsed_ms = format_args!("{elapsed_ms:.2}"),
                            "invocation answered"
                        );
                        Ok(())
                    }
                    Err(error) => {
                        let report = ErrorReport::new(
                            FailureKind::BadResponse.lambda_error_type(),
                            format!("Lambda refused the function's answer: {error:#}"),
                        );
                        self.report_error(request_id, shape_name, elapsed_ms, report)
                            .await
                    }
                }
            }
            Outcome::Error(report) => {
                self.report_error(request_id, shape_name, elapsed_ms, report)
                    .await
            }
        }
    }

    /// Maps the event and runs the guest; every failure becomes an [`Outcome::Error`].
    async fn run(&mut self, invocation: &Invocation) -> (Option<EventShape>, Outcome) {
        let mapped = match map_event(&invocation.event) {
            Ok(mapped) => mapped,
            Err(invalid) => {
                let report = ErrorReport::new(error_type::INVALID_EVENT, invalid.to_string());
                return (None, Outcome::Error(report));
            }
        };
        for skipped in &mapped.skipped {
            tracing::warn!(request_id = %invocation.request_id, "left out of the request: {skipped}");
        }
        let deadline = self.deadline(invocation.deadline_ms);
        let traceparent = invocation
            .trace_id
            .as_deref()
            .and_then(traceparent_from_xray);
        let call = PlatformCall {
            request_id: &invocation.request_id,
            deadline,
            traceparent: traceparent.as_deref(),
        };
        let outcome = match self.runner.respond(&mapped.request, &call).await {
            Ok(answer) => response::encode(&mapped.shape, &answer),
            Err(error) => Outcome::Error(ErrorReport::from_invoke_error(&error)),
        };
        (Some(mapped.shape), outcome)
    }

    fn deadline(&mut self, deadline_ms: Option<u64>) -> Option<SystemTime> {
        let deadline = LambdaDeadline::from_header(deadline_ms, SystemTime::now());
        if let LambdaDeadline::InThePast(_) = deadline
            && !self.past_deadline_reported
        {
            self.past_deadline_reported = true;
            tracing::warn!(
                deadline_ms,
                own_limit_ms = self.runner.spec().limits().deadline.as_millis() as u64,
                "Lambda-Runtime-Deadline-Ms lies in the past (local emulators such as cargo-lambda send a constant); ignoring it and applying the function's own limit (logged once)"
            );
        }
        deadline.effective()
    }

    async fn report_error(
        &mut self,
        request_id: &str,
        shape_name: &str,
        elapsed_ms: f64,
        report: ErrorReport,
    ) -> anyhow::Result<()> {
        tracing::warn!(
            request_id,
            event = shape_name,
            error_type = report.error_type,
            elapsed_ms = format_args!("{elapsed_ms:.2}"),
            "invocation failed: {}",
            report.message
        );
        self.api.post_error(request_id, &report).await
    }
}

/// Sets (or clears) [`TRACE_ID_VAR`] for the invocation about to run.
#[allow(
    unsafe_code,
    reason = "std::env::set_var is unsafe; the SAFETY note below says why it is sound here"
)]
fn export_trace_id(trace_id: Option<&str>) {
    // SAFETY: the environment is only written here, on the runtime thread, between invocations:
    // no guest runs, and the process's other threads (the epoch ticker, idle Tokio workers) do not
    // read the environment after start-up.
    unsafe {
        match trace_id {
            Some(id) => std::env::set_var(TRACE_ID_VAR, id),
            None => std::env::remove_var(TRACE_ID_VAR),
        }
    }
}
