//! Test guest: answers `?bytes=N` bytes (default 4 MiB) of a repeating 0..=255 pattern.
use edgefn::{Context, Request, Response};

/// Body size when the query does not say.
pub const DEFAULT_BYTES: usize = 4 << 20;

/// Returns a body of the requested size.
pub fn handle(req: Request, _ctx: &Context) -> Response {
    let size = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("bytes=")))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(DEFAULT_BYTES);
    let body: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let mut response = Response::new(body.into());
    response
        .headers_mut()
        .insert("content-type", "application/octet-stream".parse().unwrap());
    response
}

edgefn::export!(handle);
