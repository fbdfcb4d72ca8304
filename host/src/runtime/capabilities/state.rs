//! What the `edgefn_v1` imports keep per instance: the function's outbound client and key-value
//! access, the invocation
//! being served (none while the module initializes, so a call there is `unsupported`), and the one
//! pending result that `result_read` hands over (`docs/abi.md`, "Host imports"), and whether the
//! instance is the one a snapshot is taken of.

use super::kv::imports::FunctionKv;
use super::outbound_http::client::FunctionClient;
use super::pending::Pending;
use super::snapshot_decline::SnapshotRun;
use crate::runtime::traces::ActiveSpan;
use std::sync::Arc;
use std::time::Instant;

/// Per-instance state of the `edgefn_v1` imports, in `HostState`.
pub(crate) struct ImportState {
    /// The function's outbound HTTP; `None` in a pre-initialization run, which serves no function.
    pub(crate) outbound: Option<Arc<FunctionClient>>,
    /// The function's key-value stores; `None` in a pre-initialization run.
    pub(crate) kv: Option<Arc<FunctionKv>>,
    /// The invocation being served; `None` while the module initializes.
    pub(crate) invocation: Option<InvocationScope>,
    /// The result of the last call until the guest reads it.
    pub(crate) pending: Option<Pending>,
    /// The guest's memory, once the instance is made (else the imports look its export up).
    pub(crate) memory: Option<wasmtime::Memory>,
    /// Whether this instance's state becomes a snapshot ([`SnapshotRun::None`] but in the
    /// pre-initialization run).
    pub(crate) snapshot: SnapshotRun,
}

/// What the imports know about the invocation they serve.
pub(crate) struct InvocationScope {
    /// Its request id, for the log.
    pub(crate) request_id: String,
    /// Its W3C `traceparent`, passed on to outbound requests that carry none.
    pub(crate) traceparent: Option<String>,
    /// Its span, when traces are exported: each outbound call records a child span and passes
    /// that span's context on instead of `traceparent`.
    pub(crate) trace: Option<ActiveSpan>,
    /// When it must end; no call outlasts it.
    pub(crate) deadline: Instant,
    /// Outbound requests sent so far (calls refused before they went out do not count).
    pub(crate) sent: u32,
    /// Key-value calls that reached the backend so far.
    pub(crate) kv_operations: u32,
}

impl ImportState {
    /// The state of a new instance: not serving an invocation yet.
    pub(crate) fn new(
        outbound: Option<Arc<FunctionClient>>,
        kv: Option<Arc<FunctionKv>>,
    ) -> ImportState {
        ImportState {
            outbound,
            kv,
            invocation: None,
            pending: None,
            memory: None,
            snapshot: SnapshotRun::None,
        }
    }

    /// An invocation starts: its own call count and no pending result, so a warm instance's
    /// previous invocation leaves nothing behind.
    pub(crate) fn begin(
        &mut self,
        request_id: &str,
        traceparent: Option<&str>,
        trace: Option<&ActiveSpan>,
        deadline: Instant,
    ) {
        self.pending = None;
        self.invocation = Some(InvocationScope {
            request_id: request_id.to_owned(),
            traceparent: traceparent.map(str::to_owned),
            trace: trace.cloned(),
            deadline,
            sent: 0,
            kv_operations: 0,
        });
    }

    /// The invocation ended: calls are refused until the next one begins.
    pub(crate) fn end(&mut self) {
        self.pending = None;
        self.invocation = None;
    }
}
