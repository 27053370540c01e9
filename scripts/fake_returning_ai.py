#!/usr/bin/env python3
"""A local stand-in for the two Returning.AI endpoints the function calls (standard library only).

Used by scripts/local-demo.sh so the real function can run end to end with no internet:

  POST /widget/<community>/signin
      needs `returningai-api-key: <api key>` and `email: <user email>`
      200 {"token": "demo-widget-token-for-<sha256(email)[:12]>", "refreshToken": "...", "expiresIn": 300}
  POST /v2/api/widget-access-keys/token
      needs JSON {"accessId", "accessKey", "userIdentifiers": {...}}
      200 {"data": {"embedToken": "demo-embed-token-<sha256(identifiers)[:12]>", "expiresIn": 900}}

A wrong key answers 401 JSON, a malformed request 400 JSON. The expected credentials come from
the environment (FAKE_RAI_API_KEY, FAKE_RAI_ACCESS_ID, FAKE_RAI_ACCESS_KEY), which keeps them out
of `ps`, or from the matching command-line options. They are never printed; the request log shows
the route, the status and a hash of the email only.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIGNIN = re.compile(r"^/widget/([A-Za-z0-9_-]+)/signin/?$")
EMBED = "/v2/api/widget-access-keys/token"
MAX_BODY = 64 * 1024


def short_hash(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def same(given, expected):
    """Constant-time comparison; an unset expectation never matches."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-returning-ai/1"
    protocol_version = "HTTP/1.1"
    # Keep-alive answers would otherwise wait on a delayed ACK (about 40 ms) between the header
    # and body writes.
    disable_nagle_algorithm = True

    def do_POST(self):
        self.note = ""
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            return self.reply(413, {"error": "too_large"})
        body = self.rfile.read(length) if length else b""

        match = SIGNIN.match(path)
        if match:
            return self.signin(match.group(1))
        if path == EMBED:
            return self.embed(body)
        return self.reply(404, {"error": "not_found"})

    def do_GET(self):
        # Lets the demo script check that the server is up.
        if self.path == "/healthz":
            return self.reply(200, {"ok": True})
        return self.reply(405, {"error": "method_not_allowed"})

    def signin(self, community):
        options = self.server.options
        if options.community and community != options.community:
            return self.reply(404, {"error": "unknown_community"})
        if not same(self.headers.get("returningai-api-key"), options.api_key):
            return self.reply(401, {"error": "unauthorized", "message": "invalid API key"})
        email = (self.headers.get("email") or "").strip()
        if "@" not in email:
            return self.reply(400, {"error": "bad_request", "message": "email header required"})
        content_type = self.headers.get("content-type") or ""
        if not content_type.lower().startswith("application/json"):
            return self.reply(400, {"error": "bad_request", "message": "JSON content type required"})
        self.note = f"signin community={community} email_sha256={short_hash(email)}"
        return self.reply(
            200,
            {
                "token": f"demo-widget-token-for-{short_hash(email)}",
                "refreshToken": f"demo-refresh-{secrets.token_hex(8)}",
                "expiresIn": 300,
            },
        )

    def embed(self, body):
        options = self.server.options
        try:
            request = json.loads(body or b"null")
        except ValueError:
            return self.reply(400, {"error": "bad_request", "message": "body is not JSON"})
        if not isinstance(request, dict):
            return self.reply(400, {"error": "bad_request", "message": "body is not an object"})
        if not (
            same(request.get("accessId"), options.access_id)
            and same(request.get("accessKey"), options.access_key)
        ):
            return self.reply(401, {"error": "unauthorized", "message": "invalid access key"})
        identifiers = request.get("userIdentifiers")
        if not isinstance(identifiers, dict) or not identifiers:
            return self.reply(
                400, {"error": "bad_request", "message": "userIdentifiers object required"}
            )
        canonical = json.dumps(identifiers, sort_keys=True, separators=(",", ":"))
        self.note = f"embed-token identifiers={sorted(identifiers)}"
        return self.reply(
            200,
            {"data": {"embedToken": f"demo-embed-token-{short_hash(canonical)}", "expiresIn": 900}},
        )

    def reply(self, status, payload):
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return None

    def log_request(self, code="-", size="-"):
        # The request line only (never headers or bodies), plus what was served.
        note = getattr(self, "note", "")
        self.log_message('"%s" %s %s', self.requestline, code, note)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--community", default=os.environ.get("FAKE_RAI_COMMUNITY_ID"),
                        help="only this community id is known (default: any)")
    parser.add_argument("--api-key", default=os.environ.get("FAKE_RAI_API_KEY"))
    parser.add_argument("--access-id", default=os.environ.get("FAKE_RAI_ACCESS_ID"))
    parser.add_argument("--access-key", default=os.environ.get("FAKE_RAI_ACCESS_KEY"))
    options = parser.parse_args()
    if not (options.api_key or (options.access_id and options.access_key)):
        parser.error("set FAKE_RAI_API_KEY and/or FAKE_RAI_ACCESS_ID + FAKE_RAI_ACCESS_KEY")

    server = ThreadingHTTPServer((options.host, options.port), Handler)
    server.daemon_threads = True
    server.options = options
    host, port = server.server_address[:2]
    print(f"fake Returning.AI listening on http://{host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
