"""Browser tests: Debian's Chromium, driven by Playwright, against the release binary of the
function behind rai-dev's front doors, on host names Chromium treats as distinct sites:

  www.example.test:SITE        the site (rai-dev site: static pages, /login, /api/* proxied as
                               the README's CloudFront behavior does)
  intruder.example.test:SITE   the same site's pages on a sibling origin that is NOT allowed
  auth.example.test:FN         the function URL front end: same site as www, another origin
  fn.lambda-url.other.test:FN  the same front end under a cross-site name

Everything is started by rai-dev (scripts/test.sh builds it and the release binary first)."""

import hashlib
import json
import os
import pathlib
import select
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest
from playwright.sync_api import sync_playwright

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("RAI_TARGET_DIR") or os.environ.get("CARGO_TARGET_DIR") or "target")
if not TARGET.is_absolute():
    TARGET = ROOT / TARGET
FUNCTION = TARGET / "release" / "rai-widget-auth"
RAI_DEV = TARGET / "debug" / "rai-dev"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

COOKIE = "rai_session"
DEFAULT_EMAIL = "demo.user@example.com"
RATE_LIMITED_EMAIL = "rate-limited@example.com"


def widget_token_for(email):
    """The Returning.AI stand-in's token for `email` (devtools/src/returning_ai.rs)."""
    return "demo-widget-token-for-" + hashlib.sha256(email.encode()).hexdigest()[:12]


def rai_dev(*args):
    return subprocess.run([str(RAI_DEV), *map(str, args)], check=True, capture_output=True, text=True).stdout.strip()


class Started:
    """A rai-dev server: waits for the `NAME: URL` line it prints first."""

    def __init__(self, name, args, log):
        self.log = log
        self.process = subprocess.Popen(
            [str(RAI_DEV), name, *map(str, args)],
            stdout=subprocess.PIPE, stderr=open(log, "w"), stdin=subprocess.DEVNULL, text=True,
        )
        ready, _, _ = select.select([self.process.stdout], [], [], 30)
        line = self.process.stdout.readline() if ready else ""
        if not line.startswith(f"{name}: "):
            self.stop()
            raise RuntimeError(f"rai-dev {name} did not start: {pathlib.Path(log).read_text()}")
        self.url = line.split(": ", 1)[1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Stack:
    """mode "jwt": the site's /login sets a session JWT signed with the shared secret.
    mode "opaque-cookie": /login sets a random session id the site keeps to itself, and the
    function asks the site's own /api/me who it names (SESSION_USERINFO_URL)."""

    def __init__(self, tmp, mode="jwt"):
        for path in (FUNCTION, RAI_DEV, pathlib.Path(CHROMIUM)):
            if not path.exists():
                raise RuntimeError(f"{path} is missing: run scripts/test.sh, which builds and installs it")
        self.tmp = tmp
        self.credentials = tmp / "demo.env"
        rai_dev("demo-env", "--out", self.credentials, "--mode", mode)
        self.servers = []
        self.rai = self.start("returning-ai", ["--env-file", self.credentials])
        site_port = self.site_port = int(rai_dev("free-port"))
        self.site = f"http://www.example.test:{site_port}"
        self.sibling = f"http://intruder.example.test:{site_port}"
        function_env = tmp / "function.env"
        function_env.write_text(
            self.credentials.read_text()
            + f"RAI_WIDGET_API_URL={self.rai.url}\nRAI_API_V2_URL={self.rai.url}\n"
            + f"SESSION_COOKIE={COOKIE}\nCORS_ALLOWED_ORIGINS={self.site}\n"
            # The site's own /me, on loopback (plain http is allowed there only).
            + (f"SESSION_USERINFO_URL=http://127.0.0.1:{site_port}/api/me\n" if mode == "opaque-cookie" else "")
        )
        self.function = self.start("function-url", ["--function", FUNCTION, "--env-file", function_env])
        self.auth = f"http://auth.example.test:{self.function.port}"
        self.cross_site = f"http://fn.lambda-url.other.test:{self.function.port}"
        self.start("site", [
            "--listen", f"127.0.0.1:{site_port}", "--api-origin", self.function.url,
            "--static", ROOT / "devtools" / "site", "--cookie-domain", "example.test",
            "--env-file", self.credentials, "--mode", mode,
        ])

    def start(self, name, args):
        server = Started(name, args, self.tmp / f"{name}.log")
        self.servers.append(server)
        return server

    def stop(self):
        for server in reversed(self.servers):
            server.stop()

    def me_calls(self):
        """What the opaque-cookie site's /api/me requests carried (cookie and header names)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.site_port}/__me-calls", timeout=5) as r:
            return json.load(r)["calls"]

    def upstream_calls(self):
        with urllib.request.urlopen(f"{self.rai.url}/__calls", timeout=5) as r:
            return json.load(r)["total"]

    def function_log(self):
        """The function's request lines (rai-dev function-url echoes them to its stderr)."""
        lines = []
        for line in pathlib.Path(self.function.log).read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
        return [line for line in lines if isinstance(line, dict) and "status" in line]

    def logged(self, **match):
        """How many request lines match, e.g. logged(method="OPTIONS", status=204)."""
        return sum(all(line.get(k) == v for k, v in match.items()) for line in self.function_log())

    def logged_at_least(self, count, **match):
        """As logged(), after waiting (up to 5 s) for `count` lines: rai-dev copies the function's
        output to its log a moment after the function wrote it, possibly after the answer."""
        deadline = time.monotonic() + 5
        while (seen := self.logged(**match)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return seen

    def mint(self, email):
        return rai_dev("mint", "--env-file", self.credentials, "--email", email)


@pytest.fixture(scope="session")
def stack():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rai-browser-"))
    s = Stack(tmp)
    yield s
    s.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def opaque_stack():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rai-browser-opaque-"))
    s = Stack(tmp, mode="opaque-cookie")
    yield s
    s.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        # Playwright gives each launch a fresh, empty user-data dir of its own. The flags keep
        # Chromium off this machine's closed network; --no-sandbox because the tests run as root.
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--host-resolver-rules=MAP *.example.test 127.0.0.1, MAP *.other.test 127.0.0.1",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


FETCH = """async ([url, options]) => {
  try {
    const r = await fetch(url, options);
    const text = await r.text();
    let body = null;
    try { body = JSON.parse(text); } catch (e) {}
    const headers = {};
    r.headers.forEach((value, name) => { headers[name] = value; });
    return {ok: true, status: r.status, type: r.type, body, headers};
  } catch (error) {
    return {ok: false, error: String(error)};
  }
}"""


def fetch(page, url, **options):
    """fetch() in the page, as the page's own script would; what the page can read of the answer."""
    return page.evaluate(FETCH, [url, options])


def sign_in(page, site, email=DEFAULT_EMAIL, then="/blank.html"):
    page.goto(f"{site}/login?email={urllib.request.quote(email)}&next={then}")
    assert page.url == f"{site}{then}"
