//! Fake hosts for native tests of code that uses a [`Store`](super::Store).
//!
//! In a native build a store goes through the same calls, pending results and error mapping as
//! in Wasm, but the host at the bottom is installed for the current thread. Outside
//! [`with_memory`] or [`with_raw_host`] there is none and every call fails with
//! [`ErrorKind::Unsupported`].
//!
//! ```
//! use edgefn::kv::{ErrorKind, Store, testing::{self, Memory}};
//!
//! let memory = Memory::new().grant("default");
//! testing::with_memory(&memory, || {
//!     let store = Store::open("default").unwrap();
//!     store.set("greeting", "hello").unwrap();
//!     assert_eq!(store.get("greeting").unwrap().as_deref(), Some(&b"hello"[..]));
//!     let other = Store::open("other").unwrap();
//!     assert_eq!(other.get("greeting").unwrap_err().kind(), ErrorKind::Denied);
//! });
//! assert_eq!(memory.value("default", "greeting").as_deref(), Some(&b"hello"[..]));
//! ```

use super::ErrorKind;
use crate::imports::{KvHost, replace_kv_host};
use edgefn_abi::{ImportError, KvListEnvelope, kv};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

pub use crate::imports::KvCall as Call;

/// What a raw fake host given to [`with_raw_host`] answers: the import's result (`>= 0`: the
/// size of the pending result; `< 0`: an error code) and the pending bytes.
pub type RawAnswer = (i64, Vec<u8>);

/// The code a fake's [`ErrorKind::Other`] becomes: one no ABI version defines.
pub const OTHER_CODE: i64 = -1000;

/// An error answer for [`with_raw_host`]: the kind's code and its message.
pub fn error(kind: ErrorKind, message: &str) -> RawAnswer {
    (
        kind.code().unwrap_or(OTHER_CODE),
        message.as_bytes().to_vec(),
    )
}

/// A store in memory that answers as every edgefn host does: the contract's checks (store
/// names, keys, value sizes, TTLs, page sizes), grants, byte-ordered keys, the last returned
/// key as the cursor, and expiry by the system clock. Cloning shares the contents, so a test can
/// look at what the code under test stored.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    inner: Rc<RefCell<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    granted: Vec<String>,
    /// `(store, key)` → (expiry, value).
    entries: BTreeMap<(String, String), (Option<SystemTime>, Vec<u8>)>,
}

impl Memory {
    /// An empty store granting nothing.
    pub fn new() -> Memory {
        Memory::default()
    }

    /// Grants the store `name` (as the manifest's `kv.stores` does).
    pub fn grant(self, name: &str) -> Memory {
        self.inner.borrow_mut().granted.push(name.to_owned());
        self
    }

    /// The live value of `key` in `store`, for a test's assertions.
    pub fn value(&self, store: &str, key: &str) -> Option<Vec<u8>> {
        let inner = self.inner.borrow();
        inner
            .entries
            .get(&(store.to_owned(), key.to_owned()))
            .filter(|(expires, _)| live(*expires))
            .map(|(_, value)| value.clone())
    }

    /// The live keys of `store`, in order.
    pub fn keys(&self, store: &str) -> Vec<String> {
        let inner = self.inner.borrow();
        inner
            .entries
            .iter()
            .filter(|((s, _), (expires, _))| s == store && live(*expires))
            .map(|((_, key), _)| key.clone())
            .collect()
    }

    /// Answers one call.
    fn answer(&self, call: Call<'_>) -> RawAnswer {
        match self.try_answer(call) {
            Ok(answer) => answer,
            Err((kind, message)) => error(kind, &message),
        }
    }

    fn try_answer(&self, call: Call<'_>) -> Result<RawAnswer, (ErrorKind, String)> {
        let invalid = |refused: kv::Refused| (ErrorKind::Invalid, refused.0);
        let store = match call {
            Call::Get { store, .. }
            | Call::Set { store, .. }
            | Call::Delete { store, .. }
            | Call::Exists { store, .. }
            | Call::List { store, .. } => store,
        };
        kv::check_store_name(store).map_err(invalid)?;
        let mut inner = self.inner.borrow_mut();
        if !inner.granted.iter().any(|s| s == store) {
            return Err((
                ErrorKind::Denied,
                format!("store {store:?} is not granted to this function: add it to kv.stores"),
            ));
        }
        let entry = |key: &str| (store.to_owned(), key.to_owned());
        let not_found = || (i64::from(ImportError::NotFound.code()), Vec::new());
        Ok(match call {
            Call::Get { key, .. } => {
                kv::check_key(key.as_bytes()).map_err(invalid)?;
                match inner.entries.get(&entry(key)).filter(|(e, _)| live(*e)) {
                    Some((_, value)) => (value.len() as i64, value.clone()),
                    None => not_found(),
                }
            }
            Call::Exists { key, .. } => {
                kv::check_key(key.as_bytes()).map_err(invalid)?;
                match inner.entries.get(&entry(key)).filter(|(e, _)| live(*e)) {
                    Some(_) => (0, Vec::new()),
                    None => not_found(),
                }
            }
            Call::Set {
                key,
                value,
                ttl_seconds,
                ..
            } => {
                kv::check_key(key.as_bytes()).map_err(invalid)?;
                kv::check_value(value).map_err(invalid)?;
                kv::check_ttl(ttl_seconds).map_err(invalid)?;
                let expires = (ttl_seconds > 0)
                    .then(|| SystemTime::now() + Duration::from_secs(ttl_seconds.into()));
                inner.entries.insert(entry(key), (expires, value.to_vec()));
                (0, Vec::new())
            }
            Call::Delete { key, .. } => {
                kv::check_key(key.as_bytes()).map_err(invalid)?;
                inner.entries.remove(&entry(key));
                (0, Vec::new())
            }
            Call::List {
                prefix,
                cursor,
                limit,
                ..
            } => {
                kv::check_prefix(prefix.as_bytes()).map_err(invalid)?;
                kv::check_cursor(cursor.as_bytes()).map_err(invalid)?;
                let limit = kv::check_list_limit(limit).map_err(invalid)? as usize;
                let mut keys: Vec<&str> = inner
                    .entries
                    .range(entry(cursor.max(prefix))..)
                    .take_while(|((s, k), _)| s == store && k.starts_with(prefix))
                    .filter(|((_, k), (e, _))| k.as_str() > cursor && live(*e))
                    .map(|((_, k), _)| k.as_str())
                    .take(limit + 1)
                    .collect();
                let more = keys.len() > limit;
                keys.truncate(limit);
                let next = if more { keys[limit - 1] } else { "" };
                let page = KvListEnvelope { keys, cursor: next }.encode();
                (page.len() as i64, page)
            }
        })
    }
}

fn live(expires: Option<SystemTime>) -> bool {
    expires.is_none_or(|at| at > SystemTime::now())
}

/// Runs `run` with `memory` answering every store call on this thread, then restores what was
/// there before (also when `run` panics).
pub fn with_memory<R>(memory: &Memory, run: impl FnOnce() -> R) -> R {
    let memory = memory.clone();
    with_raw_host(move |call| memory.answer(call), run)
}

/// Runs `run` with `host` answering this thread's `kv_*` calls: it gets each [`Call`] and
/// returns a [`RawAnswer`]; `result_read` then follows `docs/abi.md`. For errors and broken
/// answers a [`Memory`] does not give.
pub fn with_raw_host<R>(
    host: impl FnMut(Call<'_>) -> RawAnswer + 'static,
    run: impl FnOnce() -> R,
) -> R {
    /// Puts the previous host back however `run` ends.
    struct Restore(Option<Option<KvHost>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            replace_kv_host(self.0.take().flatten());
        }
    }
    let _restore = Restore(Some(replace_kv_host(Some(Box::new(host)))));
    run()
}
