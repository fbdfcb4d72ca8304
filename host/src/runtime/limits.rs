//! Resource limits: the defaults every function gets, the hard ceilings no configuration can
//! raise, and the limiter that enforces memory and table caps inside a running instance.

use anyhow::bail;
use std::path::PathBuf;
use std::time::Duration;
use wasmtime::ResourceLimiter;

/// Wall-clock time a single invocation may run before it is stopped with 504.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
/// Linear memory a single instance may grow to before growth fails (then 500).
pub const DEFAULT_MEMORY_BYTES: u64 = 128 << 20;
/// Largest request body accepted (413 beyond). Matches Lambda's synchronous payload limit.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 6 << 20;
/// Largest response body a guest may return (500 beyond).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 << 20;
/// Invocations of one function running at once (503 with `Retry-After` beyond).
pub const DEFAULT_MAX_CONCURRENCY: usize = 256;
/// Guest stdout+stderr kept per invocation for the log; the rest is counted and dropped.
pub const DEFAULT_MAX_LOG_BYTES: usize = 64 << 10;
/// Warm mode: live instances kept per function for reuse.
pub const DEFAULT_WARM_MAX_INSTANCES: usize = 4;
/// Warm mode: invocations one instance serves before it is retired.
pub const DEFAULT_WARM_MAX_USES: u32 = 10_000;
/// Warm mode: an instance idle this long is retired instead of reused.
pub const DEFAULT_WARM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Outbound HTTP: one call's time limit when the guest gives none (never past the deadline).
pub const DEFAULT_OUTBOUND_TIMEOUT: Duration = Duration::from_secs(10);
/// Outbound HTTP: calls per invocation (Workers' free plan allows 50 subrequests).
pub const DEFAULT_OUTBOUND_MAX_REQUESTS: u32 = 50;
/// Outbound HTTP: largest upstream response body handed to the guest (`limit` beyond).
pub const DEFAULT_OUTBOUND_MAX_RESPONSE_BYTES: usize = 16 << 20;
/// Hard ceiling on `outbound.max_response_bytes`: a result must fit the guest's 32-bit memory
/// and `result_read`'s `i32` count with room to spare.
pub const MAX_OUTBOUND_RESPONSE_BYTES: usize = 1 << 30;
/// Hard ceiling on any function's memory limit: the pooling allocator reserves this per slot.
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;

/// Per-function resource limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock deadline per invocation.
    pub deadline: Duration,
    /// Linear memory cap per instance, in bytes.
    pub memory_bytes: u64,
    /// Request body cap, in bytes.
    pub max_request_bytes: usize,
    /// Response body cap, in bytes.
    pub max_response_bytes: usize,
    /// Concurrent invocations cap.
    pub max_concurrency: usize,
    /// Guest log bytes kept per invocation.
    pub max_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: DEFAULT_DEADLINE,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
        }
    }
}

/// Opt-in reuse of live instances (Lambda-style warm instances). Each instance still serves one
/// request at a time, but keeps its memory between requests, so a function that caches its
/// expensive initialisation pays for it once. Fresh instances per request stay the default because
/// they guarantee that nothing leaks from one request to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmConfig {
    /// Live instances kept at most.
    pub max_instances: usize,
    /// Invocations per instance before it is retired.
    pub max_uses: u32,
    /// Idle time after which an instance is retired.
    pub idle_timeout: Duration,
}

impl Default for WarmConfig {
    fn default() -> Self {
        WarmConfig {
            max_instances: DEFAULT_WARM_MAX_INSTANCES,
            max_uses: DEFAULT_WARM_MAX_USES,
            idle_timeout: DEFAULT_WARM_IDLE_TIMEOUT,
        }
    }
}

/// A directory the guest may read, and where it appears inside the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOnlyDir {
    /// Directory on the host.
    pub host: PathBuf,
    /// Path the guest opens it by, e.g. `/static`.
    pub guest: String,
}

/// Table elements a guest may grow its function table to (and declare at most).
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

impl Limits {
    /// Refuses limits no function may have; `who` names the function or manifest section.
    pub fn check(&self, who: &str) -> anyhow::Result<()> {
        if self.deadline.is_zero() {
            bail!("{who}: deadline_ms must be at least 1");
        }
        if self.memory_bytes == 0 || self.memory_bytes > MAX_MEMORY_BYTES {
            bail!(
                "{who}: memory_mb must be between 1 and {}",
                MAX_MEMORY_BYTES >> 20
            );
        }
        if self.max_concurrency == 0 {
            bail!("{who}: max_concurrency must be at least 1");
        }
        Ok(())
    }
}

impl WarmConfig {
    /// Refuses a pool that could never hold or reuse an instance.
    pub fn check(&self, who: &str) -> anyhow::Result<()> {
        if self.max_instances == 0 || self.max_uses == 0 {
            bail!(
                "{who}: warm.max_instances and warm.max_uses must be at least 1 (leave out [warm] for fresh instances)"
            );
        }
        Ok(())
    }
}

/// Caps linear memory and tables, and remembers whether it had to refuse growth so a resulting
/// trap can be reported as "memory limit" rather than a generic crash.
pub(crate) struct GuestLimiter {
    memory_cap: usize,
    denied_memory: bool,
}

impl GuestLimiter {
    /// A limiter allowing `memory_cap` bytes of linear memory.
    pub(crate) fn new(memory_cap: u64) -> GuestLimiter {
        GuestLimiter {
            memory_cap: usize::try_from(memory_cap).unwrap_or(usize::MAX),
            denied_memory: false,
        }
    }

    /// Whether growth was refused since the last [`GuestLimiter::rearm`].
    pub(crate) fn denied_memory(&self) -> bool {
        self.denied_memory
    }

    /// Forgets a refusal, for an instance reused by the next invocation.
    pub(crate) fn rearm(&mut self) {
        self.denied_memory = false;
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_cap;
        self.denied_memory |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
