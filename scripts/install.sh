#!/bin/sh
# Builds the release (scripts/release.sh) and puts the zip in Terraform's implied local
# mirror, ~/.terraform.d/plugins/registry.terraform.io/ipam-rs/ipam/ (packed layout).
# After this a plain `terraform init` in any directory installs the provider, with no
# CLI configuration, and writes the package's hash to .terraform.lock.hcl.
set -eu
cd "$(dirname "$0")/.."
zip=$(scripts/release.sh)
: "${HOME:?HOME must be set}"
mirror="$HOME/.terraform.d/plugins/registry.terraform.io/ipam-rs/ipam"
mkdir -p "$mirror"
cp "$zip" "$mirror/"
echo "installed $(basename "$zip") into $mirror" >&2
