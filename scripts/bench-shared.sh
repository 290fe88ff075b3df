#!/bin/sh
# Shared-ledger figures against a private PostgreSQL cluster (benches/shared.rs): load
# time of 100k blocks under both orders of the exclusion constraint's columns, the
# provider's plan time for one owner against 10k and 100k other blocks, the locked
# transaction and apply times, and the wall time of N concurrent terraform applies.
# Not a test: it prints figures.
set -e
cd "$(dirname "$0")/.."
./scripts/setup-postgres.sh
IPAM_TERRAFORM=$(./scripts/setup-terraform.sh)
cargo build --release --locked --quiet
IPAM_PROVIDER_DIR=$PWD/target/release
export IPAM_TERRAFORM IPAM_PROVIDER_DIR
cargo bench --locked --bench shared
