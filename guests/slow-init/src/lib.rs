//! Test and bench guest with expensive setup: its init builds a lookup table (about 10 ms of work
//! under wasmtime on the 2-core bench machine) that every request then reads.
//!
//! Each answer says how many times init ran in this instance and when (a nanosecond stamp taken by
//! init), so a test can tell a pre-initialized snapshot (the same stamp in every fresh instance)
//! from an init run per instance (a new stamp each time), and how many requests this instance has
//! served (always 1 on fresh instances, snapshot or not: nothing a request writes survives it).
use edgefn::{Context, Request, RequestExt};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Entries in the table init builds.
const TABLE_LEN: usize = 1 << 16;
/// Mixing rounds per entry: sets how long init takes.
const ROUNDS: u32 = 64;

struct Setup {
    table: Vec<u64>,
    stamp_ns: u128,
}

static SETUP: OnceLock<Setup> = OnceLock::new();
static INIT_RUNS: AtomicU32 = AtomicU32::new(0);
static SERVED: AtomicU32 = AtomicU32::new(0);

fn mix(mut x: u64) -> u64 {
    // splitmix64's finalizer.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The expensive part: the entry for `i`.
pub fn entry(i: usize) -> u64 {
    (0..ROUNDS).fold(i as u64, |x, _| mix(x))
}

/// Builds the table; the SDK runs it once per instance, or once at deploy on a host that
/// pre-initializes.
pub fn setup() {
    INIT_RUNS.fetch_add(1, Ordering::Relaxed);
    SETUP.get_or_init(|| Setup {
        table: (0..TABLE_LEN).map(entry).collect(),
        stamp_ns: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    });
}

/// `?i=N` answers table entry `N mod TABLE_LEN`, with the init count and stamp.
pub fn handle(req: Request, _ctx: &Context) -> String {
    let setup = SETUP.get().expect("the SDK runs init before the handler");
    let i = req
        .query("i")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0)
        % TABLE_LEN;
    format!(
        "entry={} init_runs={} init_stamp={} served={}\n",
        setup.table[i],
        INIT_RUNS.load(Ordering::Relaxed),
        setup.stamp_ns,
        SERVED.fetch_add(1, Ordering::Relaxed) + 1
    )
}

edgefn::export!(handle, init = setup);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_then_handle_reads_the_table() {
        setup();
        setup();
        let req = edgefn::http::Request::builder()
            .uri("/slow-init?i=7")
            .body(edgefn::Bytes::new())
            .unwrap();
        let answer = handle(req, &Context::builder().build());
        assert!(
            answer.starts_with(&format!("entry={} init_runs=2 ", entry(7))),
            "{answer}"
        );
        assert!(answer.ends_with(" served=1\n"), "{answer}");
    }
}
