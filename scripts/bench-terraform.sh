#!/bin/sh
# Wall times of real Terraform commands with this provider, side by side with the same
# number of Terraform's built-in terraform_data resources (no plugin at all), and the
# ratios. Not a test: it prints figures.
#   scripts/bench-terraform.sh            # all scenarios
#   scripts/bench-terraform.sh pools      # 1 and 200 ipam_pool instances
#   scripts/bench-terraform.sh ledger     # 1 pool of 1,000 allocations + 1,000 handles
#   scripts/bench-terraform.sh same-shape # one pool, then the same pool and handles, then
#                                         # one pool of 1k, 5k and 20k entries: each written
#                                         # as `allocations` (schema 2), as `requests` of
#                                         # objects and of prefix lengths (the short form),
#                                         # vs terraform_data holding the same objects
#   scripts/bench-terraform.sh handles    # only the pool and handles of same-shape
#   scripts/bench-terraform.sh large      # only the 1k/5k/20k pools (IPAM_BENCH_SIZES)
#   scripts/bench-terraform.sh functions  # 1, 200 and 1,000 provider function calls in one
#                                         # plan vs Terraform's built-in cidrsubnet
set -e
. "$(dirname "$0")/dev-terraform.sh"
header='terraform {
  required_providers {
    ipam = { source = "ipam-rs/ipam" }
  }
}'

now() { date +%s.%N; }

# time_cmd DIR ARGS...: prints seconds for one terraform command in DIR
time_cmd() {
  dir=$1; shift
  t0=$(now)
  (cd "$dir" && "$tf" "$@" >/dev/null 2>"$dir/last.err") || { cat "$dir/last.err" >&2; exit 1; }
  t1=$(now)
  echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}'
}

# run_pair NAME IPAM_BODY DATA_BODY: plan, apply, second plan, destroy for both
run_pair() {
  name=$1
  mkdir -p "$work/$name-ipam" "$work/$name-data"
  printf '%s\n%s\n' "$header" "$2" > "$work/$name-ipam/main.tf"
  printf '%s\n' "$3" > "$work/$name-data/main.tf"
  for step in plan apply replan destroy; do
    case $step in
      plan) args="plan -input=false -no-color" ;;
      apply) args="apply -input=false -auto-approve -no-color" ;;
      replan) args="plan -input=false -no-color -detailed-exitcode" ;;
      destroy) args="destroy -input=false -auto-approve -no-color" ;;
    esac
    # shellcheck disable=SC2086
    a=$(time_cmd "$work/$name-ipam" $args)
    # shellcheck disable=SC2086
    b=$(time_cmd "$work/$name-data" $args)
    printf '%-28s %-8s %8s s %8s s %7s\n' "$name" "$step" "$a" "$b" "$(echo "$a $b" | awk '{printf "x%.2f", $1 / $2}')"
  done
}

pools() {
  n=$1
  run_pair "pools-$n" "
resource \"ipam_pool\" \"p\" {
  count       = $n
  cidrs       = [\"10.\${floor(count.index / 256)}.\${count.index % 256}.0/24\"]
  requests    = { a = { prefix_length = 26 }, b = { prefix_length = 27 } }
}" "
resource \"terraform_data\" \"p\" {
  count = $n
  input = { cidrs = [\"10.\${floor(count.index / 256)}.\${count.index % 256}.0/24\"], a = 26, b = 27 }
}"
}

# One pool of 1,000 allocations and a handle on each: 1,001 resources.
ledger_ipam='
resource "ipam_pool" "p" {
  cidrs       = ["10.0.0.0/8"]
  requests    = { for i in range(1000) : "alloc-${i}" => { prefix_length = 20 + i % 8 } }
}
resource "ipam_allocation" "h" {
  for_each = ipam_pool.p.allocations
  entry    = each.value
  cloud    = "aws"
}'

ledger() {
  run_pair "pool-1000-allocs+1000-handles" "$ledger_ipam" '
resource "terraform_data" "p" {
  input = { for i in range(1000) : "alloc-${i}" => 20 + i % 8 }
}
resource "terraform_data" "h" {
  for_each = terraform_data.p.input
  input    = each.value
}'
}

# The forms a pool's requests are written in, side by side: the nested `allocations` of
# schema 2 ("nested"), `requests` of objects ("requests"), `requests` in the short form
# ("short": a prefix length per name), then terraform_data holding the same objects.
forms="nested requests short data"

# side_by_side LABEL: apply, then plan again (and plan first, with $with_plan), in
# $work/LABEL-FORM for each form, printed on one line with the ratios to terraform_data.
side_by_side() {
  label=$1
  for step in plan apply replan; do
    case $step in
      plan) args="plan -input=false -no-color" ;;
      apply) args="apply -input=false -auto-approve -no-color" ;;
      replan) args="plan -input=false -no-color -detailed-exitcode" ;;
    esac
    [ "$step" = plan ] && [ -z "$with_plan" ] && continue
    times=
    for form in $forms; do
      # shellcheck disable=SC2086
      times="$times $(time_cmd "$work/$label-$form" $args)"
    done
    # shellcheck disable=SC2086
    echo "$label $step $times" | awk '{ printf "%-22s %-7s", $1, $2
      for (i = 3; i <= NF; i++) printf " %9s s", $i
      for (i = 3; i < NF; i++) printf " %8s", sprintf("x%.2f", $i / $NF)
      printf "\n" }'
  done
}

side_by_side_header() {
  printf '%-22s %-7s %11s %11s %11s %11s %8s %9s %8s\n' "scenario" "step" "nested" "requests" "short" "tf_data" "nested/" "requests/" "short/"
}

# pool_forms LABEL BODY SHORT_BODY: the pool written in `requests` of objects (BODY), as
# the nested `allocations` (the same, renamed) and in the short form (SHORT_BODY).
pool_forms() {
  for form in $forms; do mkdir -p "$work/$1-$form"; done
  printf '%s\n%s\n' "$header" "$2" | sed 's/  requests    = /  allocations = /' > "$work/$1-nested/main.tf"
  printf '%s\n%s\n' "$header" "$2" > "$work/$1-requests/main.tf"
  printf '%s\n%s\n' "$header" "$3" > "$work/$1-short/main.tf"
}

# The same pool and handles, the pool written each way, against terraform_data holding
# values of the pool's shape: Terraform's cost of a for_each over a large map of objects
# grows with the object's size, provider or not.
ledger_same_shape() {
  pool_forms handles "$ledger_ipam" "$(echo "$ledger_ipam" | sed 's/=> { prefix_length = 20 + i % 8 }/=> 20 + i % 8/')"
  cat > "$work/handles-data/main.tf" <<'CONFIG'
resource "terraform_data" "p" {
  input = { for i in range(1000) : "alloc-${i}" => {
    prefix_length = 20 + i % 8, cidr = "10.${i % 256}.${floor(i / 256)}.0/24", description = null,
    name = "alloc-${i}", pool_id = "pool-0123456789abcdef", network_address = "10.0.0.0",
    netmask = "255.255.255.0", first_address = "10.0.0.0", last_address = "10.0.0.255", address_count = "256" } }
}
resource "terraform_data" "h" {
  for_each = terraform_data.p.input
  input    = each.value
}
CONFIG
  with_plan=1
  side_by_side handles
}

# One pool of two entries, each way, against one terraform_data.
one_pool() {
  body='resource "ipam_pool" "p" {
  cidrs       = ["10.0.0.0/24"]
  requests    = { a = { prefix_length = 26 }, b = { prefix_length = 27 } }
}'
  pool_forms one "$body" "$(echo "$body" | sed 's/{ a = .*/{ a = 26, b = 27 }/')"
  printf 'resource "terraform_data" "p" {\n  input = { cidrs = ["10.0.0.0/24"], a = 26, b = 27 }\n}\n' > "$work/one-data/main.tf"
  with_plan=1
  side_by_side one
}

# One pool of N /32 entries, applied and planned again, written each way, against one
# terraform_data whose input holds the same 10-attribute objects the pool's
# `allocations` holds ("tf_data"). The literal is written out, as range() stops at 1,024.
large_pool() {
  for n in ${IPAM_BENCH_SIZES:-1000 5000 20000}; do
    for form in $forms; do
      mkdir -p "$work/pool-of-$n-$form"
      {
        case $form in
          data) printf 'resource "terraform_data" "p" {\n  input = {\n'
            awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "    \"vm-%d\" = { prefix_length = 32, cidr = \"10.%d.%d.%d/32\", description = null, name = \"vm-%d\", pool_id = \"pool-0123456789abcdef\", network_address = \"10.%d.%d.%d\", netmask = \"255.255.255.255\", first_address = \"10.%d.%d.%d\", last_address = \"10.%d.%d.%d\", address_count = \"1\" }\n", i, int(i / 65536), int(i / 256) % 256, i % 256, i, int(i / 65536), int(i / 256) % 256, i % 256, int(i / 65536), int(i / 256) % 256, i % 256, int(i / 65536), int(i / 256) % 256, i % 256 }' ;;
          *) printf '%s\nresource "ipam_pool" "p" {\n  cidrs = ["10.0.0.0/8"]\n' "$header"
            if [ $form = nested ]; then printf '  allocations = {\n'; else printf '  requests = {\n'; fi
            if [ $form = short ]; then value=32; else value='{ prefix_length = 32 }'; fi
            awk -v n="$n" -v value="$value" 'BEGIN { for (i = 0; i < n; i++) printf "    \"vm-%d\" = %s\n", i, value }' ;;
        esac
        printf '  }\n}\n'
      } > "$work/pool-of-$n-$form/main.tf"
    done
    with_plan=
    side_by_side "pool-of-$n"
  done
}

# N calls of provider::ipam::cidr_contains in one plan, against N calls of Terraform's
# built-in cidrsubnet. Every provider call is one CallFunction round trip; N = 1 shows
# the fixed cost of starting the plugin. (range() stops at 1,024 values.)
functions() {
  n=$1
  run_pair "functions-$n" "
output \"inside\" {
  value = [for i in range($n) : provider::ipam::cidr_contains(\"10.0.0.0/8\", \"10.\${floor(i / 256)}.\${i % 256}.0/24\")]
}" "
output \"inside\" {
  value = [for i in range($n) : cidrsubnet(\"10.0.0.0/8\", 16, i)]
}"
}

echo "Terraform: $("$tf" version | head -n 1); $(nproc) cores"
pair_header() {
  printf '%-28s %-8s %10s %10s %7s\n' "scenario" "step" "ipam" "tf_data" "ratio"
}
case ${1:-all} in
  pools) pair_header; pools 1; pools 200 ;;
  ledger) pair_header; ledger ;;
  handles) side_by_side_header; ledger_same_shape ;;
  large) side_by_side_header; large_pool ;;
  same-shape) side_by_side_header; one_pool; ledger_same_shape; large_pool ;;
  functions) pair_header; functions 1; functions 200; functions 1000 ;;
  all) pair_header; pools 1; pools 200; ledger; functions 1; functions 200; functions 1000; side_by_side_header; one_pool; ledger_same_shape; large_pool ;;
  *) echo "usage: $0 [pools|ledger|same-shape|handles|large|functions|all]" >&2; exit 2 ;;
esac
