//! The key-value store: named stores of byte values under text keys, the same on every platform
//! (the local host's file, DynamoDB on AWS Lambda, Table storage on Azure Functions, Workers KV).
//!
//! ```no_run
//! use edgefn::kv::{self, Store};
//! use std::time::Duration;
//!
//! fn visit(user: &str) -> Result<u64, kv::Error> {
//!     let store = Store::open("default")?;
//!     let key = format!("visits/{user}");
//!     let seen = store
//!         .get(&key)?
//!         .and_then(|v| String::from_utf8(v).ok()?.parse().ok())
//!         .unwrap_or(0u64);
//!     store.set_with_ttl(&key, (seen + 1).to_string(), Duration::from_secs(86_400))?;
//!     Ok(seen + 1)
//! }
//! ```
//!
//! A function opens only the stores its configuration grants: the manifest's `kv.stores` (on
//! AWS Lambda and Azure Functions the `EDGEFN_KV_STORES` variable; on Cloudflare Workers a KV
//! namespace binding per store; see `docs/kv.md`):
//!
//! ```toml
//! [[function]]
//! name = "visits"
//! wasm = "target/edgefn/visits.wasm"
//! kv = { stores = ["default"] }
//! ```
//!
//! A store name is the application's: every function granted `"default"` sees the same keys.
//!
//! The contract, the same on every platform (`docs/kv.md`):
//!
//! - Keys are 1–512 bytes of UTF-8, not `.` or `..`; any character is allowed, `/ # ?` and
//!   non-ASCII included. Values are 0–256 KiB of any bytes; a larger one is refused
//!   ([`ErrorKind::Invalid`]) everywhere, not only where the backend would refuse it.
//! - The last writer wins; there is no compare-and-set. The local store is strongly consistent;
//!   Workers KV is eventually consistent (a write may take up to a minute to be seen elsewhere),
//!   so a function that must run everywhere does not count on reading its own write from another
//!   invocation.
//! - A time to live is at least 60 seconds; an expired key is never returned, whether or not
//!   the backend has removed it yet.
//! - [`Store::list`] gives keys by prefix in ascending order of their bytes, a page at a time. A
//!   page may hold fewer keys than asked for, even none, and still not be the last.
//! - Each call counts against the function's `kv.max_operations` per invocation
//!   ([`ErrorKind::Limit`] past it) and waits at most until the invocation's deadline.
//! - Calls from an init function (`edgefn::export!(handle, init = setup)`) fail with
//!   [`ErrorKind::Unsupported`]: a pre-initialized snapshot must not capture stored values.
//!
//! Every call blocks until the backend has answered. The host imports behind a store
//! (`edgefn_v1.kv_*`) are only in a module that uses one. In a native build (`cargo test`) the
//! calls go to a fake host that the test installs with [`testing::with_memory`].

mod error;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use error::{Error, ErrorKind};

use crate::imports;
use edgefn_abi::{ImportError, KvListEnvelope};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Longest key in bytes.
pub const MAX_KEY_BYTES: usize = edgefn_abi::kv::MAX_KEY_BYTES;
/// Largest value in bytes (256 KiB).
pub const MAX_VALUE_BYTES: usize = edgefn_abi::kv::MAX_VALUE_BYTES;
/// Shortest time to live.
pub const MIN_TTL: Duration = Duration::from_secs(edgefn_abi::kv::MIN_TTL_SECONDS as u64);
/// Most keys one page holds.
pub const MAX_PAGE_KEYS: u32 = edgefn_abi::kv::MAX_LIST_LIMIT;

/// A named store this function is granted. Opening checks the name only: whether the function
/// is granted the store is checked by the host at each call ([`ErrorKind::Denied`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Store {
    name: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Store").field(&self.name).finish()
    }
}

/// One page of keys from [`Store::list_page`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// Keys in ascending order of their bytes; possibly fewer than asked for, even none.
    pub keys: Vec<String>,
    /// Where the next page starts, to pass back to [`Store::list_page`]; `None` on the last page.
    pub cursor: Option<String>,
}

impl Store {
    /// The store `name`: 1–32 lower-case ASCII letters, digits and `_`, starting with a letter
    /// ([`ErrorKind::Invalid`] otherwise).
    pub fn open(name: &str) -> Result<Store> {
        edgefn_abi::kv::check_store_name(name)
            .map_err(|refused| Error::local(ErrorKind::Invalid, refused.0))?;
        Ok(Store {
            name: name.to_owned(),
        })
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of `key`; `None` when it is absent or has expired.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let answer = imports::kv_get(&self.name, key);
        if answer == not_found() {
            return Ok(None);
        }
        success(answer)?;
        imports::read_result(answer)
            .map(Some)
            .map_err(|why| Error::local(ErrorKind::Other, why))
    }

    /// Stores `value` under `key`, replacing any value it had, with no expiry.
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        self.set_seconds(key, value.as_ref(), 0)
    }

    /// Stores `value` under `key`, expiring after `ttl` (at least [`MIN_TTL`], rounded up to
    /// whole seconds; a shorter one is refused as [`ErrorKind::Invalid`]).
    pub fn set_with_ttl(&self, key: &str, value: impl AsRef<[u8]>, ttl: Duration) -> Result<()> {
        self.set_seconds(key, value.as_ref(), ttl_seconds(ttl))
    }

    fn set_seconds(&self, key: &str, value: &[u8], ttl_seconds: u32) -> Result<()> {
        success(imports::kv_set(&self.name, key, value, ttl_seconds))
    }

    /// Removes `key`; removing an absent key succeeds.
    pub fn delete(&self, key: &str) -> Result<()> {
        success(imports::kv_delete(&self.name, key))
    }

    /// Whether `key` is present (and has not expired), without reading its value.
    pub fn exists(&self, key: &str) -> Result<bool> {
        let answer = imports::kv_exists(&self.name, key);
        if answer == not_found() {
            return Ok(false);
        }
        success(answer).map(|()| true)
    }

    /// Every key that starts with `prefix` (`""` for all), in ascending order of their bytes,
    /// fetched a page of up to [`MAX_PAGE_KEYS`] at a time as the iterator is read. A failed page
    /// is the iterator's last item.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), edgefn::kv::Error> {
    /// let store = edgefn::kv::Store::open("default")?;
    /// let users: Vec<String> = store.list("users/").collect::<Result<_, _>>()?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self, prefix: &str) -> Keys<'_> {
        Keys {
            store: self,
            prefix: prefix.to_owned(),
            cursor: None,
            keys: VecDeque::new(),
            done: false,
        }
    }

    /// One page of up to `limit` keys starting with `prefix` (`limit` 1–1000; 0 asks for 1000),
    /// after `cursor` (`None` for the first page, else the previous page's, passed back as it
    /// came).
    pub fn list_page(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<Page> {
        let answer = imports::kv_list(&self.name, prefix, cursor.unwrap_or(""), limit);
        success(answer)?;
        let bytes =
            imports::read_result(answer).map_err(|why| Error::local(ErrorKind::Other, why))?;
        let page = KvListEnvelope::decode(&bytes).map_err(|e| {
            Error::local(
                ErrorKind::Other,
                format!("the host's list page does not decode ({}): {e}", e.as_str()),
            )
        })?;
        Ok(Page {
            keys: page.keys.iter().map(|&k| k.to_owned()).collect(),
            cursor: (!page.cursor.is_empty()).then(|| page.cursor.to_owned()),
        })
    }
}

/// The keys of [`Store::list`], a page at a time.
#[derive(Debug)]
pub struct Keys<'a> {
    store: &'a Store,
    prefix: String,
    cursor: Option<String>,
    keys: VecDeque<String>,
    done: bool,
}

impl Iterator for Keys<'_> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        loop {
            if let Some(key) = self.keys.pop_front() {
                return Some(Ok(key));
            }
            if self.done {
                return None;
            }
            // A page may be empty and still have a cursor: only its absence ends the listing.
            match self
                .store
                .list_page(&self.prefix, self.cursor.as_deref(), 0)
            {
                Ok(page) => {
                    self.keys.extend(page.keys);
                    self.done = page.cursor.is_none();
                    self.cursor = page.cursor;
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
    }
}

/// The code of `not-found`, an answer rather than an error for `get` and `exists`.
fn not_found() -> i64 {
    i64::from(ImportError::NotFound.code())
}

/// `Ok` for a call that succeeded (`>= 0`), else the host's error with its pending message.
fn success(answer: i64) -> Result<()> {
    if answer < 0 {
        return Err(Error::from_host(answer, imports::read_message()));
    }
    Ok(())
}

/// A TTL as whole seconds, rounded up; a zero duration stays short of the minimum (not "never").
fn ttl_seconds(ttl: Duration) -> u32 {
    let seconds = ttl.as_nanos().div_ceil(1_000_000_000).max(1);
    u32::try_from(seconds).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_seconds_and_never_mean_no_expiry() {
        assert_eq!(ttl_seconds(Duration::ZERO), 1, "0 would mean no expiry");
        assert_eq!(ttl_seconds(Duration::from_millis(59_001)), 60);
        assert_eq!(ttl_seconds(Duration::from_secs(60)), 60);
        assert_eq!(ttl_seconds(Duration::from_secs(u64::MAX)), u32::MAX);
    }

    #[test]
    fn a_store_name_is_checked_when_opened() {
        assert_eq!(Store::open("default").unwrap().name(), "default");
        for bad in ["", "Default", "1abc", "a-b", &"x".repeat(33)] {
            let error = Store::open(bad).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid, "{bad:?}");
            assert_eq!(error.code(), None, "the SDK refused it");
        }
    }
}
