#!/usr/bin/env python3
"""Runs the real release binary against a stand-in Lambda Runtime API and prints what a
deployment pays: init time (exec to the first poll for an event), time per invocation as the
runtime sees it, and the process's peak resident memory.

    cargo build --release && python3 scripts/bench-runtime.py [target/release/rai-widget-auth]

Everything stays on 127.0.0.1: the Runtime API stand-in here, scripts/fake_returning_ai.py as
Returning.AI, credentials from the environment (local mode, no Secrets Manager). Figures only:
nothing is asserted, since these machines are shared and noisy.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time

INVOCATIONS = 500
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(session_secret):
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": "bench-user", "email": "bench@example.com", "iat": now, "exp": now + 3600}
    payload = b64url(json.dumps(claims).encode())
    signature = hmac.new(session_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{b64url(signature.digest())}"


def event(token, request_id):
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/widget-auth",
        "rawQueryString": "",
        "headers": {"authorization": f"Bearer {token}", "host": "bench.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "bench",
            "domainName": "bench.lambda-url.us-east-1.on.aws",
            "http": {"method": "POST", "path": "/widget-auth", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:10:00:00 +0000",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }


class Runtime:
    """The Runtime API: hands out INVOCATIONS events, one at a time, and records the answers."""

    def __init__(self, token):
        self.token = token
        self.first_poll = None
        self.handed_out = {}
        self.latencies = []
        self.statuses = {}
        self.errors = []
        self.done = threading.Event()
        self.next_id = 0


def handler_for(runtime):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: with Nagle on, each answer on a kept-alive
        # connection would wait for a delayed ACK (about 40 ms) and the figures would measure that.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def reply(self, status, body=b"", headers=()):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if not self.path.endswith("/runtime/invocation/next"):
                return self.reply(404)
            if runtime.first_poll is None:
                runtime.first_poll = time.perf_counter()
            if runtime.next_id >= INVOCATIONS:
                runtime.done.set()
                time.sleep(60)  # the process is killed meanwhile
                return self.reply(500)
            request_id = f"bench-{runtime.next_id}"
            runtime.next_id += 1
            body = json.dumps(event(runtime.token, request_id)).encode()
            deadline = int(time.time() * 1000) + 30_000
            runtime.handed_out[request_id] = time.perf_counter()
            self.reply(200, body, [
                ("Lambda-Runtime-Aws-Request-Id", request_id),
                ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                ("Lambda-Runtime-Invoked-Function-Arn",
                 "arn:aws:lambda:us-east-1:123456789012:function:rai-widget-auth"),
                ("Content-Type", "application/json"),
            ])

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = self.path.split("/")
            if self.path.endswith("/response"):
                request_id = parts[-2]
                runtime.latencies.append(time.perf_counter() - runtime.handed_out[request_id])
                status = json.loads(body).get("statusCode")
                runtime.statuses[status] = runtime.statuses.get(status, 0) + 1
            else:
                runtime.errors.append(self.path)
            self.reply(202)

    return Handler


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "rai-widget-auth")
    if not os.path.exists(binary):
        sys.exit(f"{binary} not found: run `cargo build --release` first")

    api_key, session_secret = "bench_" + secrets.token_hex(8), secrets.token_urlsafe(32)
    runtime = Runtime(mint(session_secret))
    runtime_port, upstream_port = free_port(), free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", runtime_port), handler_for(runtime))
    threading.Thread(target=server.serve_forever, daemon=True).start()

    upstream = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "scripts", "fake_returning_ai.py"),
         "--host", "127.0.0.1", "--port", str(upstream_port)],
        env={**os.environ, "FAKE_RAI_API_KEY": api_key, "FAKE_RAI_ACCESS_ID": "unused",
             "FAKE_RAI_ACCESS_KEY": "unused"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", upstream_port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)

    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{runtime_port}",
        "AWS_LAMBDA_FUNCTION_NAME": "rai-widget-auth",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "RAI_API_KEY": api_key,
        "SESSION_SECRET": session_secret,
        "RAI_COMMUNITY_ID": "bench-community",
        "RAI_WIDGET_API_URL": f"http://127.0.0.1:{upstream_port}",
        "RAI_API_V2_URL": f"http://127.0.0.1:{upstream_port}",
    }
    started = time.perf_counter()
    function = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not runtime.done.wait(120):
            sys.exit(f"the function did not finish {INVOCATIONS} invocations; stderr: "
                     f"{function.stderr.read1(4000) if function.poll() is not None else ''}")
        with open(f"/proc/{function.pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
    finally:
        function.kill()
        upstream.kill()
        server.shutdown()

    ms = sorted(x * 1000 for x in runtime.latencies)
    print(f"binary: {binary} ({os.path.getsize(binary)} bytes)")
    print(f"init (exec to first poll for an event): {(runtime.first_poll - started) * 1000:.1f} ms")
    print(f"first invocation (cold connection to the upstream): {ms and runtime.latencies[0] * 1000:.2f} ms")
    print(f"invocations: {len(ms)}, statuses {runtime.statuses}, runtime errors {len(runtime.errors)}")
    print(f"per invocation, as the runtime sees it: mean {statistics.mean(ms):.2f} ms, "
          f"p50 {ms[len(ms) // 2]:.2f} ms, p99 {ms[len(ms) * 99 // 100]:.2f} ms")
    print(f"peak resident memory (VmHWM): {status['VmHWM'].strip()}; now (VmRSS): {status['VmRSS'].strip()}")


if __name__ == "__main__":
    main()
