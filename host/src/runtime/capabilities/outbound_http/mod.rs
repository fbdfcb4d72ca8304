//! `edgefn_v1.http_send`: one outbound HTTP request from the guest, under its function's policy
//! (`docs/abi.md`, "Outbound HTTP"). The import is async: the guest's fiber is suspended while the
//! request runs, so a slow upstream holds no worker thread. Every call is counted and logged
//! (function, request id, method, host, status or error, duration; never a body or a header value),
//! and, when traces are exported, recorded as a CLIENT span whose context the callee receives in
//! `traceparent`.

pub(crate) mod address;
pub(crate) mod client;
pub mod policy;
pub(crate) mod pool;

use super::pending::{Pending, read_guest};
use crate::runtime::sandbox::HostState;
use crate::runtime::traces::{ActiveSpan, Started, TraceContext};
use bytes::Bytes;
use client::{CallError, FunctionClient};
use edgefn_abi::imports::{HTTP_SEND, MODULE};
use edgefn_abi::{HttpRequestEnvelope, ImportError};
use http::uri::Authority;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use policy::Refusal;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Caller, Linker};

/// Request headers the host sets or frames itself; a guest that sends one gets `invalid`.
const HOST_OWNED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

/// W3C trace context; a constant, as a name from a `&str` is parsed on every use.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Adds `http_send` to the linker.
pub(crate) fn link(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.func_wrap_async(
        MODULE,
        HTTP_SEND,
        |mut caller: Caller<'_, HostState>, (ptr, len): (i32, i32)| {
            Box::new(async move { http_send(&mut caller, ptr as u32, len as u32).await })
        },
    )?;
    Ok(())
}

/// What the log says about a call, filled in as it becomes known; cheap to fill, since every
/// call is logged: a standard method and the target's authority are clones without a copy. It is
/// held while the call waits, so what most calls lack is boxed.
#[derive(Default)]
struct Seen {
    method: Option<Method>,
    /// The URL's authority, once the policy allowed it.
    target: Option<Authority>,
    /// What the guest wrote, for a call refused before it had a method or an allowed URL.
    refused: Option<Box<Refused>>,
    status: Option<u16>,
    /// The call's span (its context, the invocation's span, when it was sent), if traced.
    span: Option<Box<(TraceContext, ActiveSpan, Started)>>,
}

/// The guest's own words for what a refused call lacked.
#[derive(Default)]
struct Refused {
    /// The method as the guest wrote it, when it is not one.
    method: Option<String>,
    /// The host of a URL the policy refused, when it has one.
    host: Option<String>,
}

impl Seen {
    fn method(&self) -> &str {
        match (&self.method, &self.refused) {
            (Some(method), _) => method.as_str(),
            (None, Some(refused)) => refused.method.as_deref().unwrap_or_default(),
            (None, None) => "",
        }
    }

    /// The host as the URL spells it (an IPv6 address in brackets).
    fn host(&self) -> &str {
        match (&self.target, &self.refused) {
            (Some(authority), _) => authority.host(),
            (None, Some(refused)) => refused.host.as_deref().unwrap_or_default(),
            (None, None) => "",
        }
    }

    fn refused(&mut self) -> &mut Refused {
        self.refused.get_or_insert_default()
    }
}

/// One call: its result becomes the pending result, its outcome is counted and logged.
async fn http_send(caller: &mut Caller<'_, HostState>, ptr: u32, len: u32) -> i64 {
    let started = Instant::now();
    let mut seen = Seen::default();
    // The call's parts are bound one by one, not kept as a struct: this future (boxed for every
    // call) holds what is live while the call waits, and by then the request is inside the
    // client's future.
    let result = 'call: {
        let Prepared {
            client,
            request,
            timeout,
            why_timeout,
        } = match prepare(caller, ptr, len, started, &mut seen) {
            Ok(prepared) => prepared,
            Err(error) => break 'call Err(error),
        };
        let result = client.send(request, started, timeout, why_timeout).await;
        // What went out counts against the invocation's budget (`prepare` checks it).
        let refused = matches!(&result, Err(e) if matches!(e.kind, ImportError::Denied | ImportError::Invalid));
        if !refused && let Some(invocation) = caller.data_mut().imports.invocation.as_mut() {
            invocation.sent += 1;
        }
        result.inspect(|response| seen.status = Some(response.status().as_u16()))
    };
    let imports = &mut caller.data_mut().imports;
    let (code, outcome, message) = match result {
        Ok(response) => {
            let pending = Pending::http_response(response);
            let code = pending.len() as i64;
            imports.pending = Some(pending);
            (code, Ok(()), None)
        }
        Err(error) => {
            let message = error.message;
            imports.pending = Some(Pending::Bytes(message.clone().into_bytes()));
            (i64::from(error.kind.code()), Err(error.kind), Some(message))
        }
    };
    if let Some(span) = seen.span.take() {
        let (call, parent, started) = *span;
        let ended = match (seen.status, outcome) {
            (Some(status), _) => Ok(status),
            (None, Err(kind)) => Err((kind.as_str(), message.clone().unwrap_or_default())),
            (None, Ok(())) => Ok(0),
        };
        parent.finish_outbound(call, started, seen.method(), seen.host(), ended);
    }
    let request_id = imports
        .invocation
        .as_ref()
        .map(|i| i.request_id.as_str())
        .unwrap_or("");
    let duration_ms = format_args!("{:.2}", started.elapsed().as_secs_f64() * 1e3);
    let outcome_name = match outcome {
        Ok(()) => "ok",
        Err(kind) => kind.as_str(),
    };
    // A pre-initialization run serves no function: nothing to count it under.
    let Some(client) = &imports.outbound else {
        tracing::debug!(
            outcome = outcome_name,
            "outbound call refused while pre-initializing"
        );
        return code;
    };
    client.metrics.record_outbound(outcome.err());
    match (seen.status, message) {
        (Some(status), _) => tracing::info!(
            function = %client.function,
            request_id,
            method = seen.method(),
            host = seen.host(),
            status,
            duration_ms = %duration_ms,
            "outbound request"
        ),
        (None, message) => tracing::info!(
            function = %client.function,
            request_id,
            method = seen.method(),
            host = seen.host(),
            outcome = outcome_name,
            error = message.as_deref().unwrap_or(""),
            duration_ms = %duration_ms,
            "outbound request failed"
        ),
    }
    code
}

/// A call the policy allows, ready to go out.
struct Prepared {
    client: Arc<FunctionClient>,
    request: Request<Full<Bytes>>,
    timeout: Duration,
    why_timeout: &'static str,
}

/// Reads and checks one call from the guest's envelope, without waiting for anything: the
/// request to send, or why there is none. Apart from [`http_send`], so that what only the checks
/// need (the envelope and its copy of guest memory) is not held while the call waits.
fn prepare(
    caller: &mut Caller<'_, HostState>,
    ptr: u32,
    len: u32,
    started: Instant,
    seen: &mut Seen,
) -> Result<Prepared, CallError> {
    let imports = &mut caller.data_mut().imports;
    // A new call discards a result that was not read.
    imports.pending = None;
    let (Some(client), Some(invocation)) = (imports.outbound.clone(), imports.invocation.as_mut())
    else {
        return Err(CallError::new(
            ImportError::Unsupported,
            "edgefn_v1.http_send is not available while the module initializes (_initialize, edgefn_v1_init): call it from the handler",
        ));
    };
    let (deadline, sent) = (invocation.deadline, invocation.sent);
    // Traced, the callee's parent is this call's own span; otherwise the invocation's context
    // passes on as it came.
    let (traceparent, traced) = match &invocation.trace {
        Some(span) => {
            let call = span.child();
            (Some(call.header()), Some((call, span.clone())))
        }
        None => (invocation.traceparent.clone(), None),
    };
    let bytes = read_guest(caller, ptr, len)
        .map(Bytes::from)
        .ok_or_else(|| {
            CallError::new(
                ImportError::Invalid,
                format!("the request envelope at ({ptr}, {len}) is not inside the guest's memory"),
            )
        })?;
    let envelope = HttpRequestEnvelope::decode(&bytes).map_err(|e| {
        CallError::new(
            ImportError::Invalid,
            format!("the request envelope does not decode ({}: {e})", e.as_str()),
        )
    })?;
    match Method::from_bytes(envelope.method.as_bytes()) {
        Ok(method) => seen.method = Some(method),
        Err(_) => seen.refused().method = Some(envelope.method.to_owned()),
    }
    // The log names the host also when the URL is refused; parsing a URL is a few µs (IDNA), so
    // an allowed one is parsed once.
    let url = match client.policy.check_url(envelope.url) {
        Ok(url) => url,
        Err(refusal) => {
            seen.refused().host = url::Url::parse(envelope.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned));
            return Err(match refusal {
                Refusal::Invalid(message) => CallError::new(ImportError::Invalid, message),
                Refusal::Denied(message) => CallError::new(ImportError::Denied, message),
            });
        }
    };
    if envelope.body.len() > client.max_request_bytes {
        return Err(CallError::new(
            ImportError::Limit,
            format!(
                "the request body ({} bytes) is larger than the function's max_request_bytes ({})",
                envelope.body.len(),
                client.max_request_bytes
            ),
        ));
    }
    let request = build_request(
        seen.method.clone(),
        &envelope,
        url.into_string(),
        bytes.slice_ref(envelope.body),
        traceparent,
    )?;
    // Only requests that go out count, as Workers counts subrequests: one refused before it is
    // sent (invalid, denied, over a body cap) costs nothing of the budget.
    if sent >= client.policy.max_requests {
        return Err(CallError::new(
            ImportError::Limit,
            format!(
                "this invocation already sent outbound.max_requests ({}) requests",
                client.policy.max_requests
            ),
        ));
    }
    let (timeout, why_timeout) = call_timeout(&client, envelope.timeout_ms, deadline, started);
    seen.target = request.uri().authority().cloned();
    seen.span = traced.map(|(call, span)| Box::new((call, span, Started::now())));
    Ok(Prepared {
        client,
        request,
        timeout,
        why_timeout,
    })
}

/// The call's timeout from `started` and where it came from: the envelope's, else the function's,
/// and never past the invocation's deadline.
fn call_timeout(
    client: &Arc<FunctionClient>,
    requested_ms: u32,
    deadline: Instant,
    started: Instant,
) -> (Duration, &'static str) {
    let (wanted, why) = match requested_ms {
        0 => (client.policy.timeout, "outbound.timeout_ms"),
        ms => (
            Duration::from_millis(u64::from(ms)),
            "the request's timeout",
        ),
    };
    let remaining = deadline.saturating_duration_since(started);
    if remaining < wanted {
        (remaining, "the invocation's deadline")
    } else {
        (wanted, why)
    }
}

fn invalid(message: String) -> CallError {
    CallError::new(ImportError::Invalid, message)
}

/// The request as hyper sends it; the headers the host owns are refused, the invocation's
/// `traceparent` added when the guest sent none.
fn build_request(
    method: Option<Method>,
    envelope: &HttpRequestEnvelope<'_>,
    url: String,
    body: Bytes,
    traceparent: Option<String>,
) -> Result<Request<Full<Bytes>>, CallError> {
    let method =
        method.ok_or_else(|| invalid(format!("{:?} is not an HTTP method", envelope.method)))?;
    // The URL's own buffer becomes the URI's: no copy.
    let uri = Uri::from_maybe_shared(Bytes::from(url))
        .map_err(|e| invalid(format!("the URL cannot be sent: {e}")))?;
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    for (name, value) in &envelope.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(format!("{name:?} is not a valid header name")))?;
        if HOST_OWNED_HEADERS.contains(&name.as_str()) {
            return Err(invalid(format!(
                "the {name} header is set by the host (it sets host from the URL and frames the body itself): leave it out"
            )));
        }
        let value = HeaderValue::from_bytes(value).map_err(|_| {
            invalid(format!(
                "the value of header {name} is not a valid header value"
            ))
        })?;
        headers.append(name, value);
    }
    if let Some(traceparent) = traceparent
        && !headers.contains_key(&TRACEPARENT)
        && let Ok(value) = HeaderValue::from_str(&traceparent)
    {
        headers.insert(TRACEPARENT, value);
    }
    Ok(request)
}
