#!/usr/bin/env bash
# Runs the real function locally, end to end, with no AWS account and no internet, and checks what
# it answers on both routes.
#
#   moto server                 stands in for Secrets Manager (the secret is created with boto3)
#   scripts/fake_returning_ai.py stands in for the two Returning.AI endpoints
#   cargo lambda watch          runs the function (after a cargo build) and emulates the Lambda
#                               runtime API and a function URL; `cargo lambda invoke` sends it
#                               the sample events in events/
#
# Everything listens on free 127.0.0.1 ports and is stopped on exit. The credentials are random
# per run and never printed. The function's own log goes to $CARGO_TARGET_DIR/local-demo.log
# (default target/local-demo.log) and is printed only when a check fails.
#
# The first run compiles the function (cargo build, debug profile), which takes a few minutes on
# a small machine. LOCAL_DEMO_TIMEOUT (seconds, default 900) bounds the wait for the function to
# answer once it is built (cargo lambda watch checks the build again before starting it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$root/$target_dir ;; esac
mkdir -p "$target_dir"
export CARGO_TARGET_DIR=$target_dir
function_log=$target_dir/local-demo.log
start_timeout=${LOCAL_DEMO_TIMEOUT:-900}
started_at=$SECONDS

say() { printf '%s\n' "$*"; }
die() { printf 'local demo: %s\n' "$*" >&2; exit 1; }

# --- prerequisites -----------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo is not installed (see rustup)"
command -v curl >/dev/null || die "curl is not installed"
command -v python3 >/dev/null || die "python3 is not installed"
if ! cargo lambda --version >/dev/null 2>&1; then
    say "installing cargo-lambda (python3 -m pip install cargo-lambda)"
    python3 -m pip install --quiet cargo-lambda
fi
if ! python3 -c 'import moto.server, boto3' >/dev/null 2>&1; then
    say "installing moto server (python3 -m pip install 'moto[server]')"
    python3 -m pip install --quiet 'moto[server]'
fi

# --- background processes, stopped on any exit ---------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/rai-local-demo.XXXXXX")
pids=()
passed=0
failed=0
show_logs=0

stop_all() {
    local pid
    for pid in "${pids[@]}"; do
        # Each one leads its own process group (setsid), which also holds its children: the
        # function binary and any cargo build under cargo lambda watch.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for _ in $(seq 1 50); do
        local alive=0
        for pid in "${pids[@]}"; do
            kill -0 -- "-$pid" 2>/dev/null && alive=1
        done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
}

on_exit() {
    local status=$?
    set +e
    if [ "$status" != 0 ] || [ "$show_logs" = 1 ]; then
        if [ -s "$function_log" ]; then
            say ""
            say "---- function log (cargo lambda watch), last 80 lines of $function_log ----"
            tail -n 80 "$function_log"
        fi
        if [ -s "$work/fake_returning_ai.log" ]; then
            say "---- Returning.AI stand-in log ----"
            tail -n 40 "$work/fake_returning_ai.log"
        fi
        if [ -s "$work/moto.log" ] && [ "${moto_ready:-0}" != 1 ]; then
            say "---- moto log ----"
            tail -n 20 "$work/moto.log"
        fi
    fi
    [ "${#pids[@]}" -gt 0 ] && stop_all
    rm -rf "$work"
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start LOG COMMAND... : runs COMMAND in the background in a new session, so that the whole
# process group can be stopped on exit.
start() {
    local log=$1
    shift
    setsid "$@" >>"$log" 2>&1 </dev/null &
    pids+=("$!")
    last_pid=$!
}

# wait_for NAME URL PID SECONDS : polls URL until it answers at all.
wait_for() {
    local name=$1 url=$2 pid=$3 limit=$4 waited=0
    until curl -s -o /dev/null --max-time 2 "$url"; do
        kill -0 "$pid" 2>/dev/null || die "$name exited before it answered (see its log above)"
        [ "$waited" -ge "$((limit * 10))" ] && die "$name did not answer on $url within ${limit}s"
        sleep 0.1
        waited=$((waited + 1))
    done
}

read -r moto_port fake_port function_port < <(python3 - <<'PY'
import socket
socks = []
for _ in range(3):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
PY
)
moto_url=http://127.0.0.1:$moto_port
fake_url=http://127.0.0.1:$fake_port
function_url=http://127.0.0.1:$function_port/lambda-url/rai-widget-auth

# --- demo credentials, random per run, never printed ---------------------------------------------
read -r demo_api_key demo_access_id demo_access_key demo_session_secret < <(python3 -c '
import secrets
print("rai_demo_" + secrets.token_hex(16), "demo-access-" + secrets.token_hex(6),
      secrets.token_urlsafe(32), secrets.token_urlsafe(48))')
secret_id=rai-widget-auth/demo
community=demo-community
allowed_origin=http://localhost:3000

say "local demo: starting moto (Secrets Manager) on $moto_url"
start "$work/moto.log" python3 -m moto.server -H 127.0.0.1 -p "$moto_port"
wait_for "moto server" "$moto_url/moto-api/" "$last_pid" 60
moto_ready=1

say "local demo: starting the Returning.AI stand-in on $fake_url"
(
    export FAKE_RAI_API_KEY=$demo_api_key FAKE_RAI_ACCESS_ID=$demo_access_id
    export FAKE_RAI_ACCESS_KEY=$demo_access_key FAKE_RAI_COMMUNITY_ID=$community
    start "$work/fake_returning_ai.log" python3 scripts/fake_returning_ai.py \
        --host 127.0.0.1 --port "$fake_port"
    printf '%s\n' "$last_pid" >"$work/fake.pid"
)
fake_pid=$(cat "$work/fake.pid")
pids+=("$fake_pid")
wait_for "Returning.AI stand-in" "$fake_url/healthz" "$fake_pid" 30

# The secret, the way a deployment keeps it. The values travel in the environment, not argv.
say "local demo: creating the secret $secret_id in moto"
DEMO_API_KEY=$demo_api_key DEMO_ACCESS_ID=$demo_access_id DEMO_ACCESS_KEY=$demo_access_key \
DEMO_SESSION_SECRET=$demo_session_secret DEMO_SECRET_ID=$secret_id DEMO_ENDPOINT=$moto_url \
AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SESSION_TOKEN python3 - <<'PY'
import json, os
import boto3

client = boto3.client("secretsmanager", endpoint_url=os.environ["DEMO_ENDPOINT"],
                      region_name="us-east-1")
client.create_secret(
    Name=os.environ["DEMO_SECRET_ID"],
    SecretString=json.dumps({
        "apiKey": os.environ["DEMO_API_KEY"],
        "accessId": os.environ["DEMO_ACCESS_ID"],
        "accessKey": os.environ["DEMO_ACCESS_KEY"],
        "sessionSecret": os.environ["DEMO_SESSION_SECRET"],
    }),
)
PY

# --- a session, as the customer's site would issue it (HS256 with the secret's sessionSecret) ----
issuer=${SESSION_ISSUER:-}
audience=${SESSION_AUDIENCE:-}
jwt=$(DEMO_SESSION_SECRET=$demo_session_secret DEMO_ISS=$issuer DEMO_AUD=$audience \
    DEMO_CLAIMS_OUT=$work/claims.json python3 - <<'PY'
import base64, hashlib, hmac, json, os, time

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

now = int(time.time())
claims = {"sub": "demo-user-42", "email": "demo.user@example.com", "email_verified": True,
          "iat": now, "exp": now + 600}
if os.environ.get("DEMO_ISS"):
    claims["iss"] = os.environ["DEMO_ISS"]
if os.environ.get("DEMO_AUD"):
    claims["aud"] = os.environ["DEMO_AUD"].split(",")[0].strip()
header = {"alg": "HS256", "typ": "JWT"}
signing_input = ".".join(
    b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
signature = hmac.new(os.environ["DEMO_SESSION_SECRET"].encode(), signing_input.encode(),
                     hashlib.sha256).digest()
with open(os.environ["DEMO_CLAIMS_OUT"], "w") as f:
    json.dump(claims, f)
print(signing_input + "." + b64url(signature))
PY
)
say "local demo: minted a session JWT (HS256, sessionSecret) with claims $(cat "$work/claims.json")"

# What the stand-in answers for this session (see scripts/fake_returning_ai.py): the sign-in token
# names the session's email, so the request body's attacker@example.com must not show up, and the
# embed token names the USER_IDENTIFIERS taken from the session's claims.
read -r expected_widget_token expected_embed_token < <(python3 -c '
import hashlib, json
h = lambda text: hashlib.sha256(text.encode()).hexdigest()[:12]
ids = {"data-email": "demo.user@example.com", "data-user-id": "demo-user-42"}
print("demo-widget-token-for-" + h("demo.user@example.com"),
      "demo-embed-token-" + h(json.dumps(ids, sort_keys=True, separators=(",", ":"))))')

# --- the function, under cargo lambda watch ------------------------------------------------------
# Built first, in the foreground, so that a compile error stops the demo at once. cargo lambda
# watch then runs the same `cargo run --bin rai-widget-auth`, which finds the build up to date.
say "local demo: building the function (cargo build; the first run takes a few minutes)"
build_started=$SECONDS
cargo build --bin rai-widget-auth >"$function_log" 2>&1 ||
    die "the function did not build (see the log above)"
say "            built in $((SECONDS - build_started))s"

say "local demo: starting the function with cargo lambda watch on 127.0.0.1:$function_port"
(
    # Only the demo's settings: nothing from the caller's shell may change what is checked.
    unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_CONFIG_FILE \
        AWS_SHARED_CREDENTIALS_FILE AWS_ENDPOINT_URL RAI_SECRET_TTL_SECONDS \
        RAI_UPSTREAM_TIMEOUT_MS SESSION_HEADER SESSION_JWKS_URL SESSION_LEEWAY_SECONDS \
        SESSION_EMAIL_CLAIM RAI_API_KEY RAI_ACCESS_ID RAI_ACCESS_KEY SESSION_SECRET
    [ -n "$issuer" ] || unset SESSION_ISSUER
    [ -n "$audience" ] || unset SESSION_AUDIENCE
    # Exported rather than passed with --env-var: that flag splits values on commas, and
    # --env-file cannot parse the '=' inside USER_IDENTIFIERS.
    export RAI_SECRET_ID=$secret_id
    export AWS_ENDPOINT_URL_SECRETS_MANAGER=$moto_url
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    export AWS_EC2_METADATA_DISABLED=true
    export RAI_COMMUNITY_ID=$community
    export RAI_WIDGET_API_URL=$fake_url
    export RAI_API_V2_URL=$fake_url
    export SESSION_COOKIE=rai_session
    export USER_IDENTIFIERS=data-email=email,data-user-id=sub
    export CORS_ALLOWED_ORIGINS=$allowed_origin
    # --disable-cors: the function answers CORS itself; the emulator's own CORS layer would
    # answer preflights in its place.
    start "$function_log" cargo lambda watch --ignore-changes --disable-cors \
        --invoke-address 127.0.0.1 --invoke-port "$function_port"
    printf '%s\n' "$last_pid" >"$work/watch.pid"
)
watch_pid=$(cat "$work/watch.pid")
pids+=("$watch_pid")

# cargo lambda watch starts the function on the first request, which waits for it. An unknown
# path is answered by the function itself (404 not_found) without any upstream call.
waited_from=$SECONDS
until status=$(curl -s -o "$work/ready.json" -w '%{http_code}' --max-time 60 \
        "$function_url/__ready" 2>/dev/null) &&
    [ "$status" = 404 ] && grep -q '"not_found"' "$work/ready.json"; do
    kill -0 "$watch_pid" 2>/dev/null || die "cargo lambda watch exited (see the function log)"
    if grep -q -E '^error(\[E[0-9]+\])?:|"init_failed"' "$function_log" 2>/dev/null; then
        die "the function did not build or start (see the function log)"
    fi
    if [ $((SECONDS - waited_from)) -ge "$start_timeout" ]; then
        die "the function did not answer within ${start_timeout}s (LOCAL_DEMO_TIMEOUT)"
    fi
    sleep 2
done
say "local demo: the function answers ($((SECONDS - started_at))s since start)"
say ""

# --- checks ---------------------------------------------------------------------------------------
# json_check FILE PYTHON-EXPRESSION : the expression sees the parsed body as `b` and the response
# headers (lower-case names) as `h`.
json_check() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
body_file, headers_file, expression = sys.argv[1:]
raw = open(body_file, "rb").read()
try:
    b = json.loads(raw) if raw.strip() else None
except ValueError:
    b = None
h = {}
for line in open(headers_file, encoding="latin-1"):
    if ":" in line:
        name, value = line.split(":", 1)
        h[name.strip().lower()] = value.strip()
sys.exit(0 if eval(expression) else 1)
PY
}

record() { # record NAME OK DETAIL
    if [ "$2" = 1 ]; then
        passed=$((passed + 1))
        say "   PASS $1"
    else
        failed=$((failed + 1))
        say "   FAIL $1: $3"
    fi
}

# request NAME EXPECTED-STATUS CHECK-EXPRESSION CURL-ARGS...
request() {
    local name=$1 expected=$2 check=$3
    shift 3
    say "== $name"
    local status
    status=$(curl -s -D "$work/headers" -o "$work/body" -w '%{http_code}' --max-time 60 "$@") ||
        status=000
    say "   HTTP $status"
    grep -i -E '^(content-type|cache-control|www-authenticate|allow|vary|access-control-[a-z-]+):' \
        "$work/headers" | tr -d '\r' | sed 's/^/   /' || true
    [ -s "$work/body" ] && say "   $(cat "$work/body")"
    if [ "$status" != "$expected" ]; then
        record "$name" 0 "expected HTTP $expected, got $status"
    elif [ -n "$check" ] && ! json_check "$work/body" "$work/headers" "$check"; then
        record "$name" 0 "HTTP $status, but the response fails: $check"
    else
        record "$name" 1
    fi
}

say "The function URL emulation: $function_url/..."
request "1. POST /widget-auth, Authorization: Bearer <session>, body email ignored" 200 \
    "b.get('token') == '$expected_widget_token' and b.get('expiresIn') == 300 and 'refreshToken' in b" \
    -X POST "$function_url/widget-auth" \
    -H "Authorization: Bearer $jwt" -H 'Content-Type: application/json' \
    --data '{"email":"attacker@example.com"}'

request "2. GET /embed-token, session cookie, Origin $allowed_origin" 200 \
    "b.get('embedToken') == '$expected_embed_token' and b.get('expiresIn') == 900 and h.get('access-control-allow-origin') == '$allowed_origin' and h.get('access-control-allow-credentials') == 'true'" \
    "$function_url/embed-token" \
    -H "Cookie: rai_session=$jwt" -H "Origin: $allowed_origin"

request "3. OPTIONS /widget-auth (CORS preflight)" 204 \
    "h.get('access-control-allow-origin') == '$allowed_origin' and 'POST' in h.get('access-control-allow-methods', '') and 'authorization' in h.get('access-control-allow-headers', '').lower()" \
    -X OPTIONS "$function_url/widget-auth" \
    -H "Origin: $allowed_origin" -H 'Access-Control-Request-Method: POST' \
    -H 'Access-Control-Request-Headers: authorization,content-type'

request "4. POST /widget-auth without a session" 401 \
    "b.get('error') == 'missing_session' and h.get('www-authenticate', '').startswith('Bearer')" \
    -X POST "$function_url/widget-auth"

request "5. POST /widget-auth from a foreign origin" 403 \
    "b.get('error') == 'origin_not_allowed' and 'access-control-allow-origin' not in h" \
    -X POST "$function_url/widget-auth" \
    -H "Authorization: Bearer $jwt" -H 'Origin: https://evil.example'

say ""
say "The sample events in events/, with cargo lambda invoke:"
invoke_event() { # invoke_event FILE EXPECTED-STATUS CHECK-EXPRESSION
    local file=$1 expected=$2 check=$3 name
    name=$(basename "$file" .json)
    sed "s|REPLACE_WITH_SESSION_JWT|$jwt|g" "$file" >"$work/event.json"
    if ! cargo lambda invoke rai-widget-auth --invoke-address 127.0.0.1 \
        --invoke-port "$function_port" --data-file "$work/event.json" \
        --output-format json >"$work/invoke.json" 2>"$work/invoke.err"; then
        say "== events/$name.json"
        sed 's/^/   /' "$work/invoke.err"
        record "events/$name.json" 0 "cargo lambda invoke failed"
        return
    fi
    # Unwrap the Lambda proxy response into the same body/headers files the checks read.
    python3 - "$work/invoke.json" "$work/body" "$work/headers" <<'PY' >"$work/status"
import base64, json, sys
response = json.load(open(sys.argv[1]))
body = response.get("body") or ""
if response.get("isBase64Encoded"):
    body = base64.b64decode(body).decode()
open(sys.argv[2], "w").write(body)
headers = dict(response.get("headers") or {})
for name, values in (response.get("multiValueHeaders") or {}).items():
    headers.setdefault(name, ", ".join(values))
with open(sys.argv[3], "w") as f:
    for name, value in headers.items():
        f.write(f"{name.lower()}: {value}\n")
print(response.get("statusCode"))
PY
    local status
    status=$(cat "$work/status")
    say "== events/$name.json -> statusCode $status"
    [ -s "$work/body" ] && say "   $(cat "$work/body")"
    if [ "$status" != "$expected" ]; then
        record "events/$name.json" 0 "expected statusCode $expected, got $status"
    elif [ -n "$check" ] && ! json_check "$work/body" "$work/headers" "$check"; then
        record "events/$name.json" 0 "statusCode $status, but the response fails: $check"
    else
        record "events/$name.json" 1
    fi
}

invoke_event events/function-url-widget-auth.json 200 \
    "b.get('token') == '$expected_widget_token' and h.get('access-control-allow-origin') == '$allowed_origin'"
invoke_event events/http-api-embed-token.json 200 \
    "b.get('embedToken') == '$expected_embed_token'"
invoke_event events/rest-api-widget-auth.json 200 \
    "b.get('token') == '$expected_widget_token'"
invoke_event events/preflight.json 204 \
    "h.get('access-control-allow-origin') == '$allowed_origin'"
invoke_event events/missing-session.json 401 \
    "b.get('error') == 'missing_session'"

say ""
say "local demo took $((SECONDS - started_at))s; function log: $function_log"
if [ "$failed" -gt 0 ]; then
    show_logs=1
    say "local demo: $passed passed, $failed failed"
    exit 1
fi
say "local demo: $passed passed, 0 failed"
