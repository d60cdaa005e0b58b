"""`buildorch shortcuts`: the everyday build commands as scripts, make targets, npm scripts."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildorch import console
from buildorch.buildx_flags import secret_variables
from buildorch.commands import Command
from buildorch.commands.args import (
    SHARED_TARGETS_HELP,
    Common,
    common_from,
    output_options,
    project_option,
    targets_option,
)
from buildorch.config import SHARED_TARGETS, load_options
from buildorch.errors import BuildorchError, ProjectError
from buildorch.generate.bakefiles import bake_files
from buildorch.generate.files import Written, write_all
from buildorch.generate.shortcuts import ShortcutSpec, makefile_advice, shortcuts


@dataclass(frozen=True, slots=True, kw_only=True)
class ShortcutsInputs:
    common: Common
    force: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ShortcutsResult:
    project_dir: Path
    written: tuple[Written, ...]
    advice: str | None
    failure: BuildorchError | None = None

    def to_json(self) -> Any:
        return [{"path": w.path, "outcome": w.outcome, "why": w.why} for w in self.written]


def declare(parser: argparse.ArgumentParser) -> None:
    project_option(parser)
    targets_option(parser, SHARED_TARGETS_HELP)
    parser.add_argument(
        "--force", action="store_true", help="replace hand-edited files and your own npm scripts"
    )
    output_options(parser)


def inputs(ns: argparse.Namespace) -> ShortcutsInputs:
    return ShortcutsInputs(common=common_from(ns), force=ns.force)


def run(args: ShortcutsInputs, env: Mapping[str, str]) -> ShortcutsResult:
    project_dir = args.common.project_dir
    options = load_options(project_dir=project_dir, flags=args.common.flags, env=env)
    context = project_dir / options.context
    dockerfile = project_dir / (options.dockerfile or "Dockerfile")
    spec = ShortcutSpec(
        targets=tuple(str(t) for t in options.targets or SHARED_TARGETS),
        package_json=_read_text(project_dir / "package.json"),
        # only looked at (is it buildorch's? does it include buildorch.mk?), never rewritten
        makefile=_read_text(project_dir / "Makefile", errors="replace"),
        bake=bool(
            bake_files(project_dir, own=(context, dockerfile) if dockerfile.is_file() else None)
        ),
        secret_variables=secret_variables(options.buildx),
    )
    written = write_all(project_dir, shortcuts(spec, force=args.force), force=args.force)
    return ShortcutsResult(
        project_dir=project_dir, written=tuple(written), advice=makefile_advice(spec)
    )


def render(result: ShortcutsResult) -> None:
    for item in result.written:
        # paths whole on one line, to copy; `[` in a folder name is not markup
        console.out.print(
            f"{item.outcome} {result.project_dir / item.path}: {item.why}",
            markup=False,
            soft_wrap=True,
        )
    if result.advice is not None:
        console.out.print(f"next: {result.advice}", markup=False, soft_wrap=True)


def _read_text(path: Path, errors: str = "strict") -> str | None:
    try:
        # line endings as they are: a package.json with Windows ones keeps them when merged
        return path.read_bytes().decode("utf-8", errors=errors)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(
            f"cannot read {path}",
            why=str(exc),
            fix="make it a readable UTF-8 file, then run again",
        ) from exc


COMMAND = Command(
    name="shortcuts",
    help="write the everyday build commands: scripts/, buildorch.mk, npm scripts",
    description="Write scripts/build-<platform>.sh and .ps1 (and build-all), make "
    "targets in buildorch.mk and, for Node projects, npm scripts in package.json, one per "
    "target platform; with a bake or compose file, the same for `buildorch bake` "
    "(scripts/bake-<platform>.sh TARGET...). A file edited by hand is kept unless --force; "
    "an existing Makefile is never touched.",
    declare=declare,
    inputs=inputs,
    run=run,
    render=render,
)
