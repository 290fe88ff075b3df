#!/bin/sh
# Makes a headless Chromium available to the report's browser test and prints its path:
# $IPAM_CHROMIUM, then chromium or chromium-browser on PATH, else Debian's `chromium`
# package, installed with apt-get (as root, or with sudo).
set -e
if [ -n "$IPAM_CHROMIUM" ]; then
  echo "$IPAM_CHROMIUM"
  exit 0
fi
for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
    exit 0
  fi
done
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo=sudo
fi
echo "installing Debian's chromium with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq chromium >&2
command -v chromium
