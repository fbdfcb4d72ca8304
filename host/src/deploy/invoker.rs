//! The one admission path every front end takes (the local server, each platform adapter,
//! `edgefn invoke`): a concurrency slot, the function's loaded form (reloaded if it was evicted),
//! the cold-start flag, the invocation context for its platform, then the invocation itself.
//! Front ends only turn their protocol into an `http::Request` and the [`Invocation`] back.

use super::registry::{Deployed, InFlight, Registry};
use crate::runtime::error::InvokeError;
use crate::runtime::guest::{
    GuestOutput, Invocation, InvocationContext, ResponseBody, invoke_capturing, invoke_streaming,
};
use crate::runtime::metrics::OK_OUTCOME;
use crate::runtime::spec::FunctionSpec;
use crate::runtime::traces::{ActiveSpan, InvocationEnd};
use bytes::Bytes;
use edgefn_abi::Platform;
use http::{Request, Response, StatusCode};
use std::sync::Arc;
use std::time::SystemTime;

/// What the platform says about one invocation.
#[derive(Debug, Clone, Default)]
pub struct PlatformCall<'a> {
    /// The platform's request id (generated if the platform has none).
    pub request_id: &'a str,
    /// The platform's deadline, if any; the function's own limit applies as well.
    pub deadline: Option<SystemTime>,
    /// W3C `traceparent`, if known.
    pub traceparent: Option<&'a str>,
}

/// Invokes the functions of one registry on behalf of one platform.
#[derive(Clone)]
pub struct Invoker {
    registry: Arc<Registry>,
    platform: Platform,
}

/// A request that holds one of its function's concurrency slots until dropped.
pub struct Admitted {
    deployed: Arc<Deployed>,
    _slot: InFlight,
}

impl Admitted {
    /// The function it was admitted to.
    pub fn deployed(&self) -> &Arc<Deployed> {
        &self.deployed
    }
}

impl Invoker {
    /// Invokes functions of `registry`, telling guests they run on `platform`.
    pub fn new(registry: Arc<Registry>, platform: Platform) -> Invoker {
        Invoker { registry, platform }
    }

    /// The registry it invokes from.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Takes a concurrency slot of `deployed`, or refuses (counted as an overload) when the
    /// function is at its `max_concurrency`. Front ends admit before reading a request body, so a
    /// refused request costs nothing more.
    pub fn admit(&self, deployed: &Arc<Deployed>) -> Result<Admitted, InvokeError> {
        match deployed.try_acquire() {
            Some(slot) => Ok(Admitted {
                deployed: deployed.clone(),
                _slot: slot,
            }),
            None => {
                self.registry.metrics.record_refused(deployed.spec.name());
                Err(InvokeError::ConcurrencyLimit(
                    deployed.spec.limits().max_concurrency,
                ))
            }
        }
    }

    /// Runs an admitted request: loads the function if it was evicted, then invokes it on a fresh
    /// (or warm) instance. Failures come back in the [`Invocation`], logged by nobody yet: the
    /// caller reports them as its platform does.
    pub async fn run(
        &self,
        admitted: &Admitted,
        request: &Request<Bytes>,
        call: &PlatformCall<'_>,
    ) -> Invocation {
        let span = self.begin_span(call);
        let (invocation, cold_start) = match self.registry.resident(&admitted.deployed).await {
            Ok(resident) => {
                let cx = self.context(call, resident.take_cold_start(), span.as_ref());
                let invocation = invoke_capturing(&resident.function, request, &cx).await;
                (invocation, cx.cold_start)
            }
            Err(error) => (
                Invocation {
                    result: Err(load_failed(error)),
                    output: GuestOutput::default(),
                },
                true,
            ),
        };
        if let Some(span) = &span {
            let status = invocation.result.as_ref().map(|r| r.status());
            let end = Ended::new(&admitted.deployed, call, request, cold_start, status);
            end.finish(self.platform, span, invocation.result.as_ref().err());
        }
        invocation
    }

    /// [`Invoker::run`] for a front end that streams: a component's body may still be coming
    /// when this returns, and the slot is held (and the trace span open) until it ends.
    pub async fn run_streaming(
        &self,
        admitted: Admitted,
        request: &Request<Bytes>,
        call: &PlatformCall<'_>,
    ) -> Result<Response<ResponseBody>, InvokeError> {
        let span = self.begin_span(call);
        let (result, cold_start) = match self.registry.resident(&admitted.deployed).await {
            Ok(resident) => {
                let cx = self.context(call, resident.take_cold_start(), span.as_ref());
                let result = invoke_streaming(&resident.function, request, &cx).await;
                (result, cx.cold_start)
            }
            Err(error) => (Err(load_failed(error)), true),
        };
        let status = result.as_ref().map(|r| r.status());
        let end = Ended::new(&admitted.deployed, call, request, cold_start, status);
        let mut result = result;
        if let Ok(response) = &mut result
            && let ResponseBody::Streaming(stream) = response.body_mut()
        {
            let platform = self.platform;
            stream.on_end(move |failure| {
                if let Some(span) = &span {
                    end.finish(platform, span, failure);
                }
                drop(admitted);
            });
        } else if let Some(span) = &span {
            end.finish(self.platform, span, result.as_ref().err());
        }
        result
    }

    fn begin_span(&self, call: &PlatformCall<'_>) -> Option<ActiveSpan> {
        self.registry
            .tracer()
            .and_then(|tracer| tracer.begin(call.traceparent))
    }

    fn context<'a>(
        &self,
        call: &PlatformCall<'a>,
        cold_start: bool,
        trace: Option<&'a ActiveSpan>,
    ) -> InvocationContext<'a> {
        InvocationContext {
            request_id: call.request_id,
            platform: self.platform,
            platform_deadline: call.deadline,
            cold_start,
            traceparent: call.traceparent,
            trace,
        }
    }
}

fn load_failed(error: anyhow::Error) -> InvokeError {
    InvokeError::Load(format!("{error:#}"))
}

/// What an invocation's trace span records when it ends, owned so a streamed body can carry it.
struct Ended {
    function: String,
    request_id: String,
    method: String,
    path: String,
    cold_start: bool,
    /// The status answered, when a response was.
    status: Option<u16>,
}

impl Ended {
    fn new(
        deployed: &Deployed,
        call: &PlatformCall<'_>,
        request: &Request<Bytes>,
        cold_start: bool,
        status: Result<StatusCode, &InvokeError>,
    ) -> Ended {
        Ended {
            function: deployed.spec.name().to_owned(),
            request_id: call.request_id.to_owned(),
            method: request.method().as_str().to_owned(),
            path: request.uri().path().to_owned(),
            cold_start,
            status: status.ok().map(|status| status.as_u16()),
        }
    }

    fn finish(&self, platform: Platform, span: &ActiveSpan, failure: Option<&InvokeError>) {
        let (status, outcome, error) = match failure {
            None => (self.status.unwrap_or_default(), OK_OUTCOME, None),
            Some(error) => (
                self.status.unwrap_or(error.status().as_u16()),
                error.kind().as_str(),
                Some(error.to_string()),
            ),
        };
        span.finish(InvocationEnd {
            function: &self.function,
            platform: platform.as_str(),
            request_id: &self.request_id,
            method: &self.method,
            path: &self.path,
            cold_start: self.cold_start,
            status,
            outcome,
            error,
        });
    }
}

/// An [`Invoker`] bound to one deployed function: what the single-function front ends hold (the
/// AWS Lambda runtime, the Azure Functions handler, `edgefn invoke`).
pub struct FunctionInvoker {
    invoker: Invoker,
    deployed: Arc<Deployed>,
}

impl FunctionInvoker {
    /// Invokes `deployed` through `invoker`.
    pub fn new(invoker: Invoker, deployed: Arc<Deployed>) -> FunctionInvoker {
        FunctionInvoker { invoker, deployed }
    }

    /// The function's configuration.
    pub fn spec(&self) -> &FunctionSpec {
        &self.deployed.spec
    }

    /// The registry the function lives in.
    pub fn registry(&self) -> &Arc<Registry> {
        self.invoker.registry()
    }

    /// [`Invoker::admit`] for this function.
    pub fn admit(&self) -> Result<Admitted, InvokeError> {
        self.invoker.admit(&self.deployed)
    }

    /// Admits and runs one invocation.
    pub async fn invoke(&self, request: &Request<Bytes>, call: &PlatformCall<'_>) -> Invocation {
        match self.admit() {
            Ok(admitted) => self.invoker.run(&admitted, request, call).await,
            Err(error) => Invocation {
                result: Err(error),
                output: GuestOutput::default(),
            },
        }
    }

    /// [`FunctionInvoker::invoke`], for callers that need only the response.
    pub async fn respond(
        &self,
        request: &Request<Bytes>,
        call: &PlatformCall<'_>,
    ) -> Result<Response<Bytes>, InvokeError> {
        self.invoke(request, call).await.result
    }
}
