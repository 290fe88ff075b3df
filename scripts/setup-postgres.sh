#!/bin/sh
# Makes sure the PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) are on this
# machine for the shared-ledger tests, which start a private cluster of their own.
# Installs Debian's `postgresql` with apt-get when they are missing.
set -e
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
echo "PostgreSQL server not found: installing Debian's postgresql with apt-get" >&2
if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends postgresql >&2
ls /usr/lib/postgresql/*/bin/initdb >/dev/null
