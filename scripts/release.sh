#!/bin/sh
# Builds the release binary and writes the files a provider registry or mirror serves,
# for the version in Cargo.toml, to dist/ (or $IPAM_DIST):
#   terraform-provider-ipam_VERSION_linux_amd64.zip   holds terraform-provider-ipam_vVERSION
#   terraform-provider-ipam_VERSION_SHA256SUMS        sha256 of the zip and the manifest
#   terraform-provider-ipam_VERSION_manifest.json     = terraform-registry-manifest.json
# The zip is reproducible: one entry with a fixed timestamp (1980-01-01), fixed
# permissions (0755) and fixed compression, so the same binary gives the same bytes; and
# the binary is built with the checkout's path remapped and symbols stripped, in its own
# target directory (target/dist-build), so that two checkouts of the same sources at
# different paths build the same binary.
set -eu
cd "$(dirname "$0")/.."
root=$PWD
dist=${IPAM_DIST:-$root/dist}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || { echo "release.sh: no version in Cargo.toml" >&2; exit 1; }
case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) platform=linux_amd64 ;;
  Linux/aarch64) platform=linux_arm64 ;;
  Darwin/x86_64) platform=darwin_amd64 ;;
  Darwin/arm64) platform=darwin_arm64 ;;
  *) echo "release.sh: unsupported platform $(uname -s)/$(uname -m)" >&2; exit 1 ;;
esac
RUSTFLAGS="--remap-path-prefix=$root=/build/terraform-provider-ipam -C strip=symbols" \
  CARGO_TARGET_DIR="$root/target/dist-build" cargo build --release --locked --quiet
bin="$root/target/dist-build/release/terraform-provider-ipam"
name=terraform-provider-ipam_${version}
mkdir -p "$dist"
rm -f "$dist/${name}_${platform}.zip" "$dist/${name}_SHA256SUMS" "$dist/${name}_manifest.json"
python3 - "$bin" "terraform-provider-ipam_v${version}" \
  "$dist/${name}_${platform}.zip" <<'PY'
import sys, zipfile
src, entry, out = sys.argv[1:4]
info = zipfile.ZipInfo(entry, date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = (0o100755 << 16)
info.create_system = 3  # unix, so the mode above is honoured by unzip and Terraform
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f:
    data = f.read()
with zipfile.ZipFile(out, "w") as z:
    z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
PY
cp terraform-registry-manifest.json "$dist/${name}_manifest.json"
(cd "$dist" && sha256sum "${name}_${platform}.zip" "${name}_manifest.json" > "${name}_SHA256SUMS")
echo "$dist/${name}_${platform}.zip"
