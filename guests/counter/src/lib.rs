//! Test guest: increments a static on every call and answers its value. On a fresh instance per
//! request the answer is always 1; anything else means state leaked between requests.
use edgefn::{Context, Request};
use std::sync::atomic::{AtomicU64, Ordering};

static CALLS: AtomicU64 = AtomicU64::new(0);

/// Answers how many times this instance has been called.
pub fn handle(_req: Request, _ctx: &Context) -> String {
    format!("{}\n", CALLS.fetch_add(1, Ordering::Relaxed) + 1)
}

edgefn::export!(handle);
