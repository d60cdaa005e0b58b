#!/usr/bin/env bash
# The whole test suite: lint, types, unit tests from recorded hosts, and integration tests
# against real engines (classic and containerd image stores), buildx, QEMU, a registry on
# loopback and a FUSE share. Provisions what is missing on Debian/Ubuntu (root or sudo).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
"$repo/scripts/install.sh"
if [[ $(uname -s) == Linux ]]; then
  sudo_() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
  sudo_ "$repo/scripts/provision-engine.sh"
fi
venv="$repo/.venv/bin"
"$venv/ruff" check .
"$venv/ruff" format --check .
"$venv/mypy"
exec "$venv/python" -m pytest "$@"
