//! Hostile test guest: allocates until memory runs out. The host's memory cap must stop it (500).
use edgefn::{Context, Request};

/// Keeps allocating 1 MiB chunks and touching them.
pub fn handle(_req: Request, _ctx: &Context) -> String {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![0xa5; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

edgefn::export!(handle);
