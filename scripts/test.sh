#!/usr/bin/env bash
# Runs every test. Installs what it needs first: a virtualenv under the target dir with the
# pinned tools of scripts/requirements-test.txt (moto, pytest, Playwright) and Debian's chromium
# (apt-get, as root). Then: the Rust tests (unit, integration, the built binary under the Runtime
# API stand-in) with moto's Secrets Manager on a free loopback port, and the browser tests
# (tests/browser, Chromium against the release binary). Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_venv scripts/requirements-test.txt
ensure_chromium
# The browser tests run the release binary, built alone as it is deployed (building it together
# with the dev tools would unify their dependencies' features into it); rai-dev, the dev tools'
# binary, starts their stand-ins and finds moto's port.
cargo build --release -p rai-widget-auth --bin rai-widget-auth
cargo build -p rai-devtools --bin rai-dev

work=$(mktemp -d "${TMPDIR:-/tmp}/rai-test.XXXXXX")
trap 'stop_started; rm -rf "$work"' EXIT
start_moto "$work/moto.log"

status=0
cargo test --workspace --no-fail-fast "$@" || status=$?
# Last, so that pytest's summary line closes the output.
RAI_TARGET_DIR=$target_dir "$venv/bin/python" -m pytest tests/browser -q -p no:cacheprovider || status=$?
exit "$status"
