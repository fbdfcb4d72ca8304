//! Test guest: reports what it can reach, so tests can check it gets exactly what it was given.
//! `GET /capabilities?read=PATH&write=PATH` answers one line per probe.
use edgefn::{Context, Request};
use std::time::{SystemTime, UNIX_EPOCH};

fn param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// Probes the clock, random, the environment, and reading and writing the given paths.
pub fn handle(req: Request, _ctx: &Context) -> String {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut random = [0u8; 16];
    let random = match getrandom(&mut random) {
        Ok(()) => random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        Err(e) => format!("error: {e}"),
    };
    let read = param(&req, "read").map(|path| match std::fs::read_to_string(path) {
        Ok(text) => format!("ok {}", text.trim()),
        Err(e) => format!("denied {}", e.kind()),
    });
    let write = param(&req, "write").map(|path| match std::fs::write(path, b"x") {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("denied {}", e.kind()),
    });
    let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    format!(
        "clock {now_ms}\nrandom {random}\nenv {}\nread {}\nwrite {}\n",
        env.join(","),
        read.unwrap_or_default(),
        write.unwrap_or_default()
    )
}

/// Random bytes through std's hasher seeding source: WASI `random_get`.
fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    for chunk in buf.chunks_mut(8) {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u8(0);
        chunk.copy_from_slice(&hasher.finish().to_le_bytes()[..chunk.len()]);
    }
    Ok(())
}

edgefn::export!(handle);
