#!/bin/sh
# Applies an example with the freshly built provider, draws its address plan with
# `terraform-provider-ipam report`, and takes a screenshot in headless Chromium:
#   scripts/report-screenshot.sh [gke|eks|gke-auto-ipam]   -> docs/images/report-<name>.png
set -e
cd "$(dirname "$0")/.."
root=$PWD
example=${1:-gke}
tf=$(./scripts/setup-terraform.sh)
chromium=$(./scripts/setup-chromium.sh)
cargo build --locked --quiet
work=$(mktemp -d "${TMPDIR:-/tmp}/ipam-report-XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "examples/$example/." "$work/"
rm -f "$work"/*.tftest.hcl
cat > "$work/cli.tfrc" <<CONFIG
provider_installation {
  dev_overrides {
    "ipam-rs/ipam" = "$root/target/debug"
  }
  direct {}
}
CONFIG
export TF_CLI_CONFIG_FILE="$work/cli.tfrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
(cd "$work" && "$tf" get >/dev/null && "$tf" apply -auto-approve -input=false >/dev/null && "$tf" show -json > state.json)
target/debug/terraform-provider-ipam report "$work/state.json" > "$work/report.html"
mkdir -p docs/images
"$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
  --disable-background-networking --no-first-run --hide-scrollbars \
  --user-data-dir="$work/profile" --window-size=1400,1900 \
  --screenshot="$root/docs/images/report-$example.png" "file://$work/report.html" 2>/dev/null
echo "docs/images/report-$example.png"
