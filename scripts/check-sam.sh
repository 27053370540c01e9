#!/usr/bin/env bash
# Checks the SAM deployment offline: lints template.yaml and builds the arm64 bootstrap the way
# `sam build` does for a deploy, then prints its zipped size. Needs no AWS account or Docker.
#
# `sam build` (BuildMethod rust-cargolambda) runs `cargo lambda build --release --arm64
# --bin rai-widget-auth` itself, in the source tree and into the shared target/ directory, so
# there is no separate cargo-lambda step here. cargo-lambda installs the aarch64 Rust target
# through rustup on first use and links with the zig that `pip install cargo-lambda` brings.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

export SAM_CLI_TELEMETRY=0
# The linter and the build need a region name but never call AWS.
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

command -v sam >/dev/null || python3 -m pip install --quiet aws-sam-cli
cargo lambda --version >/dev/null 2>&1 || python3 -m pip install --quiet cargo-lambda

sam validate --lint --template-file template.yaml

build_dir=$CARGO_TARGET_DIR/sam-build
sam build --template-file template.yaml --build-dir "$build_dir" --build-in-source

bootstrap=$build_dir/WidgetAuthFunction/bootstrap
python3 - "$bootstrap" <<'PY'
import os, sys, tempfile, zipfile

bootstrap = sys.argv[1]
with open(bootstrap, "rb") as f:
    header = f.read(20)
# ELF, e_machine 183 (AArch64): the arm64 the template declares.
if header[:4] != b"\x7fELF" or int.from_bytes(header[18:20], "little") != 183:
    sys.exit(f"{bootstrap} is not an arm64 ELF executable")
with tempfile.TemporaryDirectory() as tmp:
    archive = os.path.join(tmp, "bootstrap.zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(bootstrap, "bootstrap")
    print(f"bootstrap: {os.path.getsize(bootstrap)} bytes")
    print(f"bootstrap.zip: {os.path.getsize(archive)} bytes")
PY
