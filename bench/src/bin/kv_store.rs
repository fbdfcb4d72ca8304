//! The local key-value store in-process: `get` and `set` latency through the `KvBackend` a guest's
//! imports call, on a current-thread runtime as each host worker has, no Wasm and no HTTP.
//!
//! Usage: kv_store [OPERATIONS] [VALUE_BYTES] [STATE_DIR]
//! Prints one JSON line per measurement: sequential `set` (each waits for its fsync), `set` with
//! 32 in flight (redb's one writer serializes them), `get` of a present key, `get` of an absent
//! key, and what a hop to the blocking pool would add to a read (why reads run inline).

use edgefn_bench::{report, summarize};
use edgefn_host::local::FileStore;
use edgefn_host::local::kv_file::Owner;
use edgefn_host::runtime::capabilities::kv::KvBackend;
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let operations: usize = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let value_bytes: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(100);
    let temp = tempfile::tempdir()?;
    let dir = args
        .get(3)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_path_buf());
    let store = FileStore::new(&dir, Owner::this_process("bench"));
    store.open()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let value = vec![0x61u8; value_bytes];
    let key = |i: usize| format!("bench/key-{i:08}");
    let line = |op: &str, samples: &mut Vec<Duration>, extra: serde_json::Value| {
        let s = summarize(samples);
        let mut fields = serde_json::json!({
            "op": op, "operations": s.count, "value_bytes": value_bytes,
            "p50_us": s.p50_us, "p90_us": s.p90_us, "p99_us": s.p99_us, "mean_us": s.mean_us,
            "state_dir": dir.display().to_string(),
        });
        if let (Some(to), Some(from)) = (fields.as_object_mut(), extra.as_object()) {
            to.extend(from.clone());
        }
        report("kv_store", fields);
    };

    runtime.block_on(async {
        let mut samples = Vec::with_capacity(operations);
        for i in 0..operations {
            let started = Instant::now();
            store.set("default", &key(i), &value, 0).await?;
            samples.push(started.elapsed());
        }
        line("set", &mut samples, serde_json::json!({ "in_flight": 1 }));

        // 32 writers at once: each sample is one write's latency; the total gives throughput.
        let in_flight = 32;
        let started_all = Instant::now();
        let tasks: Vec<_> = (0..in_flight)
            .map(|w| {
                let store = store.clone();
                let value = value.clone();
                let per = operations / in_flight;
                tokio::spawn(async move {
                    let mut samples = Vec::with_capacity(per);
                    for i in 0..per {
                        let started = Instant::now();
                        let k = format!("bench/conc-{w:02}-{i:08}");
                        store.set("default", &k, &value, 0).await?;
                        samples.push(started.elapsed());
                    }
                    anyhow::Ok(samples)
                })
            })
            .collect();
        let mut samples = Vec::new();
        for task in tasks {
            samples.extend(task.await??);
        }
        let seconds = started_all.elapsed().as_secs_f64();
        let writes = samples.len();
        line(
            "set",
            &mut samples,
            serde_json::json!({ "in_flight": in_flight, "writes_per_s": writes as f64 / seconds }),
        );

        let mut samples = Vec::with_capacity(operations);
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..operations {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let k = key(rng as usize % operations);
            let started = Instant::now();
            let got = store.get("default", &k).await?;
            samples.push(started.elapsed());
            anyhow::ensure!(
                got.is_some_and(|v| v.len() == value_bytes),
                "{k} is missing"
            );
        }
        line("get", &mut samples, serde_json::json!({ "present": true }));

        let mut samples = Vec::with_capacity(operations);
        for i in 0..operations {
            let k = format!("absent/{i}");
            let started = Instant::now();
            let got = store.get("default", &k).await?;
            samples.push(started.elapsed());
            anyhow::ensure!(got.is_none());
        }
        line("get", &mut samples, serde_json::json!({ "present": false }));

        let mut samples = Vec::with_capacity(operations);
        for _ in 0..operations {
            let started = Instant::now();
            tokio::task::spawn_blocking(|| ()).await?;
            samples.push(started.elapsed());
        }
        line("blocking-pool-hop", &mut samples, serde_json::json!({}));
        anyhow::Ok(())
    })?;
    store.release();
    Ok(())
}
