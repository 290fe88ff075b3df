#!/bin/sh
# Regenerates docs/ from the provider's schema descriptions and the examples.
set -e
cd "$(dirname "$0")/.."
IPAM_WRITE_DOCS=1 cargo test --quiet --test docs docs_are_up_to_date
echo "docs/ regenerated"
