#!/usr/bin/env bash
# The main job: a real `buildorch build --target arm64` of the bundled example project.
# On bare Debian/Ubuntu with no engine answering, it provisions one first (needs root or sudo).
# The result is an aarch64 binary in examples/hello-c/out, run once under QEMU to show it works.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/scripts/install.sh"
if ! docker info >/dev/null 2>&1; then
  if [[ $(uname -s) == Linux ]]; then
    sudo_() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
    sudo_ "$repo/scripts/provision-engine.sh"
  else
    echo "no Docker engine answers: start Docker Desktop, then run this again" >&2
    exit 1
  fi
fi
# shellcheck source=scripts/engine-env.sh
source "$repo/scripts/engine-env.sh"
example="$repo/examples/hello-c"
args=()
# with no registry reachable, use the toolchain image provisioned on loopback
if docker buildx imagetools inspect "$BUILDORCH_REGISTRY/buildorch/debian-gcc:bookworm" >/dev/null 2>&1; then
  args+=(--build-arg "TOOLCHAIN_IMAGE=$BUILDORCH_REGISTRY/buildorch/debian-gcc:bookworm")
fi
"$repo/.venv/bin/buildorch" doctor -C "$example"
"$repo/.venv/bin/buildorch" build -C "$example" --target arm64 --output "$example/out" "${args[@]}" "$@"
file "$example/out/hello" 2>/dev/null || true
if [[ $(uname -m) != aarch64 && $(uname -m) != arm64 && -x /usr/bin/qemu-aarch64-static ]]; then
  /usr/bin/qemu-aarch64-static "$example/out/hello"
else
  "$example/out/hello"
fi
