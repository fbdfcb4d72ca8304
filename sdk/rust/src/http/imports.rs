//! The host imports behind [`send`](super::send): `edgefn_v1.http_send` and
//! `edgefn_v1.result_read` in the Wasm build, a fake host natively.
//!
//! Both sides offer the same two safe functions, so everything above them (envelopes, pending
//! result, error mapping) is the same code on every target and is tested natively.

#[cfg(target_arch = "wasm32")]
pub(super) use wasm::{http_send, result_read};

#[cfg(not(target_arch = "wasm32"))]
pub(super) use native::{RawHost, replace_host};
#[cfg(not(target_arch = "wasm32"))]
pub(super) use native::{http_send, result_read};

/// The real imports. Declared only here, and called only from `send`, so a module that never
/// sends imports neither (the linker drops what nothing calls).
#[cfg(target_arch = "wasm32")]
#[allow(
    unsafe_code,
    reason = "host imports are an extern block; each call below says why it is sound"
)]
mod wasm {
    #[link(wasm_import_module = "edgefn_v1")]
    unsafe extern "C" {
        #[link_name = "http_send"]
        fn edgefn_v1_http_send(ptr: u32, len: u32) -> i64;
        #[link_name = "result_read"]
        fn edgefn_v1_result_read(ptr: u32, len: u32) -> i32;
    }

    /// Sends the request envelope; `>= 0` is the size of the pending response, `< 0` an error
    /// code with a pending message.
    pub(in crate::http) fn http_send(envelope: &[u8]) -> i64 {
        // SAFETY: the host only reads the `len` bytes at `ptr`, which are `envelope`, and checks
        // the range against memory itself (an error code, never a trap).
        unsafe { edgefn_v1_http_send(envelope.as_ptr() as usize as u32, envelope.len() as u32) }
    }

    /// Copies the pending result into `buf`; the bytes copied, or `-3` (buffer too small,
    /// nothing pending).
    pub(in crate::http) fn result_read(buf: &mut [u8]) -> i32 {
        // SAFETY: the host writes at most `buf.len()` bytes at `buf`'s address, memory this
        // function holds exclusively, and nothing else; it never calls back into the guest.
        unsafe { edgefn_v1_result_read(buf.as_mut_ptr() as usize as u32, buf.len() as u32) }
    }
}

/// A fake host for native builds (unit tests): a function of the request envelope, installed
/// per thread by [`testing`](super::testing), and the pending-result rules of `docs/abi.md`.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::cell::RefCell;

    /// Answers one `http_send`: the import's result and the pending bytes (response envelope,
    /// or message).
    pub(in crate::http) type RawHost = Box<dyn FnMut(&[u8]) -> (i64, Vec<u8>)>;

    thread_local! {
        static HOST: RefCell<Option<RawHost>> = RefCell::new(None);
        static PENDING: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
    }

    const NO_HOST: &str = "edgefn::http::send has no host to call in a native build: in a test, \
                           run the code that sends inside edgefn::http::testing::with_host";

    /// Installs `host` for this thread and returns the one it replaces.
    pub(in crate::http) fn replace_host(host: Option<RawHost>) -> Option<RawHost> {
        PENDING.set(None);
        HOST.replace(host)
    }

    pub(in crate::http) fn http_send(envelope: &[u8]) -> i64 {
        // A new call discards a result that was not read.
        PENDING.set(None);
        // Taken out for the call, so a fake that sends again finds no borrow held.
        let (code, pending) = match HOST.take() {
            Some(mut host) => {
                let answer = host(envelope);
                HOST.set(Some(host));
                answer
            }
            None => (
                edgefn_abi::ImportError::Unsupported.code().into(),
                NO_HOST.as_bytes().to_vec(),
            ),
        };
        PENDING.set(Some(pending));
        code
    }

    pub(in crate::http) fn result_read(buf: &mut [u8]) -> i32 {
        let invalid = edgefn_abi::ImportError::Invalid.code();
        PENDING.with_borrow_mut(|pending| match pending {
            Some(result) if result.len() <= buf.len() => {
                let Ok(copied) = i32::try_from(result.len()) else {
                    return invalid;
                };
                buf[..result.len()].copy_from_slice(result);
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

        #[test]
        fn pending_result_follows_the_abi_rules() {
            let previous = replace_host(Some(Box::new(|_| (5, b"hello".to_vec()))));
            assert_eq!(http_send(b"x"), 5);
            let mut small = [0u8; 4];
            assert_eq!(result_read(&mut small), -3, "too small");
            let mut buf = [0u8; 8];
            assert_eq!(result_read(&mut buf), 5, "still pending after a short read");
            assert_eq!(&buf[..5], b"hello");
            assert_eq!(result_read(&mut buf), -3, "read once only");
            http_send(b"x");
            http_send(b"y");
            assert_eq!(
                result_read(&mut buf),
                5,
                "a new call replaces the unread one"
            );
            replace_host(previous);
        }

        #[test]
        fn without_a_host_the_call_is_unsupported_and_says_what_to_do() {
            let previous = replace_host(None);
            assert_eq!(http_send(b"x"), -8);
            let mut buf = vec![0u8; 1024];
            let n = result_read(&mut buf) as usize;
            assert!(
                String::from_utf8_lossy(&buf[..n]).contains("testing::with_host"),
                "{:?}",
                String::from_utf8_lossy(&buf[..n])
            );
            replace_host(previous);
        }
    }
}
