//! Hostile test guest: prints `?lines=N` (default 100000) log lines to stdout and stderr, then
//! answers. The host must keep only its per-invocation log budget and stay fast.
use edgefn::{Context, Request};

/// Floods the log, then answers how many lines it wrote.
pub fn handle(req: Request, _ctx: &Context) -> String {
    let lines = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("lines=")))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(100_000);
    for i in 0..lines {
        println!("flood line {i} ................................................................");
        eprintln!("flood error line {i}");
    }
    format!("wrote {lines} lines\n")
}

edgefn::export!(handle);
