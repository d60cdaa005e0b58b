"""`buildorch clean`: remove what buildorch keeps for a project (mirror, records, volumes)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildorch import console, engine, workspace
from buildorch.commands import Command
from buildorch.commands.args import output_options, project_option
from buildorch.detect.docker import detect_docker
from buildorch.errors import BuildorchError


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanInputs:
    project_dir: Path
    every_project: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Removed:
    project_dir: Path
    volumes: tuple[str, ...]
    freed_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanResult:
    removed: tuple[Removed, ...]
    engine_up: bool
    failure: BuildorchError | None = None

    def to_json(self) -> Any:
        return [
            {
                "project": str(r.project_dir),
                "volumes": list(r.volumes),
                "freed_bytes": r.freed_bytes,
            }
            for r in self.removed
        ]


def declare(parser: argparse.ArgumentParser) -> None:
    project_option(parser)
    parser.add_argument("--all", action="store_true", help="every project buildorch knows")
    output_options(parser)


def inputs(ns: argparse.Namespace) -> CleanInputs:
    return CleanInputs(project_dir=(ns.project or Path.cwd()).absolute(), every_project=ns.all)


def run(args: CleanInputs, env: Mapping[str, str]) -> CleanResult:
    if args.every_project:
        chosen = workspace.known_projects(env)
    else:
        chosen = {workspace.project_id(args.project_dir): args.project_dir}
    up = detect_docker(engine.probe_engine(env))[0].available
    removed: list[Removed] = []
    for project_id, project_dir in chosen.items():
        state = workspace.state_path(env, project_dir)
        kept = state if state is not None and state.is_dir() else None
        volumes = engine.project_volumes(workspace.LABEL, project_id, env) if up else []
        freed = 0
        with workspace.locked(kept, console.err.print) if kept else contextlib.nullcontext():
            if up:  # a container a killed run left would hold its volumes
                engine.remove_containers(workspace.LABEL, project_id, env)
            engine.remove_volumes(volumes, env)
            if kept is not None:
                freed = workspace.remove_state(kept)
        if volumes or freed:
            removed.append(
                Removed(project_dir=project_dir, volumes=tuple(volumes), freed_bytes=freed)
            )
    return CleanResult(removed=tuple(removed), engine_up=up)


def render(result: CleanResult) -> None:
    if not result.removed:
        console.out.print("nothing to remove: buildorch keeps nothing for this project")
    for item in result.removed:
        console.out.print(
            f"removed for {item.project_dir}: its mirror and records "
            f"({item.freed_bytes / 1e6:.1f} MB); volumes: {', '.join(item.volumes) or 'none'}"
        )
    if not result.engine_up:
        console.err.print("[yellow]note:[/] the engine is not reachable: volumes were left")


COMMAND = Command(
    name="clean",
    help="remove what buildorch keeps for a project (mirror, volumes)",
    declare=declare,
    inputs=inputs,
    run=run,
    render=render,
)
