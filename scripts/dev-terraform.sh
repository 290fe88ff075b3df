# Sourced by the Terraform benchmarks (bench-terraform.sh, trace-terraform.sh): builds
# the release provider, sets $root, $tf (Terraform) and $work (a scratch directory
# removed on exit), and points Terraform at the build with dev_overrides.
cd "$(dirname "$0")/.."
root=$PWD
tf=$(./scripts/setup-terraform.sh)
cargo build --release --locked --quiet
work=$(mktemp -d "${TMPDIR:-/tmp}/ipam-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
cat > "$work/cli.tfrc" <<CONFIG
provider_installation {
  dev_overrides {
    "ipam-rs/ipam" = "$root/target/release"
  }
  direct {}
}
CONFIG
export TF_CLI_CONFIG_FILE="$work/cli.tfrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
