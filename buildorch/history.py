"""Build times measured on this host, so plans can use this host's own factors.

After each build buildorch appends what it measured (project, Dockerfile, platform, strategy,
seconds, cached steps) to a small JSON file in the user's cache folder. When a project has
been built from scratch both natively and another way (under an emulator, or cross-compiled),
the ratio of the two is this host's factor for that way and project: better than a profile's
figure.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildorch.fsutil import atomic_write, locked
from buildorch.workspace import cache_root, private

_KEEP = 500  # records kept: enough for many projects, small enough to read at every start


@dataclass(frozen=True, kw_only=True, slots=True)
class Measured:
    """A way's factor (qemu, rosetta, cross) measured on this host for one project."""

    factor: float
    way: str
    why: str


def history_file(env: Mapping[str, str]) -> Path | None:
    """Where this user's measurements live; None when the environment names no home."""
    root = cache_root(env)
    return None if root is None else root / "history.json"


def read(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # a missing or damaged history only means nothing was measured yet
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


def record(path: Path, entries: list[dict[str, Any]]) -> None:
    """Append entries; concurrent runs take turns through a lock file."""
    private(path.parent)
    with locked(path.with_suffix(".lock")):
        atomic_write(path, json.dumps([*read(path), *entries][-_KEEP:]))


def entry(
    *, project: str, dockerfile: str, platform: str, strategy: str, emulator: str | None,
    seconds: float, steps: int, cached: int,
) -> dict[str, Any]:  # fmt: skip
    return {
        "project": project,
        "dockerfile": dockerfile,
        "platform": platform,
        "strategy": strategy,
        "emulator": emulator,
        "seconds": round(seconds, 2),
        "steps": steps,
        "cached": cached,
        "at": int(time.time()),
    }


# the ways a factor is measured for: (strategy, emulator) of the builds that measure it
_WAYS = {"qemu": ("qemu", "qemu"), "rosetta": ("qemu", "rosetta"), "cross": ("cross", None)}


def measured_factors(
    records: list[dict[str, Any]], *, project: str, dockerfile: str
) -> dict[str, Measured]:
    """Per way, the median build time over the median native one, for builds of this project
    and Dockerfile where nothing came from the cache."""
    cold = [
        r
        for r in records
        if r.get("project") == project
        and r.get("dockerfile") == dockerfile
        and r.get("cached") == 0
        and isinstance(r.get("seconds"), int | float)
        and r["seconds"] > 0
    ]
    native = [float(r["seconds"]) for r in cold if r.get("strategy") == "native"]
    if not native:
        return {}
    factors: dict[str, Measured] = {}
    for way, (strategy, emulator) in _WAYS.items():
        timed = [
            float(r["seconds"])
            for r in cold
            if r.get("strategy") == strategy and r.get("emulator") == emulator
        ]
        if timed:
            factor = round(statistics.median(timed) / statistics.median(native), 2)
            how = f"under {way}" if emulator else "cross-compiled"
            factors[way] = Measured(
                factor=factor,
                way=way,
                why=f"measured on this host: {len(timed)} uncached build(s) of this "
                f"Dockerfile {how} took {factor:g}x its native build",
            )
    return factors
