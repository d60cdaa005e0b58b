# shellcheck shell=bash
# Where scripts/provision-engine.sh puts the engines and the registry. Source this file.
# Plain shell variables, not exported: buildorch itself reads only its documented BUILDORCH_* names.
BUILDORCH_CLASSIC_HOST=unix:///var/run/docker.sock
BUILDORCH_CONTAINERD_HOST=unix:///run/buildorch/containerd-engine/docker.sock
BUILDORCH_REGISTRY=localhost:5000
