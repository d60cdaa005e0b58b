"""Bake and compose files as buildx itself resolves them (`docker buildx bake --print`). Pure.

buildx reads HCL, JSON and compose files, with their variables, functions, inheritance and
groups; buildorch never parses those formats itself. It reads the resolved JSON and turns each
target into what the planner takes for one build: a Dockerfile, a context, args, tags, the
platforms the file names, and the buildx options the target sets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from buildorch.buildx_flags import BuildxFlag
from buildorch.errors import ProjectError
from buildorch.plan import BuildArg

# bake's attribute -> buildx's option, for the attributes that are plain options
_LISTS = {
    "cache-from": "--cache-from",
    "cache-to": "--cache-to",
    "secret": "--secret",
    "ssh": "--ssh",
    "attest": "--attest",
    "annotations": "--annotation",
    "entitlements": "--allow",
    "no-cache-filter": "--no-cache-filter",
    "ulimits": "--ulimit",
    "extra-hosts": "--add-host",
}
_TEXTS = {"network": "--network", "shm-size": "--shm-size", "cgroup-parent": "--cgroup-parent"}
_SWITCHES = {"no-cache": "--no-cache", "pull": "--pull"}
_MAPS = {"labels": "--label", "contexts": "--build-context"}
_KNOWN = {
    *_LISTS, *_TEXTS, *_SWITCHES, *_MAPS,
    "context", "dockerfile", "dockerfile-inline", "args", "tags", "platforms", "target",
    "output", "description", "call", "inherits",
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class BakeTarget:
    """One target of a bake or compose file, resolved by buildx."""

    name: str
    context: str
    """As the file says it: relative to the folder the file is read from."""
    dockerfile: str
    """Relative to `context`, as buildx reads it."""
    build_target: str | None = None
    args: tuple[BuildArg, ...] = ()
    tags: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    flags: tuple[BuildxFlag, ...] = ()


def targets_from_print(printed: str, source: str) -> tuple[BakeTarget, ...]:
    """The targets of `docker buildx bake --print`'s JSON, in the order buildx gave them."""
    try:
        data = json.loads(printed)
    except json.JSONDecodeError as exc:
        raise ProjectError(
            f"buildx printed something other than JSON for {source}",
            why=str(exc),
            fix="run `docker buildx bake --print` on it to see what buildx makes of it",
        ) from exc
    found = data.get("target") if isinstance(data, dict) else None
    if not isinstance(found, dict) or not found:
        raise ProjectError(
            f"{source} defines no build target",
            fix="name a target with a `build:` section (compose) or a `target` block (bake)",
        )
    return tuple(_target(name, spec, source) for name, spec in found.items())


def _target(name: str, spec: Mapping[str, Any], source: str) -> BakeTarget:
    if "dockerfile-inline" in spec:
        raise ProjectError(
            f"target {name!r} of {source} has its Dockerfile inline",
            why="buildorch reads and plans a Dockerfile from the context",
            fix="move it to a file and name it with `dockerfile`",
        )
    flags: list[BuildxFlag] = []
    for key, flag in _LISTS.items():
        flags += [BuildxFlag(flag=flag, value=str(v)) for v in spec.get(key) or ()]
    for key, flag in _TEXTS.items():
        if spec.get(key):
            flags.append(BuildxFlag(flag=flag, value=str(spec[key])))
    for key, flag in _SWITCHES.items():
        if spec.get(key) is True:
            flags.append(BuildxFlag(flag=flag))
    for key, flag in _MAPS.items():
        flags += [BuildxFlag(flag=flag, value=f"{k}={v}") for k, v in (spec.get(key) or {}).items()]
    return BakeTarget(
        name=name,
        context=str(spec.get("context") or "."),
        dockerfile=str(spec.get("dockerfile") or "Dockerfile"),
        build_target=spec.get("target") or None,
        args=tuple(BuildArg(str(k), str(v)) for k, v in (spec.get("args") or {}).items()),
        tags=tuple(str(t) for t in spec.get("tags") or ()),
        platforms=tuple(str(p) for p in spec.get("platforms") or ()),
        outputs=tuple(str(o) for o in spec.get("output") or ()),
        flags=tuple(flags),
    )


def ignored_keys(printed: str) -> dict[str, tuple[str, ...]]:
    """Per target, the attributes buildorch does not carry over (to say so in the plan)."""
    data = json.loads(printed)
    return {
        name: tuple(sorted(set(spec) - _KNOWN))
        for name, spec in (data.get("target") or {}).items()
        if set(spec) - _KNOWN
    }
