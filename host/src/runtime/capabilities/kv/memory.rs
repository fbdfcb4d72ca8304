//! An in-memory store: the contract's reference behaviour (ordered keys, expiry on read, the last
//! returned key as the cursor), for tests and for commands that serve no function.

use super::{KvBackend, KvFuture, KvPage};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// `(store, key)` → (expiry in Unix seconds, 0 = never; value).
type Entries = BTreeMap<(String, String), (u64, Vec<u8>)>;

/// Values in a map, lost with the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<Entries>,
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The expiry to store for a TTL: 0 for none.
pub(crate) fn expiry(ttl_seconds: u32) -> u64 {
    match ttl_seconds {
        0 => 0,
        ttl => unix_now() + u64::from(ttl),
    }
}

/// Whether a value with this expiry is live now.
pub(crate) fn live(expires_at: u64) -> bool {
    expires_at == 0 || expires_at > unix_now()
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl KvBackend for MemoryStore {
    fn describe(&self) -> String {
        "an in-memory store".into()
    }

    fn get<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let value = entries
            .get(&(store.to_owned(), key.to_owned()))
            .filter(|(expires_at, _)| live(*expires_at))
            .map(|(_, value)| value.clone());
        Box::pin(async move { Ok(value) })
    }

    fn set<'a>(
        &'a self,
        store: &'a str,
        key: &'a str,
        value: &'a [u8],
        ttl_seconds: u32,
    ) -> KvFuture<'a, ()> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                (store.to_owned(), key.to_owned()),
                (expiry(ttl_seconds), value.to_vec()),
            );
        Box::pin(async { Ok(()) })
    }

    fn delete<'a>(&'a self, store: &'a str, key: &'a str) -> KvFuture<'a, ()> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(store.to_owned(), key.to_owned()));
        Box::pin(async { Ok(()) })
    }

    fn list<'a>(
        &'a self,
        store: &'a str,
        prefix: &'a str,
        cursor: Option<&'a str>,
        limit: u32,
    ) -> KvFuture<'a, KvPage> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let start = (store.to_owned(), cursor.unwrap_or(prefix).to_owned());
        let mut keys = Vec::new();
        let mut more = false;
        for ((s, key), (expires_at, _)) in entries.range(start..) {
            if s != store || !key.starts_with(prefix) {
                break;
            }
            if cursor == Some(key.as_str()) || !live(*expires_at) {
                continue;
            }
            if keys.len() == limit as usize {
                more = true;
                break;
            }
            keys.push(key.clone());
        }
        let cursor = if more { keys.last().cloned() } else { None };
        Box::pin(async move { Ok(KvPage { keys, cursor }) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<T>(future: KvFuture<'_, T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
            .unwrap()
    }

    #[test]
    fn lists_pages_in_byte_order_within_the_store_and_prefix() {
        let kv = MemoryStore::new();
        for key in ["u/b", "u/a", "u/c", "v/a"] {
            block(kv.set("s", key, b"1", 0));
        }
        block(kv.set("t", "u/z", b"1", 0));
        let first = block(kv.list("s", "u/", None, 2));
        assert_eq!(first.keys, ["u/a", "u/b"]);
        let second = block(kv.list("s", "u/", first.cursor.as_deref(), 2));
        assert_eq!(
            second,
            KvPage {
                keys: vec!["u/c".into()],
                cursor: None
            }
        );
        assert_eq!(block(kv.get("s", "u/a")), Some(b"1".to_vec()));
        block(kv.delete("s", "u/a"));
        assert_eq!(block(kv.get("s", "u/a")), None);
        assert!(!block(kv.exists("s", "u/a")));
    }
}
