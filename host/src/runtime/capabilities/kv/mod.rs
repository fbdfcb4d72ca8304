//! The key-value store a guest reaches through `edgefn_v1.kv_*` (`docs/kv.md`): what a function is
//! granted ([`KvGrant`]), and the one interface every platform's backend implements
//! ([`KvBackend`]: the local file, DynamoDB, Table storage). The imports check every argument
//! against the portable contract (`edgefn_abi::kv`) before a backend sees it, so a backend only
//! stores and finds; it never decides what is allowed.

pub(crate) mod imports;
pub(crate) mod memory;
pub(crate) mod unconfigured;

use edgefn_abi::ImportError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub use memory::MemoryStore;
pub use unconfigured::Unconfigured;

/// Platform variable: the store names a function is granted, separated by commas or spaces.
pub const STORES_VAR: &str = "EDGEFN_KV_STORES";
/// Platform variable: `kv.max_operations`.
pub const MAX_OPERATIONS_VAR: &str = "EDGEFN_KV_MAX_OPERATIONS";
/// Calls to the `kv_*` imports one invocation may make by default (Workers' per-invocation cap
/// on KV operations on its free plan).
pub const DEFAULT_MAX_OPERATIONS: u32 = 1000;

/// A future a backend returns: `Send`, so a call can wait on any runtime thread.
pub type KvFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KvError>> + Send + 'a>>;

/// One platform's store. Store names, keys, values and TTLs reaching it have passed the
/// contract's checks; a store name is the same store for every function granted it.
///
/// Expiry: `set` with `ttl_seconds > 0` stores the moment it expires; `get`, `exists` and `list`
/// never return an expired key, whether or not the backend has removed it yet.
pub trait KvBackend: Send + Sync + fmt::Debug {
    /// What and where it is, for logs and messages: "the local store /x/kv.redb".
    fn describe(&self) -> String;

    /// The value of `key`, `None` when absent or expired.
    fn get<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>>;

    /// Stores `value` under `key` (last writer wins), expiring after `ttl_seconds` when not 0.
    fn set<'a>(
        &'a self,
        store: &'a str,
        key: &'a str,
        value: &'a [u8],
        ttl_seconds: u32,
    ) -> KvFuture<'a, ()>;

    /// Removes `key`; an absent key is success.
    fn delete<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, ()>;

    /// Whether `key` is present and not expired.
    fn exists<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, bool> {
        Box::pin(async move { Ok(self.get(store, key).await?.is_some()) })
    }

    /// Up to `limit` keys starting with `prefix`, in ascending order of their bytes, after the
    /// position `cursor` names (`None`: from the first). The cursor is the backend's own,
    /// opaque to the guest; `KvPage::cursor` is `None` on the last page.
    fn list<'a>(
        &'a self,
        store: &'a str,
        prefix: &'a str,
        cursor: Option<&'a str>,
        limit: u32,
    ) -> KvFuture<'a, KvPage>;
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KvPage {
    /// Keys in ascending byte order.
    pub keys: Vec<String>,
    /// Where the next page starts; `None` when there is none.
    pub cursor: Option<String>,
}

/// Why a backend call failed: the import's error code and a message for the guest that says what
/// went wrong, where, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvError {
    /// `unavailable`, `rate-limited`, `timeout` or (a cursor the backend cannot read) `invalid`.
    pub kind: ImportError,
    /// The message the guest gets.
    pub message: String,
}

impl KvError {
    /// An error of `kind`.
    pub fn new(kind: ImportError, message: impl Into<String>) -> KvError {
        KvError {
            kind,
            message: message.into(),
        }
    }

    /// The backend could not be reached or failed.
    pub fn unavailable(message: impl Into<String>) -> KvError {
        KvError::new(ImportError::Unavailable, message)
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for KvError {}

/// What a function may do with the key-value store: its `kv` settings (`docs/manifest.md`,
/// "kv"). The default grants no store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvGrant {
    stores: Vec<String>,
    /// Calls to the `kv_*` imports per invocation.
    pub max_operations: u32,
}

impl Default for KvGrant {
    fn default() -> Self {
        KvGrant {
            stores: Vec::new(),
            max_operations: DEFAULT_MAX_OPERATIONS,
        }
    }
}

impl KvGrant {
    /// Grants exactly these stores; an invalid name is an error naming it and the rule.
    pub fn with_stores(
        mut self,
        stores: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> anyhow::Result<KvGrant> {
        let mut names = Vec::new();
        for store in stores {
            let store = store.as_ref();
            edgefn_abi::kv::check_store_name(store)
                .map_err(|e| anyhow::anyhow!("kv.stores: {e}"))?;
            if !names.iter().any(|n| n == store) {
                names.push(store.to_owned());
            }
        }
        self.stores = names;
        Ok(self)
    }

    /// The granted store names, in the order written.
    pub fn stores(&self) -> &[String] {
        &self.stores
    }

    /// Whether `store` is granted.
    pub fn grants(&self, store: &str) -> bool {
        self.stores.iter().any(|s| s == store)
    }

    /// Refuses settings no function may have; `who` names the function or the variables.
    pub fn check(&self, who: &str) -> anyhow::Result<()> {
        if self.max_operations == 0 {
            anyhow::bail!(
                "{who}: kv.max_operations must be at least 1 (leave out kv.stores to grant no store)"
            );
        }
        Ok(())
    }

    /// The settings a platform gives as `EDGEFN_KV_*` variables (Lambda's environment, Azure's
    /// app settings); `get` looks one up. Unset or empty variables keep the defaults; an invalid
    /// value is an error naming the variable.
    pub fn from_variables(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<KvGrant> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut grant = KvGrant::default();
        if let Some(list) = get(STORES_VAR) {
            grant = grant
                .with_stores(list.split([',', ' ', '\t', '\n']).filter(|s| !s.is_empty()))
                .map_err(|e| anyhow::anyhow!("{STORES_VAR}: {e:#}"))?;
        }
        if let Some(value) = get(MAX_OPERATIONS_VAR) {
            grant.max_operations = value.trim().parse::<u32>().map_err(|_| {
                anyhow::anyhow!(
                    "{MAX_OPERATIONS_VAR}={value:?} is not a whole number up to {}",
                    u32::MAX
                )
            })?;
        }
        grant.check(&format!("the {STORES_VAR} and related variables"))?;
        Ok(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn a_grant_reads_its_variables_and_names_the_bad_one() {
        assert_eq!(
            KvGrant::from_variables(vars(&[])).unwrap(),
            KvGrant::default()
        );
        let grant = KvGrant::from_variables(vars(&[
            (STORES_VAR, "default, sessions default"),
            (MAX_OPERATIONS_VAR, "5"),
        ]))
        .unwrap();
        assert_eq!(grant.stores(), ["default", "sessions"]);
        assert!(grant.grants("sessions") && !grant.grants("other"));
        assert_eq!(grant.max_operations, 5);
        let error = KvGrant::from_variables(vars(&[(STORES_VAR, "Bad-Name")])).unwrap_err();
        assert!(format!("{error:#}").contains(STORES_VAR), "{error:#}");
        let error = KvGrant::from_variables(vars(&[(MAX_OPERATIONS_VAR, "0")])).unwrap_err();
        assert!(format!("{error:#}").contains("max_operations"), "{error:#}");
    }
}
