//! The `edgefn_v1` host imports behind [`http`](crate::http) and [`kv`](crate::kv)
//! (`docs/abi.md`, "Host imports"): the real ones in the Wasm build, fake hosts installed per
//! thread natively; and the one way every call reads its pending result.
//!
//! Both targets offer the same safe functions, so everything above them (envelopes, pending
//! result, error mapping) is the same code on every target and is tested natively.

#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::{
    http_send, kv_delete, kv_exists, kv_get, kv_list, kv_set, result_read, snapshot_decline,
};

#[cfg(not(target_arch = "wasm32"))]
pub use native::KvCall;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::{
    HttpHost, KvHost, http_send, kv_delete, kv_exists, kv_get, kv_list, kv_set, replace_http_host,
    replace_kv_host, result_read,
};

/// Largest error message read; the host's messages are a line or two.
const MAX_MESSAGE: usize = 64 * 1024;

/// The pending message of a failed call. Its length is not returned, so the buffer grows while
/// `result_read` answers that it is too small.
pub(crate) fn read_message() -> String {
    let mut size = 512;
    loop {
        let mut buf = Vec::new();
        let copied = read_pending(&mut buf, size);
        if copied >= 0 {
            return String::from_utf8_lossy(&buf).into_owned();
        }
        if size >= MAX_MESSAGE {
            return format!(
                "(the host's message could not be read: result_read answered {copied})"
            );
        }
        size *= 4;
    }
}

/// The pending result of a call that answered `len >= 0`: exactly `len` bytes, or why the host's
/// answer could not be read (for the caller's error message).
pub(crate) fn read_result(len: i64) -> Result<Vec<u8>, String> {
    let len = usize::try_from(len)
        .map_err(|_| format!("the host's result of {len} bytes does not fit in memory"))?;
    // Nothing to copy: a zero-length result needs no read (a new call discards it).
    if len == 0 {
        return Ok(Vec::new());
    }
    let mut buf = Vec::new();
    let copied = read_pending(&mut buf, len);
    if usize::try_from(copied).ok() != Some(len) {
        return Err(format!(
            "the host announced a result of {len} bytes, but result_read answered {copied}"
        ));
    }
    Ok(buf)
}

/// `result_read` into a buffer of `capacity` bytes that are not zeroed first (the host
/// overwrites what it reports, and a result is often the whole response); `buf` holds the bytes
/// copied. The import's answer: the bytes copied, or `-3`.
fn read_pending(buf: &mut Vec<u8>, capacity: usize) -> i32 {
    buf.clear();
    buf.reserve_exact(capacity);
    let copied = result_read(&mut buf.spare_capacity_mut()[..capacity]);
    if let Ok(len) = usize::try_from(copied) {
        let len = len.min(capacity);
        #[allow(
            unsafe_code,
            reason = "the bytes result_read reports copied are initialized"
        )]
        // SAFETY: `result_read` wrote the first `copied` bytes of the spare capacity (both the
        // import and the fake host copy exactly what they report, never more than `capacity`).
        unsafe {
            buf.set_len(len)
        };
    }
    copied
}

/// The real imports. Declared only here; the linker keeps only those a module calls, so a
/// function that never sends imports no `http_send`, and one that never opens a store no `kv_*`.
#[cfg(target_arch = "wasm32")]
#[allow(
    unsafe_code,
    reason = "host imports are an extern block; each call below says why it is sound"
)]
mod wasm {
    use std::mem::MaybeUninit;

    #[link(wasm_import_module = "edgefn_v1")]
    unsafe extern "C" {
        #[link_name = "http_send"]
        fn edgefn_v1_http_send(ptr: u32, len: u32) -> i64;
        #[link_name = "result_read"]
        fn edgefn_v1_result_read(ptr: u32, len: u32) -> i32;
        #[link_name = "snapshot_decline"]
        fn edgefn_v1_snapshot_decline(ptr: u32, len: u32) -> i32;
        #[link_name = "kv_get"]
        fn edgefn_v1_kv_get(store: u32, store_len: u32, key: u32, key_len: u32) -> i64;
        #[link_name = "kv_set"]
        fn edgefn_v1_kv_set(
            store: u32,
            store_len: u32,
            key: u32,
            key_len: u32,
            value: u32,
            value_len: u32,
            ttl_seconds: u32,
        ) -> i64;
        #[link_name = "kv_delete"]
        fn edgefn_v1_kv_delete(store: u32, store_len: u32, key: u32, key_len: u32) -> i64;
        #[link_name = "kv_exists"]
        fn edgefn_v1_kv_exists(store: u32, store_len: u32, key: u32, key_len: u32) -> i64;
        #[link_name = "kv_list"]
        fn edgefn_v1_kv_list(
            store: u32,
            store_len: u32,
            prefix: u32,
            prefix_len: u32,
            cursor: u32,
            cursor_len: u32,
            limit: u32,
        ) -> i64;
    }

    /// A slice as the `(ptr, len)` pair the imports take (wasm32: both fit in 32 bits).
    fn raw(bytes: &[u8]) -> (u32, u32) {
        (bytes.as_ptr() as usize as u32, bytes.len() as u32)
    }

    // SAFETY (every read-only call below): the host only reads the `len` bytes at each `ptr`,
    // which are the slices passed, checks each range against memory itself (an error code, never
    // a trap), and never calls back into the guest.

    /// Sends the request envelope; `>= 0` is the size of the pending response, `< 0` an error
    /// code with a pending message.
    pub(crate) fn http_send(envelope: &[u8]) -> i64 {
        let (ptr, len) = raw(envelope);
        // SAFETY: read-only, see above.
        unsafe { edgefn_v1_http_send(ptr, len) }
    }

    /// `(store, key)` → the size of the pending value, or an error code.
    pub(crate) fn kv_get(store: &str, key: &str) -> i64 {
        let ((s, sl), (k, kl)) = (raw(store.as_bytes()), raw(key.as_bytes()));
        // SAFETY: read-only, see above.
        unsafe { edgefn_v1_kv_get(s, sl, k, kl) }
    }

    /// `(store, key, value, ttl_seconds)` → 0, or an error code.
    pub(crate) fn kv_set(store: &str, key: &str, value: &[u8], ttl_seconds: u32) -> i64 {
        let ((s, sl), (k, kl), (v, vl)) = (raw(store.as_bytes()), raw(key.as_bytes()), raw(value));
        // SAFETY: read-only, see above.
        unsafe { edgefn_v1_kv_set(s, sl, k, kl, v, vl, ttl_seconds) }
    }

    /// `(store, key)` → 0 (also for an absent key), or an error code.
    pub(crate) fn kv_delete(store: &str, key: &str) -> i64 {
        let ((s, sl), (k, kl)) = (raw(store.as_bytes()), raw(key.as_bytes()));
        // SAFETY: read-only, see above.
        unsafe { edgefn_v1_kv_delete(s, sl, k, kl) }
    }

    /// `(store, key)` → 0 when present, `not-found` or another error code.
    pub(crate) fn kv_exists(store: &str, key: &str) -> i64 {
        let ((s, sl), (k, kl)) = (raw(store.as_bytes()), raw(key.as_bytes()));
        // SAFETY: read-only, see above.
        unsafe { edgefn_v1_kv_exists(s, sl, k, kl) }
    }

    /// `(store, prefix, cursor, limit)` → the size of the pending EKL1 page, or an error code.
    pub(crate) fn kv_list(store: &str, prefix: &str, cursor: &str, limit: u32) -> i64 {
        let ((s, sl), (p, pl), (c, cl)) = (
            raw(store.as_bytes()),
            raw(prefix.as_bytes()),
            raw(cursor.as_bytes()),
        );
        // SAFETY: read-only, see above.
        unsafe { edgefn_v1_kv_list(s, sl, p, pl, c, cl, limit) }
    }

    /// Tells a host taking a snapshot of the init not to; 0 when one was being taken, 1 when
    /// none was.
    pub(crate) fn snapshot_decline(reason: &str) -> i32 {
        let (ptr, len) = raw(reason.as_bytes());
        // SAFETY: read-only, see above.
        unsafe { edgefn_v1_snapshot_decline(ptr, len) }
    }

    /// Copies the pending result into `buf`; the bytes copied, or `-3` (buffer too small,
    /// nothing pending).
    pub(crate) fn result_read(buf: &mut [MaybeUninit<u8>]) -> i32 {
        // SAFETY: the host writes at most `buf.len()` bytes at `buf`'s address, memory this
        // function holds exclusively, and nothing else; it never calls back into the guest.
        unsafe { edgefn_v1_result_read(buf.as_mut_ptr() as usize as u32, buf.len() as u32) }
    }
}

/// Fake hosts for native builds (unit tests): one for `http_send` and one for the `kv_*` calls,
/// installed per thread by `http::testing` and `kv::testing`, sharing one pending result under
/// the rules of `docs/abi.md`.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::cell::RefCell;
    use std::mem::MaybeUninit;
    use std::thread::LocalKey;

    /// Answers one `http_send`: the import's result and the pending bytes (response envelope,
    /// or message).
    pub(crate) type HttpHost = Box<dyn FnMut(&[u8]) -> (i64, Vec<u8>)>;

    /// Answers one `kv_*` call: the import's result and the pending bytes (value, list page, or
    /// message).
    pub(crate) type KvHost = Box<dyn FnMut(KvCall<'_>) -> (i64, Vec<u8>)>;

    /// One `kv_*` import call as a fake host receives it (`edgefn::kv::testing::with_raw_host`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum KvCall<'a> {
        /// `kv_get(store, key)`.
        Get {
            /// The store name.
            store: &'a str,
            /// The key.
            key: &'a str,
        },
        /// `kv_set(store, key, value, ttl_seconds)`.
        Set {
            /// The store name.
            store: &'a str,
            /// The key.
            key: &'a str,
            /// The value.
            value: &'a [u8],
            /// Seconds to live; 0 for no expiry.
            ttl_seconds: u32,
        },
        /// `kv_delete(store, key)`.
        Delete {
            /// The store name.
            store: &'a str,
            /// The key.
            key: &'a str,
        },
        /// `kv_exists(store, key)`.
        Exists {
            /// The store name.
            store: &'a str,
            /// The key.
            key: &'a str,
        },
        /// `kv_list(store, prefix, cursor, limit)`.
        List {
            /// The store name.
            store: &'a str,
            /// The prefix every key listed starts with.
            prefix: &'a str,
            /// Empty for the first page, else the previous page's cursor.
            cursor: &'a str,
            /// Keys asked for; 0 for the maximum.
            limit: u32,
        },
    }

    thread_local! {
        static HTTP_HOST: RefCell<Option<HttpHost>> = RefCell::new(None);
        static KV_HOST: RefCell<Option<KvHost>> = RefCell::new(None);
        static PENDING: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
    }

    const NO_HTTP_HOST: &str = "edgefn::http::send has no host to call in a native build: in a \
                                test, run the code that sends inside edgefn::http::testing::with_host";
    const NO_KV_HOST: &str = "edgefn::kv has no host to call in a native build: in a test, run the \
                              code that uses a store inside edgefn::kv::testing::with_memory";

    /// Installs `host` for this thread's `http_send` and returns the one it replaces.
    pub(crate) fn replace_http_host(host: Option<HttpHost>) -> Option<HttpHost> {
        PENDING.set(None);
        HTTP_HOST.replace(host)
    }

    /// Installs `host` for this thread's `kv_*` calls and returns the one it replaces.
    pub(crate) fn replace_kv_host(host: Option<KvHost>) -> Option<KvHost> {
        PENDING.set(None);
        KV_HOST.replace(host)
    }

    /// One call: the host in `slot` answers, and what it answers becomes the pending result.
    fn answer<H: 'static>(
        slot: &'static LocalKey<RefCell<Option<H>>>,
        no_host: &str,
        call: impl FnOnce(&mut H) -> (i64, Vec<u8>),
    ) -> i64 {
        // A new call discards a result that was not read.
        PENDING.set(None);
        // Taken out for the call, so a fake that calls again finds no borrow held.
        let (code, pending) = match slot.take() {
            Some(mut host) => {
                let answer = call(&mut host);
                slot.set(Some(host));
                answer
            }
            None => (
                edgefn_abi::ImportError::Unsupported.code().into(),
                no_host.as_bytes().to_vec(),
            ),
        };
        PENDING.set(Some(pending));
        code
    }

    pub(crate) fn http_send(envelope: &[u8]) -> i64 {
        answer(&HTTP_HOST, NO_HTTP_HOST, |host| host(envelope))
    }

    fn kv(call: KvCall<'_>) -> i64 {
        answer(&KV_HOST, NO_KV_HOST, |host| host(call))
    }

    pub(crate) fn kv_get(store: &str, key: &str) -> i64 {
        kv(KvCall::Get { store, key })
    }

    pub(crate) fn kv_set(store: &str, key: &str, value: &[u8], ttl_seconds: u32) -> i64 {
        kv(KvCall::Set {
            store,
            key,
            value,
            ttl_seconds,
        })
    }

    pub(crate) fn kv_delete(store: &str, key: &str) -> i64 {
        kv(KvCall::Delete { store, key })
    }

    pub(crate) fn kv_exists(store: &str, key: &str) -> i64 {
        kv(KvCall::Exists { store, key })
    }

    pub(crate) fn kv_list(store: &str, prefix: &str, cursor: &str, limit: u32) -> i64 {
        kv(KvCall::List {
            store,
            prefix,
            cursor,
            limit,
        })
    }

    pub(crate) fn result_read(buf: &mut [MaybeUninit<u8>]) -> i32 {
        let invalid = edgefn_abi::ImportError::Invalid.code();
        PENDING.with_borrow_mut(|pending| match pending {
            Some(result) if result.len() <= buf.len() => {
                let Ok(copied) = i32::try_from(result.len()) else {
                    return invalid;
                };
                buf[..result.len()].write_copy_of_slice(result);
                *pending = None;
                copied
            }
            // Too small: the result stays pending. Nothing pending: a second read.
            Some(_) | None => invalid,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::imports::read_pending;

        #[test]
        fn pending_result_follows_the_abi_rules() {
            let previous = replace_http_host(Some(Box::new(|_| (5, b"hello".to_vec()))));
            assert_eq!(http_send(b"x"), 5);
            let mut buf = Vec::new();
            assert_eq!(read_pending(&mut buf, 4), -3, "too small");
            assert!(buf.is_empty(), "nothing copied: {buf:?}");
            assert_eq!(
                read_pending(&mut buf, 8),
                5,
                "still pending after a short read"
            );
            assert_eq!(buf, b"hello");
            assert_eq!(read_pending(&mut buf, 8), -3, "read once only");
            assert!(buf.is_empty(), "nothing copied: {buf:?}");
            http_send(b"x");
            http_send(b"y");
            assert_eq!(
                read_pending(&mut buf, 5),
                5,
                "a new call replaces the unread one"
            );
            assert_eq!(buf, b"hello");
            replace_http_host(previous);
        }

        #[test]
        fn one_pending_result_for_every_import() {
            let http = replace_http_host(Some(Box::new(|_| (4, b"http".to_vec()))));
            let kv = replace_kv_host(Some(Box::new(|_| (2, b"kv".to_vec()))));
            assert_eq!(http_send(b"x"), 4);
            assert_eq!(kv_get("default", "k"), 2, "discards the unread http result");
            let mut buf = Vec::new();
            assert_eq!(read_pending(&mut buf, 8), 2);
            assert_eq!(buf, b"kv");
            replace_kv_host(kv);
            replace_http_host(http);
        }

        #[test]
        fn without_a_host_a_call_is_unsupported_and_says_what_to_do() {
            let http = replace_http_host(None);
            let kv = replace_kv_host(None);
            /// A call, and what its message must point to.
            type Case = (fn() -> i64, &'static str);
            let calls: [Case; 2] = [
                (|| http_send(b"x"), "http::testing::with_host"),
                (|| kv_exists("default", "k"), "kv::testing::with_memory"),
            ];
            for (call, says) in calls {
                assert_eq!(call(), -8);
                let mut buf = Vec::new();
                assert!(read_pending(&mut buf, 1024) > 0);
                let message = String::from_utf8_lossy(&buf);
                assert!(message.contains(says), "{message:?}");
            }
            replace_kv_host(kv);
            replace_http_host(http);
        }
    }
}
