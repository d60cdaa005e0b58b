"""Which bake and compose files of a project the workflow and the shortcuts build.

buildx itself resolves them (`buildorch bake`, the workflow's bake job); this only decides
whether there is anything for them to build beyond what `buildorch build` already does, so
that a compose.yaml whose one service builds the project's own Dockerfile adds no second job.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

# the files `docker buildx bake` reads when none is named, in its order
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
BAKE_FILES = (
    *COMPOSE_FILES,
    "docker-bake.json",
    "docker-bake.hcl",
    "docker-bake.override.json",
    "docker-bake.override.hcl",
)


def bake_files(project_dir: Path, *, own: tuple[Path, Path] | None) -> tuple[str, ...]:
    """The bake and compose files buildx would read in `project_dir`, when they build
    something: a docker-bake file always does; a compose file when a service builds something
    other than `own` (the project's context and Dockerfile, which `buildorch build` builds)."""
    found = tuple(name for name in BAKE_FILES if (project_dir / name).is_file())
    if any(name not in COMPOSE_FILES for name in found):
        return found
    for name in found:
        for context, dockerfile in _compose_builds(project_dir / name):
            built = (_normal(project_dir / context), _normal(project_dir / context / dockerfile))
            if own is None or built != (_normal(own[0]), _normal(own[1])):
                return found
    return ()


def _compose_builds(path: Path) -> list[tuple[str, str]]:
    """(context, Dockerfile) of each service that builds; none when the file is unreadable
    (buildx would say why when asked to bake it)."""
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    services = document.get("services") if isinstance(document, dict) else None
    builds = []
    for service in services.values() if isinstance(services, dict) else ():
        build = service.get("build") if isinstance(service, dict) else None
        if isinstance(build, str):
            builds.append((build, "Dockerfile"))
        elif isinstance(build, dict):
            builds.append(
                (str(build.get("context") or "."), str(build.get("dockerfile") or "Dockerfile"))
            )
    return builds


def _normal(path: Path) -> str:
    # `./api/../Dockerfile` and `Dockerfile` are one file; a `${VAR}` stays itself (different)
    return os.path.normcase(os.path.normpath(path))
