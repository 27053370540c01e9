#!/usr/bin/env bash
# Runs every test: starts moto's Secrets Manager server on a free loopback port, points the
# AWS SDK at it, and runs the Rust tests (unit and integration). Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import moto.server' 2>/dev/null; then
  echo "moto's server is missing: python3 -m pip install 'moto[server]'" >&2
  exit 1
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
log=$(mktemp)
python3 -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 1 100); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto's server did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done

export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$port"
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
# Keep the SDK away from any profile or instance metadata on the machine.
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true

cargo test "$@"
