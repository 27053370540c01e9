# Set-up shared by scripts/test.sh and scripts/local-demo.sh (sourced, not run). It only installs
# and starts things; what is checked lives in the tested Rust code (devtools/, tests/).

# The cargo target directory, absolute (CARGO_TARGET_DIR is honoured), exported for cargo.
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$(pwd)/$target_dir ;; esac
mkdir -p "$target_dir"
export CARGO_TARGET_DIR=$target_dir
venv=$target_dir/venv

# ensure_venv REQUIREMENTS... : a virtualenv under the target dir with exactly these pinned
# requirements; reinstalled only when a requirements file changes.
ensure_venv() {
    local stamp
    stamp=$venv/.installed-$(cat "$@" | sha256sum | cut -c1-16)
    [ -e "$stamp" ] && return 0
    echo "installing into $venv: $(grep -hv '^#' "$@" | sort -u | tr '\n' ' ')"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv" ||
        { echo "python3 -m venv failed: install Python's venv (Debian: apt-get install python3-venv)" >&2; return 1; }
    local args=()
    for file in "$@"; do args+=(-r "$file"); done
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}"
    touch "$stamp"
}

# ensure_chromium : Debian's Chromium for the browser tests (Playwright cannot download its own
# browser here); installed with apt-get when running as root.
ensure_chromium() {
    [ -x /usr/bin/chromium ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing Debian's chromium (apt-get install chromium)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "the browser tests need Chromium at /usr/bin/chromium: run 'sudo apt-get install chromium' (Debian/Ubuntu) once" >&2
        return 1
    fi
}

# start_server NAME LOG COMMAND... : starts a rai-dev server in the background, waits for the
# "NAME: URL" line it prints first, and sets $url and $last_pid. Its pid goes into $pids.
pids=()
start_server() {
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>"$log.err" </dev/null &
    last_pid=$!
    pids+=("$last_pid")
    for _ in $(seq 1 300); do
        url=$(sed -n "s|^$name: ||p" "$log" | head -n 1)
        [ -n "$url" ] && return 0
        if ! kill -0 "$last_pid" 2>/dev/null; then
            echo "$name did not start:" >&2
            cat "$log.err" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "$name did not start within 30 s" >&2
    return 1
}

# start_moto : moto's server as Secrets Manager on a free loopback port, with the AWS SDK's
# environment pointed at it and kept away from any real account on the machine.
start_moto() {
    local port log=$1
    port=$("$target_dir/debug/rai-dev" free-port)
    "$venv/bin/python" -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 </dev/null &
    moto_pid=$!
    pids+=("$moto_pid")
    for _ in $(seq 1 150); do
        if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/moto-api/"; then
            break
        fi
        kill -0 "$moto_pid" 2>/dev/null || { echo "moto's server did not start:" >&2; cat "$log" >&2; return 1; }
        sleep 0.1
    done
    export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$port"
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN
    export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
    export AWS_EC2_METADATA_DISABLED=true
}

# stop_started : stops what this script started, each by its own pid.
stop_started() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
