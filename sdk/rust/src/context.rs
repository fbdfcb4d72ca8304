//! The invocation context: who is calling, on which platform, and until when.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Deadline of a context built for tests, or of an envelope that carries none.
pub(crate) const DEFAULT_TEST_DEADLINE: Duration = Duration::from_secs(30);

/// The platform a function runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platform {
    /// The edgefn host (`edgefn serve` or `edgefn invoke`).
    Local,
    /// AWS Lambda, through the edgefn custom runtime.
    AwsLambda,
    /// Azure Functions, as a custom handler.
    AzureFunctions,
    /// Cloudflare Workers, through the JavaScript shim.
    CloudflareWorkers,
    /// A platform this SDK version does not know yet, by its ABI name.
    Other(String),
}

impl Platform {
    /// The name used on the wire (`local`, `aws-lambda`, `azure-functions`, `cloudflare-workers`).
    pub fn as_str(&self) -> &str {
        match self {
            Platform::Local => edgefn_abi::Platform::Local.as_str(),
            Platform::AwsLambda => edgefn_abi::Platform::AwsLambda.as_str(),
            Platform::AzureFunctions => edgefn_abi::Platform::AzureFunctions.as_str(),
            Platform::CloudflareWorkers => edgefn_abi::Platform::CloudflareWorkers.as_str(),
            Platform::Other(name) => name,
        }
    }

    /// Parses a wire name; unknown names become [`Platform::Other`].
    pub fn from_wire(name: &str) -> Platform {
        match edgefn_abi::Platform::from_wire(name) {
            Some(edgefn_abi::Platform::Local) => Platform::Local,
            Some(edgefn_abi::Platform::AwsLambda) => Platform::AwsLambda,
            Some(edgefn_abi::Platform::AzureFunctions) => Platform::AzureFunctions,
            Some(edgefn_abi::Platform::CloudflareWorkers) => Platform::CloudflareWorkers,
            None => Platform::Other(name.to_owned()),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a handler knows about its invocation. The same fields exist on every platform.
#[derive(Debug, Clone)]
pub struct Context {
    request_id: String,
    function_name: String,
    platform: Platform,
    deadline: SystemTime,
    cold_start: bool,
    traceparent: Option<String>,
}

impl Context {
    /// Starts a context for unit tests: platform `local`, a 30-second deadline, not a cold start.
    pub fn builder() -> ContextBuilder {
        ContextBuilder {
            context: Context {
                request_id: "test-request".to_owned(),
                function_name: "test-function".to_owned(),
                platform: Platform::Local,
                deadline: SystemTime::now() + DEFAULT_TEST_DEADLINE,
                cold_start: false,
                traceparent: None,
            },
        }
    }

    /// Unique id of this invocation (on Lambda the AWS request id, on Azure the invocation id, on
    /// Workers the `cf-ray`).
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The function's deployed name.
    pub fn function_name(&self) -> &str {
        &self.function_name
    }

    /// The platform this invocation runs on.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// When the platform stops this invocation.
    pub fn deadline(&self) -> SystemTime {
        self.deadline
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }

    /// True on the first invocation of this execution environment.
    pub fn is_cold_start(&self) -> bool {
        self.cold_start
    }

    /// The W3C `traceparent` of the incoming request, when it carried one.
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_deref()
    }

    /// A configured variable. The host fills the environment from the function's configuration only,
    /// never from its own environment, so this is the same as `std::env::var(name).ok()`.
    pub fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    /// Builds a context from ABI v1 context pairs; missing fields get neutral values.
    pub(crate) fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Context {
        use edgefn_abi::context_key as key;
        // Built field by field: the builder's defaults would cost a clock read (a host call) and
        // two throwaway strings on every request.
        let mut context = Context {
            request_id: String::new(),
            function_name: String::new(),
            platform: Platform::Local,
            deadline: UNIX_EPOCH,
            cold_start: false,
            traceparent: None,
        };
        let mut has_deadline = false;
        for (k, v) in pairs {
            match k {
                key::REQUEST_ID => context.request_id = v.to_owned(),
                key::FUNCTION_NAME => context.function_name = v.to_owned(),
                key::PLATFORM => context.platform = Platform::from_wire(v),
                key::DEADLINE_MS => {
                    if let Ok(ms) = v.parse::<u64>() {
                        context.deadline = UNIX_EPOCH + Duration::from_millis(ms);
                        has_deadline = true;
                    }
                }
                key::COLD_START => context.cold_start = v == "true",
                key::TRACEPARENT => context.traceparent = Some(v.to_owned()),
                _ => {}
            }
        }
        if !has_deadline {
            context.deadline = SystemTime::now() + DEFAULT_TEST_DEADLINE;
        }
        context
    }
}

/// Builds a [`Context`] for unit tests.
#[derive(Debug, Clone)]
pub struct ContextBuilder {
    context: Context,
}

impl ContextBuilder {
    /// Sets the request id.
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.context.request_id = id.into();
        self
    }
    /// Sets the function name.
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.context.function_name = name.into();
        self
    }
    /// Sets the platform.
    pub fn platform(mut self, platform: Platform) -> Self {
        self.context.platform = platform;
        self
    }
    /// Sets the deadline.
    pub fn deadline(mut self, deadline: SystemTime) -> Self {
        self.context.deadline = deadline;
        self
    }
    /// Marks the invocation as a cold start.
    pub fn cold_start(mut self, cold: bool) -> Self {
        self.context.cold_start = cold;
        self
    }
    /// Sets the `traceparent`.
    pub fn traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.context.traceparent = Some(traceparent.into());
        self
    }
    /// Finishes the context.
    pub fn build(self) -> Context {
        self.context
    }
}
