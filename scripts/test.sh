#!/bin/sh
# Runs every test: allocator unit and property tests, protocol tests, doctests, and
# the end-to-end tests in which real Terraform drives the built provider, and the store
# and shared-ledger tests against a private PostgreSQL cluster they start themselves,
# and the address-plan report in headless Chromium.
set -e
cd "$(dirname "$0")/.."
./scripts/setup-postgres.sh
IPAM_CHROMIUM=$(./scripts/setup-chromium.sh)
export IPAM_CHROMIUM
IPAM_TERRAFORM=$(./scripts/setup-terraform.sh)
export IPAM_TERRAFORM
echo "Terraform: $IPAM_TERRAFORM ($("$IPAM_TERRAFORM" version | head -n 1))"
cargo test --locked "$@"
