"""What buildorch keeps for a project on this machine: its folder, its lock, its mirror.

Everything lives in one folder per project under the user's cache (`~/.cache/buildorch/
projects/NAME-HASH`, on the local disk even when the project sits on a share), next to a
`project.json` that says which project it belongs to. Volumes made for a project carry its
id as a label. `buildorch clean` removes exactly these.

A run that uses the mirror or the volumes holds the project's lock for as long as it reads or
writes them, so two runs at once take turns instead of clobbering each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from buildorch import fsutil
from buildorch.errors import ConfigError

LABEL = "org.buildorch.project"
"""The label on every volume made for a project; its value is the project's id."""


def cache_root(env: Mapping[str, str]) -> Path | None:
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "buildorch"
    if env.get("HOME"):
        return Path(env["HOME"]) / ".cache" / "buildorch"
    return None


def private(root: Path) -> Path:
    """buildorch's own folder, created private to the user (0700): it holds the projects'
    mirrors and state, and the measurements of this host."""
    root.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        root.chmod(0o700)
    return root


def project_id(project_dir: Path) -> str:
    """`hello-c-1f2e3d4c5b6a`: readable, and distinct for two projects of the same name."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", project_dir.name.lower()).strip("-.") or "project"
    digest = hashlib.sha256(str(project_dir).encode()).hexdigest()[:12]
    return f"{name[:40]}-{digest}"


def state_path(env: Mapping[str, str], project_dir: Path) -> Path | None:
    """Where the project's folder is (or would be); None when the environment names no home."""
    root = cache_root(env)
    return None if root is None else root / "projects" / project_id(project_dir)


def project_state(env: Mapping[str, str], project_dir: Path) -> Path:
    """The project's folder (created, with its `project.json`)."""
    state = state_path(env, project_dir)
    if state is None:
        raise ConfigError(
            "no folder to keep the mirror in",
            why="neither XDG_CACHE_HOME nor HOME is set",
            fix="set HOME (or XDG_CACHE_HOME) to a folder on a local disk",
        )
    private(state.parent.parent)
    state.mkdir(parents=True, exist_ok=True)
    marker = state / "project.json"
    if not marker.exists():
        fsutil.atomic_write(marker, json.dumps({"project": str(project_dir)}) + "\n")
    return state


def mirror_dir(state: Path) -> Path:
    return state / "mirror"


def mirror_record(state: Path) -> Path:
    """What the mirror held after its last complete sync."""
    return state / "mirror.json"


def locked(state: Path, waiting: Callable[[str], None]) -> contextlib.AbstractContextManager[None]:
    """Hold the project's lock; tell `waiting` once if another run holds it."""
    return fsutil.locked(
        state / "lock",
        lambda holder: waiting(f"waiting for {holder} to finish with this project's mirror"),
    )


def known_projects(env: Mapping[str, str]) -> dict[str, Path]:
    """Every project buildorch keeps a folder for: id -> the project's directory."""
    root = cache_root(env)
    found: dict[str, Path] = {}
    for marker in sorted((root / "projects").glob("*/project.json")) if root else []:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            found[marker.parent.name] = Path(json.loads(marker.read_text())["project"])
    return found


def remove_state(state: Path) -> int:
    """Remove the project's folder; returns the bytes freed."""
    freed = sum(p.lstat().st_size for p in state.rglob("*") if p.is_file())
    shutil.rmtree(state, ignore_errors=True)
    return freed
