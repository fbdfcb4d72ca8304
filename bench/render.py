"""Renders bench/run.sh's JSON lines as the markdown results table kept in bench/README.md."""
import datetime
import json
import platform
import subprocess
import sys


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
out = []
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
memory_gib = sh("free -g | awk '/Mem/ {print $2}'")
now = datetime.datetime.now(datetime.timezone.utc)
out.append(f"Run {now:%Y-%m-%d %H:%M UTC} on {sh('nproc')} cores ({cpu}), {memory_gib} GiB, "
           f"Linux {platform.release()}, {sh('rustc --version')}, wasmtime 48.0.8.")
out.append("")

inv = [r for r in rows if r["bench"] == "invoke_overhead"]
if inv:
    out += ["### In-process invocation (WASI ctx + store + instantiate + call + teardown, no HTTP)", "",
            "| guest | allocator | mode | p50 µs | p90 µs | p99 µs | mean µs | first µs | deploy ms |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in inv:
        mode = r.get('mode', 'fresh')
        if r['wasm'].endswith('slow-init.wasm'):
            mode += ", init " + ("preinit" if r.get('preinitialized') else "per-instance")
        out.append(f"| {r['wasm'].split('/')[-1]} | {r['allocator']} | {mode} | {r['p50_us']:.2f} | "
                   f"{r['p90_us']:.2f} | {r['p99_us']:.2f} | {r['mean_us']:.2f} | {r.get('first_us', 0):.0f} | "
                   f"{r.get('deploy_ms', 0):.1f} |")
    out.append("")

http = {r["server"]: r["rps"] for r in rows if r["bench"] == "http"}
if http:
    native = max(v for k, v in http.items() if k.startswith("native")) if any(k.startswith("native") for k in http) else None
    wasmtime = http.get("wasmtime-serve")
    out += ["### HTTP throughput, hello world (wrk, loopback, same run)", "",
            "| server | requests/s | × best native | × wasmtime serve (same guest) | server CPU µs/request |", "|---|---:|---:|---:|---:|"]
    cpu = {r["server"]: r.get("server_cpu_us_per_request") for r in rows if r["bench"] == "http"}
    for name, rps in http.items():
        vs_native = f"{rps / native:.2f}" if native else "–"
        # The JavaScript component's rows (NAME-js) against wasmtime serve of that component.
        reference = http.get("wasmtime-serve-js") if name.endswith("-js") else wasmtime
        vs_wasmtime = f"{rps / reference:.1f}" if reference else "–"
        cpu_us = f"{cpu[name]:.2f}" if cpu.get(name) is not None else "–"
        out.append(f"| {name} | {rps:,.0f} | {vs_native} | {vs_wasmtime} | {cpu_us} |")
    out.append("")

calls = [r for r in rows if r["bench"] == "outbound_call"]
if calls:
    out += ["### Outbound HTTP in process: one call at a time on one core, the calling thread's CPU (same run)", "",
            "| guest | round | hyper client, one call | guest, no call | guest, one call | guest, no call, then hyper's call | cost of the call | × hyper's | edgefn adds | share of hyper's call |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in calls:
        out.append(f"| {r['wasm'].split('/')[-1]} | {r['round']} | {r['native_call_cpu_us']:.2f} | "
                   f"{r['guest_no_call_cpu_us']:.2f} | {r['guest_call_cpu_us']:.2f} | "
                   f"{r['guest_no_call_then_native_cpu_us']:.2f} | "
                   f"{r['guest_call_cost_cpu_us']:.2f} | {r['ratio_to_native']:.2f} | "
                   f"{r['added_over_native_cpu_us']:.2f} | {100 * r['added_share_of_native']:.0f} % |")
    out.append("")

workers = [r for r in rows if r["bench"] == "workers"]
if workers:
    out += ["### Cloudflare Workers: the same hello as a module and as a component (workerd, fresh instance per request)", "",
            "| bundle | gzip bytes | workerd CPU µs/request | mean latency µs |", "|---|---:|---:|---:|"]
    for r in workers:
        out.append(f"| {r['bundle']} ({r['wasm'].split('/')[-1]}) | {r['bundle_gzip_bytes']:,} | "
                   f"{r['workerd_cpu_us_per_request']:,.0f} | {r['latency_us_mean']:,.0f} |")
    out.append("")

fixed = [r for r in rows if r["bench"] == "fixed-rate"]
if fixed:
    out += ["### At one fixed request rate (open loop, same run)", "",
            "| server | target rate | rate reached | p50 µs | p99 µs | no answer | not 2xx | server CPU µs/request |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in fixed:
        out.append(f"| {r['server']} | {r['rate_target']:,.0f} | {r['rate']:,.0f} | {r['p50_us']:,.0f} | "
                   f"{r['p99_us']:,.0f} | {r['errors']} | {r['not_2xx']} | {r['server_cpu_us_per_request']:.2f} |")
    out.append("")

noisy = [r for r in rows if r["bench"] == "noisy_neighbour"]
if noisy:
    out += ["### Noisy neighbours: hello, one request per new connection, beside busy guests", "",
            "| serve flags | busy guests | unloaded p50 / p99 ms | loaded p50 / p99 ms | errors |",
            "|---|---:|---:|---:|---:|"]
    for r in noisy:
        out.append(f"| `{r['serve_args'] or '(defaults)'}` | {r['busy']} | {r['unloaded_p50_ms']:.2f} / {r['unloaded_p99_ms']:.2f} | "
                   f"{r['loaded_p50_ms']:.2f} / {r['loaded_p99_ms']:.2f} | {r['errors']} |")
    out.append("")

cold = [r for r in rows if r["bench"] == "cold_start"]
if cold:
    out += ["### Cold start: spawn to first 200", "", "| command | runs | p50 ms | min ms | max ms |", "|---|---:|---:|---:|---:|"]
    for r in cold:
        command = r["command"].replace("target/release/", "")
        out.append(f"| `{command}` | {r['runs']} | {r['p50_ms']:.2f} | {r['min_ms']:.2f} | {r['max_ms']:.2f} |")
    out.append("")

for r in rows:
    if r["bench"] == "density":
        out += [f"### Density: {r['functions']:,} distinct functions, at most {r['max_loaded']} loaded", "",
                "| measure | value |", "|---|---:|",
                f"| deploy, empty artifact cache | {r['deploy_empty_cache_s']:.1f} s |",
                f"| deploy, warm artifact cache | {r['deploy_warm_cache_s']:.1f} s |",
                f"| RSS after deploy | {r['rss_after_deploy_mib']:.0f} MiB |",
                f"| RSS after one request to every function | {r['rss_after_hitting_all_mib']:.0f} MiB |",
                f"| RSS at the end | {r['rss_end_mib']:.0f} MiB |",
                f"| first hit of an evicted function, p50 / p99 | {r['first_hit_evicted_p50_us']:.0f} / {r['first_hit_evicted_p99_us']:.0f} µs |",
                f"| hit of a loaded function, p50 / p99 | {r['hit_loaded_p50_us']:.0f} / {r['hit_loaded_p99_us']:.0f} µs |", ""]

print("\n".join(out))
