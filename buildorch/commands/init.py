"""`buildorch init`: a cross-capable Dockerfile.buildorch and a buildorch.yaml to start from."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildorch import console
from buildorch.commands import Command
from buildorch.commands.args import output_options, project_option
from buildorch.errors import BuildorchError
from buildorch.project import project_languages
from buildorch.templates import write_init


@dataclass(frozen=True, slots=True, kw_only=True)
class InitInputs:
    project_dir: Path
    force: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class InitResult:
    written: tuple[tuple[Path, str], ...]  # each file, and why it was written
    failure: BuildorchError | None = None

    def to_json(self) -> Any:
        return [{"path": str(path), "why": why} for path, why in self.written]


def declare(parser: argparse.ArgumentParser) -> None:
    project_option(parser)
    parser.add_argument("--force", action="store_true", help="replace files init wrote before")
    output_options(parser)


def inputs(ns: argparse.Namespace) -> InitInputs:
    return InitInputs(project_dir=(ns.project or Path.cwd()).absolute(), force=ns.force)


def run(args: InitInputs, env: Mapping[str, str]) -> InitResult:
    languages = project_languages(args.project_dir)
    return InitResult(written=tuple(write_init(args.project_dir, languages, force=args.force)))


def render(result: InitResult) -> None:
    for path, why in result.written:
        console.out.print(f"wrote {path}: {why}")
    console.out.print("next: `buildorch plan` shows how each target will be built")


COMMAND = Command(
    name="init",
    help="write a cross-capable Dockerfile.buildorch and buildorch.yaml",
    declare=declare,
    inputs=inputs,
    run=run,
    render=render,
)
