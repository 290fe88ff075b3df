#!/bin/sh
# Runs the shared ledger's random schedules (tests/schedules.rs) against a private
# PostgreSQL: `--seeds N` runs seeds 0..N, `--seed S` replays one and prints its
# schedule. A violation prints its seed and the shortest schedule it shrinks to.
#   scripts/schedules.sh --seeds 1000
#   scripts/schedules.sh --seed 17
set -e
cd "$(dirname "$0")/.."
./scripts/setup-postgres.sh
case "$1" in
  --seeds) IPAM_SCHEDULE_SEEDS=$2; export IPAM_SCHEDULE_SEEDS ;;
  --seed) IPAM_SCHEDULE_SEED=$2; export IPAM_SCHEDULE_SEED ;;
  "") ;;
  *) echo "usage: scripts/schedules.sh [--seeds N | --seed S]" >&2; exit 2 ;;
esac
cargo test --locked --test schedules -- --nocapture
