#!/usr/bin/env bash
# Runs the real function locally, end to end, with no AWS account and no internet:
#
#   moto                      Secrets Manager, holding the demo secret (random per run, never printed)
#   rai-dev returning-ai      a stand-in for the two Returning.AI endpoints
#   rai-dev function-url      the release binary under a Lambda Runtime API stand-in, behind a
#                             function URL front end that also serves the Lambda Invoke API
#   rai-dev site              (with --browser or --opaque-cookie) the site's origin: pages,
#                             /login, and /api/* forwarded to the function as a CloudFront
#                             behavior would
#
# It shows a call with curl and one with `cargo lambda invoke`, then `rai-dev check` makes and
# checks the calls a page makes on both routes and sends every file in events/.
#
#   scripts/local-demo.sh             run, check, stop
#   scripts/local-demo.sh --browser   run, check, then keep it all running and print the URL of
#                                     a page whose widget tag gets its token through auth-url
#                                     on the same origin (Ctrl-C stops it)
#   --opaque-cookie                   (alone or with --browser) the site keeps opaque
#                                     server-side sessions, as Rails, Django or Express do, and
#                                     answers GET /api/me; the function asks it who the cookie
#                                     names (SESSION_USERINFO_URL), and the secret holds no
#                                     sessionSecret. `rai-dev check --mode opaque-cookie` signs
#                                     users in and checks the function follows their cookie
#
# Installs what it needs: a virtualenv under the target dir with the pinned tools of
# scripts/requirements-demo.txt (moto, cargo-lambda). Logs: $CARGO_TARGET_DIR/local-demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

browser=0
mode=jwt
for arg in "$@"; do
    case $arg in
        --browser) browser=1 ;;
        --opaque-cookie) mode=opaque-cookie ;;
        *) echo "usage: scripts/local-demo.sh [--opaque-cookie] [--browser]" >&2; exit 2 ;;
    esac
done
started_at=$SECONDS

ensure_venv scripts/requirements-demo.txt
export PATH=$venv/bin:$PATH # cargo lambda
echo "building the function (release, as deployed) and rai-dev"
cargo build --quiet --release -p rai-widget-auth --bin rai-widget-auth
cargo build --quiet -p rai-devtools --bin rai-dev
dev=$target_dir/debug/rai-dev

work=$target_dir/local-demo
rm -rf "$work" && mkdir -p "$work"
trap 'stop_started; rm -f "$work/demo.env"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$dev" demo-env --out "$work/demo.env" --mode "$mode"
start_moto "$work/moto.log"
secret_id=rai-widget-auth/demo
"$dev" put-secret --name "$secret_id" --env-file "$work/demo.env" >/dev/null
echo "moto (Secrets Manager):  $AWS_ENDPOINT_URL_SECRETS_MANAGER, secret $secret_id"
start_server returning-ai "$work/returning-ai.log" "$dev" returning-ai --env-file "$work/demo.env"
rai_url=$url
echo "Returning.AI stand-in:   $rai_url"

site_port=$("$dev" free-port)
cat >"$work/function.env" <<VARS
RAI_SECRET_ID=$secret_id
AWS_ENDPOINT_URL_SECRETS_MANAGER=$AWS_ENDPOINT_URL_SECRETS_MANAGER
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
AWS_EC2_METADATA_DISABLED=true
RAI_COMMUNITY_ID=demo-community
RAI_WIDGET_API_URL=$rai_url
RAI_API_V2_URL=$rai_url
SESSION_COOKIE=rai_session
USER_IDENTIFIERS=data-email=email,data-user-id=sub
CORS_ALLOWED_ORIGINS=http://localhost:3000,http://localhost:$site_port,http://127.0.0.1:$site_port
VARS
if [ "$mode" = opaque-cookie ]; then
    # The site's own /me; plain http is allowed on loopback only.
    echo "SESSION_USERINFO_URL=http://127.0.0.1:$site_port/api/me" >>"$work/function.env"
fi
start_server function-url "$work/function-url.log" \
    "$dev" function-url --function "$target_dir/release/rai-widget-auth" --env-file "$work/function.env"
function_url=$url
port=${function_url##*:}
echo "the function:            $function_url (function URL and Lambda Invoke API)"
echo "its environment:         $work/function.env"
start_site() {
    start_server site "$work/site.log" "$dev" site --listen "127.0.0.1:$site_port" \
        --api-origin "$function_url" --static devtools/site --env-file "$work/demo.env" --mode "$mode"
    site_url=$url
}
if [ "$mode" = opaque-cookie ]; then
    # Before the checks: the function asks this site's /api/me who each cookie names.
    start_site
    echo "the site:                $site_url (/login, its own /api/me, /api/* to the function)"
fi
echo

echo "\$ curl -i -X POST $function_url/widget-auth"
curl -sS -i -X POST "$function_url/widget-auth" | tr -d '\r'
echo
echo
echo "\$ cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port $port --data-file events/preflight.json rai-widget-auth"
cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$port" --data-file events/preflight.json rai-widget-auth
echo
echo

status=0
if [ "$mode" = opaque-cookie ]; then
    "$dev" check --mode opaque-cookie --url "$function_url" --site "$site_url" \
        --function-env "$work/function.env" || status=$?
else
    "$dev" check --url "$function_url" --events events --env-file "$work/demo.env" \
        --function-env "$work/function.env" || status=$?
fi
echo
echo "the function's log, one JSON line per request ($work/function-url.log.err):"
tail -n 5 "$work/function-url.log.err"
echo
echo "local demo took $((SECONDS - started_at))s"
[ "$status" = 0 ] || { echo "local demo: a check failed (see above)" >&2; exit "$status"; }

if [ "$browser" = 1 ]; then
    [ "$mode" = opaque-cookie ] || start_site
    echo
    echo "Open http://localhost:$site_port/ in your browser."
    echo "  It is the site's origin; its widget tag has auth-url=\"/api/widget-auth\" on that same origin."
    echo "  'Sign in' sets the session cookie (/login); the widget then gets its token through the site."
    if [ "$mode" = opaque-cookie ]; then
        echo "  The cookie is an opaque session id: the function asks http://localhost:$site_port/api/me who it is."
    fi
    echo "Ctrl-C stops everything."
    wait
fi
