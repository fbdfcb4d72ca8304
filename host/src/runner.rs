//! Runs a single deployed function outside the HTTP server: the shared core of `edgefn invoke` and
//! the platform adapters (AWS Lambda, Azure Functions), which each turn their platform's protocol
//! into an `http::Request` and call [`FunctionRunner::invoke`].

use crate::config::FunctionSpec;
use crate::guest_log::LogCapture;
use crate::invoke::{InvocationContext, InvokeError, invoke_observed};
use crate::registry::{Deployed, Registry};
use bytes::Bytes;
use http::{Request, Response};
use std::sync::Arc;
use std::time::SystemTime;

/// Platform names as they reach the guest (`Context::platform`).
pub mod platform {
    /// The edgefn host itself.
    pub const LOCAL: &str = "local";
    /// AWS Lambda.
    pub const AWS_LAMBDA: &str = "aws-lambda";
    /// Azure Functions.
    pub const AZURE_FUNCTIONS: &str = "azure-functions";
    /// Cloudflare Workers.
    pub const CLOUDFLARE_WORKERS: &str = "cloudflare-workers";
}

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

/// One function, deployed and loaded, ready to invoke.
pub struct FunctionRunner {
    registry: Arc<Registry>,
    deployed: Arc<Deployed>,
    platform: &'static str,
}

impl FunctionRunner {
    /// Deploys `spec` into `registry` (compiling or loading its artifact) for `platform`.
    pub fn deploy(
        registry: Arc<Registry>,
        spec: FunctionSpec,
        platform: &'static str,
    ) -> anyhow::Result<FunctionRunner> {
        let deployed = registry.prepare(spec)?;
        registry.publish([deployed.clone()]);
        Ok(FunctionRunner {
            registry,
            deployed,
            platform,
        })
    }

    /// The function's configuration.
    pub fn spec(&self) -> &FunctionSpec {
        &self.deployed.spec
    }

    /// The registry the function lives in.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Runs one invocation. Failures come back as [`InvokeError`], already logged by nobody: the
    /// caller decides how its platform reports them.
    pub async fn invoke(
        &self,
        request: &Request<Bytes>,
        call: &PlatformCall<'_>,
    ) -> Result<Response<Bytes>, InvokeError> {
        self.invoke_observed(request, call, |_, _| {}).await
    }

    /// [`FunctionRunner::invoke`], also handing the guest's captured stdout and stderr to
    /// `observe` (see [`invoke_observed`]).
    pub async fn invoke_observed(
        &self,
        request: &Request<Bytes>,
        call: &PlatformCall<'_>,
        observe: impl FnOnce(&LogCapture, &LogCapture),
    ) -> Result<Response<Bytes>, InvokeError> {
        let Some(_slot) = self.deployed.try_acquire() else {
            self.registry
                .metrics
                .record_refused(&self.deployed.spec.name);
            return Err(InvokeError::Overloaded(format!(
                "function {} is at its concurrency limit of {}",
                self.deployed.spec.name, self.deployed.spec.limits.max_concurrency
            )));
        };
        let resident = self
            .registry
            .resident(&self.deployed)
            .await
            .map_err(|e| InvokeError::Instantiate(format!("{e:#}")))?;
        let cx = InvocationContext {
            request_id: call.request_id,
            platform: self.platform,
            platform_deadline: call.deadline,
            cold_start: resident.take_cold_start(),
            traceparent: call.traceparent,
        };
        invoke_observed(&resident.function, request, &cx, observe).await
    }
}
