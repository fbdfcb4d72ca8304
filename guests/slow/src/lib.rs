//! Test guest: sleeps `?ms=N` milliseconds (default 500), then answers `slept N ms`. Used to hold a
//! request in flight across a shutdown or a redeploy.
use edgefn::{Context, Request};
use std::time::Duration;

/// Sleeps, then reports how long.
pub fn handle(req: Request, _ctx: &Context) -> String {
    let ms = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("ms=")))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(500);
    std::thread::sleep(Duration::from_millis(ms));
    format!("slept {ms} ms\n")
}

edgefn::export!(handle);
