"""Cold start of packaged Lambda bootstraps, A/B in one sitting.

    python3 bench/lambda_cold_start.py [--runs N] [--event JSON] NAME=PACKAGE_DIR [NAME=PACKAGE_DIR ...]

Each PACKAGE_DIR is an unzipped `edgefn package --target aws-lambda` folder (`bootstrap`,
`<module>.wasm`, `artifacts/`). For every run, in turn for each package (interleaved, so load on the
machine hits them alike), this starts `bootstrap` the way Lambda does (no arguments,
`AWS_LAMBDA_RUNTIME_API`, `LAMBDA_TASK_ROOT`, `_HANDLER`) against a minimal Runtime API on loopback,
hands it one event, and measures:

- wall: spawn to the response posted to `/runtime/invocation/<id>/response`;
- CPU: the process's user + system time up to the moment it asks for the next event (it is then
  idle; it is killed and its rusage read with wait4).

The Runtime API here is a few lines of Python on purpose: cargo-lambda's emulator adds its own
scheduling to every number, which an A/B of a few hundred microseconds cannot afford. Prints one
JSON line per package with medians and quartiles.
"""
import argparse
import http.server
import json
import os
import signal
import socketserver
import statistics
import subprocess
import threading
import time

API = "/2018-06-01/runtime"


class RuntimeApi(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, event):
        super().__init__(("127.0.0.1", 0), Handler)
        self.event = event
        self.served = 0
        self.responded = threading.Event()
        self.idle = threading.Event()
        self.response_at = None
        self.status = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        if self.path != f"{API}/invocation/next":
            return self.reply(404, b"{}")
        if server.served > 0:
            # The one event is done: the runtime is idle from here on.
            server.idle.set()
            time.sleep(30)
            return
        server.served += 1
        body = server.event
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-start-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:cold")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        server = self.server
        if self.path.endswith("/response") or self.path.endswith("/error"):
            server.response_at = time.perf_counter()
            server.status = "response" if self.path.endswith("/response") else "error"
            server.responded.set()
        self.reply(202, b"{}")

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def one_cold_start(package, event):
    server = RuntimeApi(event)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler = next(f for f in os.listdir(package) if f.endswith(".wasm"))
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "LAMBDA_TASK_ROOT": package,
        "_HANDLER": handler,
        "AWS_LAMBDA_FUNCTION_NAME": "cold",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "RUST_LOG": "warn",
    }
    started = time.perf_counter()
    child = subprocess.Popen([os.path.join(package, "bootstrap")], env=env, cwd=package,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not server.responded.wait(10):
            raise RuntimeError(f"{package}: no response posted within 10 s")
        if server.status != "response":
            raise RuntimeError(f"{package}: the runtime posted an error, not a response")
        wall_ms = (server.response_at - started) * 1e3
        server.idle.wait(5)
    finally:
        child.send_signal(signal.SIGKILL)
        _, _, usage = os.wait4(child.pid, 0)
        server.shutdown()
        server.server_close()
    cpu_ms = (usage.ru_utime + usage.ru_stime) * 1e3
    return wall_ms, cpu_ms, usage.ru_minflt


def quartiles(values):
    q = statistics.quantiles(values, n=4)
    return round(q[0], 3), round(statistics.median(values), 3), round(q[2], 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--event", default="{}")
    parser.add_argument("packages", nargs="+", metavar="NAME=PACKAGE_DIR")
    args = parser.parse_args()
    packages = [p.split("=", 1) for p in args.packages]
    results = {name: [] for name, _ in packages}
    for name, path in packages:  # one warm-up each: page cache, not measured
        one_cold_start(os.path.abspath(path), args.event.encode())
    for _ in range(args.runs):
        for name, path in packages:
            results[name].append(one_cold_start(os.path.abspath(path), args.event.encode()))
    for name, path in packages:
        runs = results[name]
        print(json.dumps({
            "bench": "lambda_cold_start",
            "package": name,
            "runs": len(runs),
            "wall_ms_q1_median_q3": quartiles([r[0] for r in runs]),
            "cpu_ms_q1_median_q3": quartiles([r[1] for r in runs]),
            "minor_faults_median": statistics.median(r[2] for r in runs),
            "bootstrap_bytes": os.path.getsize(os.path.join(path, "bootstrap")),
        }))


if __name__ == "__main__":
    main()
