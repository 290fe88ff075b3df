#!/bin/sh
# Where the time of one large pool goes, from Terraform's own trace (issue 20): one
# ipam_pool with N /32 entries (no handles), applied and then planned again with
# TF_LOG=trace, and this provider's handler times (TF_PROVIDER_IPAM_LOG=debug). For each
# command it prints every gRPC call Terraform makes to the provider, the time this
# provider spent handling it, and the time Terraform spent before the next call (its
# own work: reading configuration, converting values to the schema's types, graph
# walks, state). Not a test: it prints figures.
#   scripts/trace-terraform.sh [N...]     # default: 1000 5000
#   FORM=nested scripts/trace-terraform.sh 5000   # the pool written with `allocations`
#                                                 # (schema 2) instead of `requests`
set -e
. "$(dirname "$0")/dev-terraform.sh"
echo "Terraform: $("$tf" version | head -n 1); $(nproc) cores; the pool written as ${FORM:-requests}"
for n in ${*:-1000 5000}; do
  dir="$work/pool-$n"
  mkdir -p "$dir"
  {
    printf 'terraform {\n  required_providers {\n    ipam = { source = "ipam-rs/ipam" }\n  }\n}\n'
    printf 'resource "ipam_pool" "p" {\n  cidrs = ["10.0.0.0/8"]\n  %s = {\n' \
      "$(if [ "${FORM:-requests}" = nested ]; then echo allocations; else echo requests; fi)"
    awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "    \"vm-%d\" = { prefix_length = 32 }\n", i }'
    printf '  }\n}\n'
  } > "$dir/main.tf"
  for step in apply replan; do
    case $step in
      apply) args="apply -input=false -auto-approve -no-color" ;;
      replan) args="plan -input=false -no-color" ;;
    esac
    # shellcheck disable=SC2086
    (cd "$dir" && TF_LOG=trace TF_LOG_PATH="$dir/$step.log" TF_PROVIDER_IPAM_LOG=debug \
      "$tf" $args > /dev/null 2> "$dir/$step.err") || { cat "$dir/$step.err" >&2; exit 1; }
    python3 "$root/scripts/trace-phases.py" "$n entries, $step" "$dir/$step.log"
  done
done
