#!/bin/sh
# Runs an example address plan against real Terraform, installed the way users install
# it: scripts/install.sh puts the release zip in Terraform's implied local mirror
# (~/.terraform.d/plugins), then `terraform init` installs it and writes the lock file,
# then plan, apply, and a second plan that must show no changes.
#   scripts/run-example.sh [gke|eks]     (default: gke)
set -e
example=${1:-gke}
cd "$(dirname "$0")/.."
[ -d "examples/$example" ] || { echo "no example named $example (try gke or eks)" >&2; exit 2; }
tf=$(./scripts/setup-terraform.sh)
scripts/install.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/ipam-$example-XXXXXX")
cp -R "examples/$example/." "$work/"
# No CLI configuration: the implied local mirror is enough. (Some machines point
# TF_CLI_CONFIG_FILE at a file that does not exist, which only adds a warning.)
unset TF_CLI_CONFIG_FILE
export CHECKPOINT_DISABLE=1
cd "$work"
"$tf" init -input=false
echo "--- .terraform.lock.hcl ---"
cat .terraform.lock.hcl
"$tf" plan -input=false -out=example.tfplan
"$tf" apply -input=false example.tfplan
echo "--- second plan (expect: No changes) ---"
"$tf" plan -input=false -detailed-exitcode
echo "Done. The example's files and state are in $work"
