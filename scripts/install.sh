#!/usr/bin/env bash
# Installs buildorch (editable) with its test tools into .venv beside this repo.
# Idempotent: a second run only checks. Used by main-job.sh and test.sh.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$repo/.venv"
python=${PYTHON:-python3}

sudo_() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "buildorch needs Python >= 3.11 ($python is $("$python" --version 2>&1))" >&2
  exit 1
fi
if [[ ! -x "$venv/bin/python" ]]; then
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    # Debian and Ubuntu ship venv separately
    rm -rf "$venv"
    sudo_ apt-get update -qq && sudo_ apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv "$venv"
  fi
fi
stamp="$venv/.buildorch-installed"
if [[ ! -f $stamp || "$repo/pyproject.toml" -nt $stamp ]]; then
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e "$repo[test]"
  touch "$stamp"
fi
echo "ok: buildorch $("$venv/bin/buildorch" --version | cut -d' ' -f2) in $venv"
