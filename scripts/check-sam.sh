#!/usr/bin/env bash
# Checks the SAM deployment offline: lints template.yaml with every optional feature off and on,
# scans it (and SAM's output for it) with checkov, and builds the arm64 bootstrap the way
# `sam build` does for a deploy, then prints its zipped size. Needs no AWS account or Docker.
#
# The tools are pinned and installed into virtualenvs under the target dir, not into the system
# Python, each in its own: checkov pins a boto3 that aws-sam-cli's pins exclude, and the tests'
# moto lives in target/venv.
#
# `sam build` (BuildMethod rust-cargolambda) runs `cargo lambda build --release --arm64
# --bin rai-widget-auth` itself, in the source tree and into the shared target/ directory, so
# there is no separate cargo-lambda step here. cargo-lambda installs the aarch64 Rust target
# through rustup on first use and links with the zig that `pip install cargo-lambda` brings.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

SAM_CLI_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2
CHECKOV_VERSION=3.3.30

export SAM_CLI_TELEMETRY=0
# The linter and the build need a region name but never call AWS.
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

venv() { # DIR REQUIREMENT...
    local dir=$1
    shift
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}
venv "$CARGO_TARGET_DIR/venv-sam" "aws-sam-cli==$SAM_CLI_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION"
venv "$CARGO_TARGET_DIR/venv-checkov" "checkov==$CHECKOV_VERSION"
export PATH="$CARGO_TARGET_DIR/venv-sam/bin:$PATH"
checkov=$CARGO_TARGET_DIR/venv-checkov/bin/checkov

# The template as written (every option off), its Lambda Managed Instances twin (generated from
# it; tests/api/template.rs holds the two together), then one variant per combination of options.
sam validate --lint --template-file template.yaml
sam validate --lint --template-file template-managed-instances.yaml
variants=$CARGO_TARGET_DIR/sam-variants
rm -rf "$variants"
python scripts/sam-variants.py --transformed template.yaml "$variants" >/dev/null 2>"$variants.log" ||
    { cat "$variants.log" >&2; exit 1; }
scanned=(-f template.yaml -f template-managed-instances.yaml)
for template in "$variants"/*.json; do
    case $template in
    *.cfn.json) ;;
    *) sam validate --lint --template-file "$template" ;;
    esac
    scanned+=(-f "$template")
done

# checkov reads SAM resources only in part (it sees no function URL and no stage that SAM
# generates), so it scans both the template and SAM's output for each variant. Every finding
# that does not apply is skipped in the resource's Metadata, with its reason.
"$checkov" "${scanned[@]}" --framework cloudformation --skip-download --compact --quiet

# The README's picture of the dashboard is drawn from the template; it must match it.
python scripts/dashboard-svg.py template.yaml >"$variants/dashboard.svg"
cmp -s docs/dashboard.svg "$variants/dashboard.svg" ||
    { echo "docs/dashboard.svg is out of date: python scripts/dashboard-svg.py template.yaml > docs/dashboard.svg" >&2; exit 1; }


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
