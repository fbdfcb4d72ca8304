//! `edgefn_v1.kv_get`, `kv_set`, `kv_delete`, `kv_exists`, `kv_list`: the guest's calls into its
//! function's key-value stores (`docs/abi.md`, "Key-value store"). Every argument is checked here,
//! in the order the Workers shim checks them, before the platform's backend sees the call: the
//! invocation (none while initializing: `unsupported`), the memory ranges, the store's name and
//! grant, the key, value, TTL, cursor and limit, the per-invocation operation count; the backend
//! call then runs within the invocation's deadline. Each call is counted and logged (function,
//! request id, operation, store, outcome, duration; never a key or a value).

use super::{KvBackend, KvError, KvGrant, KvPage};
use crate::runtime::capabilities::pending::{Pending, read_guest};
use crate::runtime::metrics::FunctionMetrics;
use crate::runtime::sandbox::HostState;
use edgefn_abi::imports::{KV_DELETE, KV_EXISTS, KV_GET, KV_LIST, KV_SET, MODULE};
use edgefn_abi::{ImportError, KvListEnvelope, kv};
use std::sync::Arc;
use std::time::Instant;
use wasmtime::{Caller, Linker};

/// A function's access to the key-value store: what it is granted, the platform's backend, where
/// its calls are counted. Shared by its instances.
pub(crate) struct FunctionKv {
    /// The function's name, for logs.
    pub(crate) function: String,
    /// Its stores and per-invocation operation cap.
    pub(crate) grant: KvGrant,
    /// The platform's store.
    pub(crate) backend: Arc<dyn KvBackend>,
    /// Where its calls are counted.
    pub(crate) metrics: Arc<FunctionMetrics>,
}

/// The operations, as logs and metrics name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Get,
    Set,
    Delete,
    Exists,
    List,
}

impl Operation {
    /// Its name in logs and metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::Set => "set",
            Operation::Delete => "delete",
            Operation::Exists => "exists",
            Operation::List => "list",
        }
    }

    fn import(self) -> &'static str {
        match self {
            Operation::Get => KV_GET,
            Operation::Set => KV_SET,
            Operation::Delete => KV_DELETE,
            Operation::Exists => KV_EXISTS,
            Operation::List => KV_LIST,
        }
    }
}

/// Adds the `kv_*` imports to the linker.
pub(crate) fn link(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.func_wrap_async(
        MODULE,
        KV_GET,
        |mut caller: Caller<'_, HostState>, (sp, sl, kp, kl): (i32, i32, i32, i32)| {
            Box::new(async move {
                let call = Call::keyed(Operation::Get, sp, sl, kp, kl);
                call.run(&mut caller).await
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        KV_SET,
        |mut caller: Caller<'_, HostState>,
         (sp, sl, kp, kl, vp, vl, ttl): (i32, i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let mut call = Call::keyed(Operation::Set, sp, sl, kp, kl);
                call.value = (vp as u32, vl as u32);
                call.ttl_seconds = ttl as u32;
                call.run(&mut caller).await
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        KV_DELETE,
        |mut caller: Caller<'_, HostState>, (sp, sl, kp, kl): (i32, i32, i32, i32)| {
            Box::new(async move {
                let call = Call::keyed(Operation::Delete, sp, sl, kp, kl);
                call.run(&mut caller).await
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        KV_EXISTS,
        |mut caller: Caller<'_, HostState>, (sp, sl, kp, kl): (i32, i32, i32, i32)| {
            Box::new(async move {
                let call = Call::keyed(Operation::Exists, sp, sl, kp, kl);
                call.run(&mut caller).await
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        KV_LIST,
        |mut caller: Caller<'_, HostState>,
         (sp, sl, pp, pl, cp, cl, limit): (i32, i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let mut call = Call::keyed(Operation::List, sp, sl, pp, pl);
                call.cursor = (cp as u32, cl as u32);
                call.limit = limit as u32;
                call.run(&mut caller).await
            })
        },
    )?;
    Ok(())
}

/// One call's arguments as the guest passed them: guest memory ranges and numbers.
struct Call {
    operation: Operation,
    store: (u32, u32),
    /// The key, or for `list` the prefix.
    key: (u32, u32),
    value: (u32, u32),
    cursor: (u32, u32),
    ttl_seconds: u32,
    limit: u32,
}

/// What the backend is asked, after every check passed.
enum Checked {
    Get(String, String),
    Set(String, String, Vec<u8>, u32),
    Delete(String, String),
    Exists(String, String),
    List(String, String, Option<String>, u32),
}

/// What the backend answered, before it becomes a pending result.
enum Answer {
    Value(Option<Vec<u8>>),
    Done,
    Present(bool),
    Page(KvPage),
}

fn invalid(message: impl Into<String>) -> KvError {
    KvError::new(ImportError::Invalid, message)
}

fn refused(rule: kv::Refused) -> KvError {
    invalid(rule.0)
}

impl Call {
    fn keyed(operation: Operation, sp: i32, sl: i32, kp: i32, kl: i32) -> Call {
        Call {
            operation,
            store: (sp as u32, sl as u32),
            key: (kp as u32, kl as u32),
            value: (0, 0),
            cursor: (0, 0),
            ttl_seconds: 0,
            limit: 0,
        }
    }

    /// Runs the call: its result (or error message) becomes the pending result; it is counted and
    /// logged.
    async fn run(self, caller: &mut Caller<'_, HostState>) -> i64 {
        let started = Instant::now();
        let operation = self.operation;
        let mut store_name = String::new();
        let result = self.checked_call(caller, &mut store_name).await;
        let imports = &mut caller.data_mut().imports;
        let (code, pending, outcome) = match result {
            Ok(Answer::Value(Some(value))) => (value.len() as i64, value, None),
            Ok(Answer::Value(None)) | Ok(Answer::Present(false)) => (
                i64::from(ImportError::NotFound.code()),
                b"the key is not in the store".to_vec(),
                Some(ImportError::NotFound),
            ),
            Ok(Answer::Done) | Ok(Answer::Present(true)) => (0, Vec::new(), None),
            Ok(Answer::Page(page)) => {
                let envelope = KvListEnvelope {
                    keys: page.keys.iter().map(String::as_str).collect(),
                    cursor: page.cursor.as_deref().unwrap_or(""),
                }
                .encode();
                (envelope.len() as i64, envelope, None)
            }
            Err(error) => (
                i64::from(error.kind.code()),
                error.message.into_bytes(),
                Some(error.kind),
            ),
        };
        let message = match outcome {
            Some(kind) if kind != ImportError::NotFound => {
                Some(String::from_utf8_lossy(&pending).into_owned())
            }
            _ => None,
        };
        imports.pending = Some(Pending::Bytes(pending));
        let outcome_name = outcome.map_or("ok", ImportError::as_str);
        let Some(kv) = &imports.kv else {
            tracing::debug!(
                operation = operation.as_str(),
                outcome = outcome_name,
                "key-value call refused while pre-initializing"
            );
            return code;
        };
        kv.metrics.record_kv(operation, outcome);
        let request_id = imports
            .invocation
            .as_ref()
            .map(|i| i.request_id.as_str())
            .unwrap_or("");
        let duration_ms = format_args!("{:.2}", started.elapsed().as_secs_f64() * 1e3);
        match message {
            None => tracing::debug!(
                function = %kv.function,
                request_id,
                operation = operation.as_str(),
                store = %store_name,
                outcome = outcome_name,
                duration_ms = %duration_ms,
                "key-value call"
            ),
            Some(error) => tracing::info!(
                function = %kv.function,
                request_id,
                operation = operation.as_str(),
                store = %store_name,
                outcome = outcome_name,
                error = %error,
                duration_ms = %duration_ms,
                "key-value call failed"
            ),
        }
        code
    }

    /// Checks the call, then asks the backend within the invocation's deadline.
    async fn checked_call(
        &self,
        caller: &mut Caller<'_, HostState>,
        store_name: &mut String,
    ) -> Result<Answer, KvError> {
        let imports = &mut caller.data_mut().imports;
        // A new call discards a result that was not read.
        imports.pending = None;
        let (Some(kv), Some(invocation)) = (imports.kv.clone(), imports.invocation.as_ref()) else {
            return Err(KvError::new(
                ImportError::Unsupported,
                format!(
                    "edgefn_v1.{} is not available while the module initializes (_initialize, edgefn_v1_init): call it from the handler",
                    self.operation.import()
                ),
            ));
        };
        let deadline = invocation.deadline;
        let checked = self.check(caller, &kv.grant, store_name)?;
        // Only calls that reach the backend count, as for outbound requests.
        let invocation = caller
            .data_mut()
            .imports
            .invocation
            .as_mut()
            .expect("checked above");
        if invocation.kv_operations >= kv.grant.max_operations {
            return Err(KvError::new(
                ImportError::Limit,
                format!(
                    "this invocation already made kv.max_operations ({}) key-value calls",
                    kv.grant.max_operations
                ),
            ));
        }
        invocation.kv_operations += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let backend = &kv.backend;
        let call = async {
            match checked {
                Checked::Get(store, key) => backend.get(&store, &key).await.map(Answer::Value),
                Checked::Set(store, key, value, ttl) => backend
                    .set(&store, &key, &value, ttl)
                    .await
                    .map(|()| Answer::Done),
                Checked::Delete(store, key) => {
                    backend.delete(&store, &key).await.map(|()| Answer::Done)
                }
                Checked::Exists(store, key) => {
                    backend.exists(&store, &key).await.map(Answer::Present)
                }
                Checked::List(store, prefix, cursor, limit) => backend
                    .list(&store, &prefix, cursor.as_deref(), limit)
                    .await
                    .map(Answer::Page),
            }
        };
        match tokio::time::timeout(remaining, call).await {
            Ok(answer) => answer,
            Err(_) => Err(KvError::new(
                ImportError::Timeout,
                format!(
                    "{} did not answer before the invocation's deadline",
                    backend.describe()
                ),
            )),
        }
    }

    /// Reads and checks every argument, in the shim's order.
    fn check(
        &self,
        caller: &mut Caller<'_, HostState>,
        grant: &KvGrant,
        store_name: &mut String,
    ) -> Result<Checked, KvError> {
        let read = |caller: &mut Caller<'_, HostState>, (ptr, len): (u32, u32), what: &str| {
            read_guest(caller, ptr, len).ok_or_else(|| {
                invalid(format!(
                    "the {what} at ({ptr}, {len}) is not inside the guest's memory"
                ))
            })
        };
        let store = read(caller, self.store, "store name")?;
        let key = read(caller, self.key, self.key_name())?;
        let value = match self.operation {
            Operation::Set => read(caller, self.value, "value")?,
            _ => Vec::new(),
        };
        let cursor = match self.operation {
            Operation::List => read(caller, self.cursor, "cursor")?,
            _ => Vec::new(),
        };
        let store = String::from_utf8(store)
            .map_err(|_| invalid("the store name is not UTF-8: store names are a-z, 0-9 and _"))?;
        kv::check_store_name(&store).map_err(refused)?;
        store_name.clone_from(&store);
        if !grant.grants(&store) {
            return Err(KvError::new(
                ImportError::Denied,
                format!(
                    "store {store:?} is not granted to this function: add it to kv.stores in the manifest (EDGEFN_KV_STORES on a platform)"
                ),
            ));
        }
        Ok(match self.operation {
            Operation::List => {
                let prefix = kv::check_prefix(&key).map_err(refused)?.to_owned();
                let cursor = kv::check_cursor(&cursor).map_err(refused)?;
                let cursor = (!cursor.is_empty()).then(|| cursor.to_owned());
                let limit = kv::check_list_limit(self.limit).map_err(refused)?;
                Checked::List(store, prefix, cursor, limit)
            }
            operation => {
                let key = kv::check_key(&key).map_err(refused)?.to_owned();
                match operation {
                    Operation::Get => Checked::Get(store, key),
                    Operation::Delete => Checked::Delete(store, key),
                    Operation::Exists => Checked::Exists(store, key),
                    _ => {
                        kv::check_value(&value).map_err(refused)?;
                        kv::check_ttl(self.ttl_seconds).map_err(refused)?;
                        Checked::Set(store, key, value, self.ttl_seconds)
                    }
                }
            }
        })
    }

    fn key_name(&self) -> &'static str {
        match self.operation {
            Operation::List => "prefix",
            _ => "key",
        }
    }
}
