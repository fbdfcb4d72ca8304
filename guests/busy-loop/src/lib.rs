//! Hostile test guest: spins forever. The host must stop it at its deadline (504).
use edgefn::{Context, Request};

/// Never returns.
pub fn handle(_req: Request, _ctx: &Context) -> &'static str {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

edgefn::export!(handle);
