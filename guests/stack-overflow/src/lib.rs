//! Hostile test guest: unbounded recursion. The host must turn the overflow into a 500.
use edgefn::{Context, Request};

#[inline(never)]
#[allow(unconditional_recursion)] // the point of this guest
fn recurse(depth: u64, pad: [u64; 16]) -> u64 {
    let next = std::hint::black_box([depth; 16]);
    recurse(depth + 1, next) + pad[(depth % 16) as usize]
}

/// Recurses until the stack runs out.
pub fn handle(_req: Request, _ctx: &Context) -> String {
    recurse(0, [0; 16]).to_string()
}

edgefn::export!(handle);
