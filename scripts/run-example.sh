#!/bin/sh
# Builds the provider and runs an example address plan against real Terraform:
# plan, apply, then a second plan that must show no changes.
#   scripts/run-example.sh [gke|eks]     (default: gke)
set -e
example=${1:-gke}
cd "$(dirname "$0")/.."
root=$PWD
[ -d "examples/$example" ] || { echo "no example named $example (try gke or eks)" >&2; exit 2; }
tf=$(./scripts/setup-terraform.sh)
cargo build --release --locked --quiet
work=$(mktemp -d "${TMPDIR:-/tmp}/ipam-$example-XXXXXX")
cp -R "examples/$example/." "$work/"
cat > "$work/.terraformrc" <<CONFIG
provider_installation {
  dev_overrides {
    "ipam-rs/ipam" = "$root/target/release"
  }
  direct {}
}
CONFIG
export TF_CLI_CONFIG_FILE="$work/.terraformrc" CHECKPOINT_DISABLE=1
cd "$work"
if [ -d modules ]; then "$tf" get -no-color >/dev/null; fi
"$tf" plan -input=false -out=example.tfplan
"$tf" apply -input=false example.tfplan
echo "--- second plan (expect: No changes) ---"
"$tf" plan -input=false -detailed-exitcode
echo "Done. The example's files and state are in $work"
