//! Guests of ABI v1: core modules built on the edgefn SDKs (`edgefn_v1_alloc`, `edgefn_v1_handle`,
//! optional `edgefn_v1_init`), as `docs/abi.md` specifies. One invocation: a fresh instance (or,
//! for functions that opted into warm mode, a reused one), the request envelope written into guest
//! memory, the handler called under its deadline and memory cap, the response envelope read back
//! and checked. By default nothing survives the call, so no state leaks between requests.

use super::abi_v1_exports::{ExportShape, Scalar, check_exports};
use super::warm::{WarmInstance, WarmPool};
use super::{Budget, Captures, InvocationContext, LoadedFunction};
use crate::runtime::capabilities::kv::imports::FunctionKv;
use crate::runtime::capabilities::outbound_http::client::FunctionClient;
use crate::runtime::capabilities::{Backends, import_modules_listed};
use crate::runtime::error::InvokeError;
use crate::runtime::metrics::FunctionMetrics;
use crate::runtime::sandbox::{self, Bounds, Grants, HostState, call_constructor, classify_error};
use crate::runtime::spec::FunctionSpec;
use anyhow::Context as _;
use bytes::Bytes;
use edgefn_abi::{
    ALLOC_EXPORT, HANDLE_EXPORT, INIT_EXPORT, RequestEnvelope, ResponseEnvelope, context_key,
    unpack_ptr_len,
};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use wasmtime::{
    Extern, ExternType, Instance, InstancePre, Linker, Memory, Module, ModuleExport, Store,
    TypedFunc, ValType,
};

/// Export indices of the ABI v1 entry points, resolved once per module.
#[derive(Clone)]
pub(crate) struct AbiExports {
    /// `memory`.
    pub memory: ModuleExport,
    /// `edgefn_v1_alloc`.
    pub alloc: ModuleExport,
    /// `edgefn_v1_handle`.
    pub handle: ModuleExport,
    /// `_initialize`, the reactor constructor, when the module has one.
    pub initialize: Option<ModuleExport>,
    /// `edgefn_v1_init`, when the module has one and was not pre-initialized (a snapshot no
    /// longer exports it).
    pub init: Option<ModuleExport>,
}

/// An ABI v1 module, pre-instantiated for fresh instances.
pub(crate) struct AbiV1Function {
    /// The module, linked against every capability.
    pub pre: InstancePre<HostState>,
    /// Its ABI entry points.
    pub exports: AbiExports,
    /// Live instances kept for reuse (empty unless the function opted into warm mode).
    pub warm: WarmPool<LiveInstance>,
    /// Its outbound HTTP client, shared by its instances (pooled connections included).
    pub outbound: Arc<FunctionClient>,
    /// Its key-value stores, shared by its instances.
    pub(crate) kv: Arc<FunctionKv>,
}

impl AbiV1Function {
    /// Checks the module's ABI and links it.
    pub(crate) fn new(
        spec: &FunctionSpec,
        module: &Module,
        linker: &Linker<HostState>,
        metrics: Arc<FunctionMetrics>,
        backends: &Backends,
    ) -> anyhow::Result<AbiV1Function> {
        let exports = check_abi(spec.name(), module, spec.limits().memory_bytes)?;
        let pre = linker.instantiate_pre(module).map_err(|e| {
            anyhow::anyhow!(
                "function {:?} cannot be linked: {e} (edgefn provides imports from {} only)",
                spec.name(),
                import_modules_listed()
            )
        })?;
        Ok(AbiV1Function {
            pre,
            exports,
            warm: WarmPool::new(spec.warm().cloned()),
            outbound: Arc::new(FunctionClient::new(
                spec.name(),
                spec.outbound().clone(),
                spec.limits().max_request_bytes,
                metrics.clone(),
            )),
            kv: Arc::new(FunctionKv {
                function: spec.name().to_owned(),
                grant: spec.kv().clone(),
                backend: backends.kv.clone(),
                metrics,
            }),
        })
    }

    /// One invocation, on a warm instance when one is idle, else on a fresh one.
    pub(crate) async fn invoke(
        &self,
        func: &LoadedFunction,
        request: &Request<Bytes>,
        cx: &InvocationContext<'_>,
        budget: &Budget,
    ) -> (Result<Response<Bytes>, InvokeError>, Captures) {
        let spec = &func.spec;
        let mut live = match self.warm.take() {
            Some(mut live) => {
                sandbox::rearm(&mut live.store, budget.deadline);
                live
            }
            None => {
                let captures = Captures::new(spec.limits().max_log_bytes);
                let starting = Instant::now();
                match LiveInstance::start(self, spec, budget, &captures).await {
                    Ok(live) => {
                        func.metrics.record_instantiation(starting.elapsed());
                        live
                    }
                    Err(error) => return (Err(error), captures),
                }
            }
        };
        live.store.data_mut().imports.begin(
            cx.request_id,
            cx.traceparent,
            cx.trace,
            budget.deadline,
        );
        let result = live.call(spec, request, cx, budget).await;
        live.store.data_mut().imports.end();
        let captures = Captures {
            stdout: live.store.data().stdout.clone(),
            stderr: live.store.data().stderr.clone(),
        };
        // A trap, timeout or bad response may have left the instance in any state: retire it.
        if result.is_ok() {
            self.warm.put(live);
        }
        (result, captures)
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An instance with its ABI entry points resolved, ready to serve calls.
pub(crate) struct LiveInstance {
    store: Store<HostState>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    handle: TypedFunc<(u32, u32), u64>,
    /// Invocations served so far.
    pub uses: u32,
    /// When it last finished an invocation.
    pub last_used: Instant,
}

impl WarmInstance for LiveInstance {
    fn uses(&self) -> u32 {
        self.uses
    }

    fn last_used(&self) -> Instant {
        self.last_used
    }
}

impl LiveInstance {
    /// Creates an instance from the function's `InstancePre` and runs its `_initialize` (and its
    /// init, unless a snapshot already holds its result), all within the invocation's deadline.
    async fn start(
        function: &AbiV1Function,
        spec: &FunctionSpec,
        budget: &Budget,
        output: &Captures,
    ) -> Result<LiveInstance, InvokeError> {
        let memory_cap = spec.limits().memory_bytes;
        let bounds = Bounds {
            memory_cap,
            deadline: budget.deadline,
            stdout: &output.stdout,
            stderr: &output.stderr,
        };
        let grants = Grants::of(spec, &function.outbound, &function.kv);
        let mut store = sandbox::new_store(function.pre.module().engine(), &grants, &bounds)?;
        let instance = function
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| {
                if e.is::<wasmtime::PoolConcurrencyLimitError>() {
                    InvokeError::Overloaded(e.to_string())
                } else {
                    match classify_error(&store, e, budget.budget, memory_cap) {
                        InvokeError::Trap(detail) => InvokeError::Instantiate(detail),
                        other => other,
                    }
                }
            })?;
        let exports = &function.exports;
        let (memory, alloc, handle) = entry_points(&mut store, &instance, exports)
            .map_err(|e| InvokeError::Instantiate(e.to_string()))?;
        store.data_mut().imports.memory = Some(memory);
        // The reactor constructor, then (unless a snapshot already holds its result) the guest's
        // own init, as ABI v1 orders them.
        for (export, what) in [
            (&exports.initialize, "_initialize"),
            (&exports.init, INIT_EXPORT),
        ] {
            let Some(export) = export else { continue };
            let init = instance
                .get_module_export(&mut store, export)
                .and_then(Extern::into_func)
                .ok_or_else(|| InvokeError::Instantiate(format!("{what} is not a function")))?;
            call_constructor(&mut store, init, budget.budget, memory_cap).await?;
        }
        Ok(LiveInstance {
            store,
            memory,
            alloc,
            handle,
            uses: 0,
            last_used: Instant::now(),
        })
    }

    /// One request through the ABI: alloc, write the envelope, handle, read the response.
    async fn call(
        &mut self,
        spec: &FunctionSpec,
        request: &Request<Bytes>,
        cx: &InvocationContext<'_>,
        budget: &Budget,
    ) -> Result<Response<Bytes>, InvokeError> {
        let Budget { now, budget, .. } = *budget;
        let memory_cap = spec.limits().memory_bytes;
        self.uses += 1;
        let deadline_ms = unix_ms(now + budget).to_string();
        let mut context = vec![
            (context_key::REQUEST_ID, cx.request_id),
            (context_key::FUNCTION_NAME, spec.name()),
            (context_key::PLATFORM, cx.platform.as_str()),
            (context_key::DEADLINE_MS, deadline_ms.as_str()),
            (
                context_key::COLD_START,
                if cx.cold_start { "true" } else { "false" },
            ),
        ];
        if let Some(traceparent) = cx.traceparent {
            context.push((context_key::TRACEPARENT, traceparent));
        }
        let uri = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        let envelope = RequestEnvelope {
            context,
            method: request.method().as_str(),
            uri,
            headers: request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_bytes()))
                .collect(),
            body: request.body(),
        };
        let len = envelope.encoded_len();
        let len32 = u32::try_from(len).map_err(|_| InvokeError::RequestTooLarge(len))?;
        let store = &mut self.store;
        let ptr = self
            .alloc
            .call_async(&mut *store, len32)
            .await
            .map_err(|e| classify_error(store, e, budget, memory_cap))?;
        if ptr == 0 {
            return Err(if store.data().limiter.denied_memory() {
                InvokeError::MemoryLimit(memory_cap)
            } else {
                InvokeError::BadResponse(format!(
                    "{} could not allocate {len} bytes",
                    edgefn_abi::ALLOC_EXPORT
                ))
            });
        }
        let target = self
            .memory
            .data_mut(&mut *store)
            .get_mut(ptr as usize..ptr as usize + len)
            .ok_or_else(|| {
                InvokeError::BadResponse(format!(
                    "{} returned an out-of-bounds pointer",
                    edgefn_abi::ALLOC_EXPORT
                ))
            })?;
        envelope.encode_into(target);
        drop(envelope);

        let packed = self
            .handle
            .call_async(&mut *store, (ptr, len32))
            .await
            .map_err(|e| classify_error(store, e, budget, memory_cap))?;
        let (out_ptr, out_len) = unpack_ptr_len(packed);
        let (out_ptr, out_len) = (out_ptr as usize, out_len as usize);
        // Envelope overhead aside, the body cannot exceed the envelope, so this bounds the copy.
        let envelope_limit = spec.limits().max_response_bytes.saturating_add(1 << 20);
        if out_len > envelope_limit {
            return Err(InvokeError::ResponseTooLarge {
                size: out_len,
                limit: spec.limits().max_response_bytes,
            });
        }
        let bytes = self
            .memory
            .data(&*store)
            .get(out_ptr..out_ptr.saturating_add(out_len))
            .ok_or_else(|| {
                InvokeError::BadResponse("response envelope lies outside guest memory".into())
            })?;
        let decoded =
            ResponseEnvelope::decode(bytes).map_err(|e| InvokeError::BadResponse(e.to_string()))?;
        if decoded.body.len() > spec.limits().max_response_bytes {
            return Err(InvokeError::ResponseTooLarge {
                size: decoded.body.len(),
                limit: spec.limits().max_response_bytes,
            });
        }
        let response = to_http_response(&decoded);
        self.last_used = Instant::now();
        response
    }
}

type EntryPoints = (Memory, TypedFunc<u32, u32>, TypedFunc<(u32, u32), u64>);

fn entry_points(
    store: &mut Store<HostState>,
    instance: &Instance,
    exports: &AbiExports,
) -> wasmtime::Result<EntryPoints> {
    let missing = || wasmtime::Error::msg("an ABI export disappeared after load");
    let memory = instance
        .get_module_export(&mut *store, &exports.memory)
        .and_then(Extern::into_memory)
        .ok_or_else(missing)?;
    let alloc = instance
        .get_module_export(&mut *store, &exports.alloc)
        .and_then(Extern::into_func)
        .ok_or_else(missing)?
        .typed(&*store)?;
    let handle = instance
        .get_module_export(&mut *store, &exports.handle)
        .and_then(Extern::into_func)
        .ok_or_else(missing)?
        .typed(&*store)?;
    Ok((memory, alloc, handle))
}

/// An export's shape for the ABI v1 rules.
fn shape(ty: &ExternType) -> ExportShape {
    let scalar = |ty: ValType| match ty {
        ValType::I32 => Scalar::I32,
        ValType::I64 => Scalar::I64,
        _ => Scalar::Other,
    };
    match ty {
        ExternType::Func(f) => ExportShape::Func {
            params: f.params().map(scalar).collect(),
            results: f.results().map(scalar).collect(),
        },
        ExternType::Memory(memory) => ExportShape::Memory {
            plain: !memory.is_64() && !memory.is_shared(),
            initial_bytes: memory.minimum().saturating_mul(memory.page_size()),
        },
        _ => ExportShape::Other,
    }
}

/// Checks that `module` implements edgefn ABI v1 and returns its entry points. Errors name the
/// function and say what was expected.
pub(crate) fn check_abi(
    name: &str,
    module: &Module,
    memory_cap: u64,
) -> anyhow::Result<AbiExports> {
    let exports: Vec<(&str, ExportShape)> = module
        .exports()
        .map(|export| (export.name(), shape(&export.ty())))
        .collect();
    check_exports(name, &exports, memory_cap)?;
    let index = |export: &str| {
        module
            .get_export_index(export)
            .with_context(|| format!("function {name:?}: export {export} vanished"))
    };
    Ok(AbiExports {
        memory: index("memory")?,
        alloc: index(ALLOC_EXPORT)?,
        handle: index(HANDLE_EXPORT)?,
        initialize: optional_func(module, "_initialize"),
        init: optional_func(module, INIT_EXPORT),
    })
}

fn optional_func(module: &Module, name: &str) -> Option<ModuleExport> {
    match module.get_export(name)? {
        ExternType::Func(_) => module.get_export_index(name),
        _ => None,
    }
}

fn to_http_response(envelope: &ResponseEnvelope<'_>) -> Result<Response<Bytes>, InvokeError> {
    let status = StatusCode::from_u16(envelope.status)
        .map_err(|_| InvokeError::BadResponse(format!("status {}", envelope.status)))?;
    let mut response = Response::new(Bytes::copy_from_slice(envelope.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.reserve(envelope.headers.len());
    for (name, value) in &envelope.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| InvokeError::BadResponse(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_bytes(value)
            .map_err(|_| InvokeError::BadResponse(format!("invalid value for header {name}")))?;
        headers.append(name, value);
    }
    Ok(response)
}
