//! Cold start: process spawn to first 200 response, repeated.
//!
//! Usage: cold_start RUNS PATH -- COMMAND [ARGS...]
//! `{addr}` in the arguments becomes a free loopback `host:port` for each run; the server must
//! listen there. Prints p50/min/max in milliseconds.

use edgefn_bench::{KeepAlive, free_port, report, summarize};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let split = args
        .iter()
        .position(|a| a == "--")
        .ok_or_else(|| anyhow::anyhow!("usage: cold_start RUNS PATH -- COMMAND [ARGS...]"))?;
    let runs: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let path = args.get(2).cloned().unwrap_or_else(|| "/".into());
    let command = &args[split + 1..];
    anyhow::ensure!(!command.is_empty(), "no command given after --");
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let addr = format!("127.0.0.1:{}", free_port());
        let argv: Vec<String> = command.iter().map(|a| a.replace("{addr}", &addr)).collect();
        let started = Instant::now();
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let elapsed = loop {
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                anyhow::bail!("{} did not answer 200 on {path} within 30 s", argv[0]);
            }
            if let Ok(mut client) = KeepAlive::connect(&addr)
                && let Ok((200, _)) = client.get(&path)
            {
                break started.elapsed();
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        samples.push(elapsed);
        let _ = child.kill();
        let _ = child.wait();
    }
    let s = summarize(&mut samples);
    report(
        "cold_start",
        serde_json::json!({
            "command": command.join(" "),
            "runs": s.count,
            "p50_ms": s.p50_us / 1e3,
            "min_ms": samples.first().map(|d| d.as_secs_f64() * 1e3),
            "max_ms": samples.last().map(|d| d.as_secs_f64() * 1e3),
        }),
    );
    Ok(())
}
