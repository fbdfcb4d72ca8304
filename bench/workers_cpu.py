"""Cloudflare Workers: bundle size and workerd CPU per request of the same hello as an ABI v1 module
and as a wasi:http component, each packaged by `edgefn package --target cloudflare-workers`.

Usage: python3 bench/workers_cpu.py EDGEFN WORKERD JCO NAME=WASM[:SUBPATH]... [REQUESTS]
Each bundle is asked for /NAME, or /NAME/SUBPATH when given (a guest that routes on its path).
Prints one JSON line per bundle ({"bench": "workers", ...}). CPU is workerd's own (utime + stime
from /proc, all its threads) over REQUESTS sequential keep-alive requests after a warm-up, so the
client's CPU is not counted. A fresh instance serves every request in both bundles.
"""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

TICKS = os.sysconf("SC_CLK_TCK")
WARMUP = 200


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(edgefn, workerd, jco, name, wasm, path, requests):
    out = tempfile.mkdtemp(prefix=f"workers-bench-{name}-")
    env = dict(os.environ, EDGEFN_JCO=jco)
    printed = subprocess.run([edgefn, "package", "--target", "cloudflare-workers", wasm, "--out", out,
                              "--name", name], env=env, check=True, capture_output=True, text=True).stdout
    size = int(re.search(r"\((\d+) bytes\)", printed).group(1))
    port = free_port()
    server = subprocess.Popen([workerd, "serve", os.path.join(out, "config.capnp"),
                               "--socket-addr", f"http=127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", path)
                first = conn.getresponse()
                first.read()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        if first.status != 200:
            raise SystemExit(f"{name}: workerd answered {first.status}")
        for _ in range(WARMUP):
            conn.request("GET", path)
            conn.getresponse().read()
        before = cpu_seconds(server.pid)
        started = time.perf_counter()
        for _ in range(requests):
            conn.request("GET", path)
            reply = conn.getresponse()
            reply.read()
            if reply.status != 200:
                raise SystemExit(f"{name}: workerd answered {reply.status}")
        wall = time.perf_counter() - started
        cpu = cpu_seconds(server.pid) - before
    finally:
        server.terminate()
        server.wait()
    return {"bench": "workers", "bundle": name, "wasm": wasm, "bundle_gzip_bytes": size,
            "requests": requests, "workerd_cpu_us_per_request": cpu / requests * 1e6,
            "latency_us_mean": wall / requests * 1e6}


def main():
    edgefn, workerd, jco = sys.argv[1:4]
    rest = sys.argv[4:]
    requests = int(rest.pop()) if rest and rest[-1].isdigit() else 2000
    for pair in rest:
        name, wasm = pair.split("=", 1)
        wasm, _, sub = wasm.partition(":")
        path = f"/{name}/{sub}" if sub else f"/{name}"
        print(json.dumps(measure(edgefn, workerd, jco, name, wasm, path, requests)), flush=True)


if __name__ == "__main__":
    main()
